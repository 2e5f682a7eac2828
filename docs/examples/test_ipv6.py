"""How-to: IPv6 and dual-stack proxies (skipped where there is no IPv6 loopback)."""

import socket

import pytest
import requests

from pytest_socks5 import AddressType


def has_ipv6_loopback():
    try:
        with socket.socket(socket.AF_INET6) as sock:
            sock.bind(("::1", 0))
    except OSError:
        return False
    return True


pytestmark = pytest.mark.skipif(not has_ipv6_loopback(), reason="no IPv6 loopback")


@pytest.mark.socks5(host="::1")
def test_a_proxy_on_ipv6(socks5_server, website):
    assert socks5_server.url == f"socks5://[::1]:{socks5_server.port}"

    requests.get(f"http://[::1]:{website.port}/", proxies={"http": socks5_server.url}, timeout=5)

    record = socks5_server.assert_connected(address_type=AddressType.IPV6, host="::1")
    assert record.raw_address == socket.inet_pton(socket.AF_INET6, "::1")
    assert record.target == f"[::1]:{website.port}"


@pytest.mark.socks5(host="localhost")
def test_a_dual_stack_proxy(socks5_server, website):
    (v4_host, port), (v6_host, port6) = socks5_server.listen_addresses
    assert (v4_host, v6_host) == ("127.0.0.1", "::1")
    assert port == port6 == socks5_server.port

    for host in ("127.0.0.1", "[::1]", "localhost"):
        proxy = f"socks5://{host}:{socks5_server.port}"
        requests.get(website.url, proxies={"http": proxy}, timeout=5)

    clients = {r.client_address[0] for r in socks5_server.connections}
    assert clients == {"127.0.0.1", "::1"}
