"""Client page: PySocks, a socket that connects through the proxy."""

import socket

import pytest
import socks

from pytest_socks5 import AddressType


def has_ipv6_loopback():
    try:
        with socket.socket(socket.AF_INET6) as sock:
            sock.bind(("::1", 0))
    except OSError:
        return False
    return True


def get(sock, path):
    """A bare HTTP/1.0 GET over a connected socket; returns the whole response."""
    sock.sendall(f"GET {path} HTTP/1.0\r\n\r\n".encode())
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


def test_a_socket_through_the_proxy(socks5_server, website):
    with socks.socksocket() as sock:
        sock.set_proxy(socks.SOCKS5, socks5_server.host, socks5_server.port)
        sock.settimeout(5)
        sock.connect(("127.0.0.1", website.port))
        response = get(sock, "/raw")

    assert response.endswith(b"hello from /raw")
    socks5_server.assert_connected(address_type=AddressType.IPV4, port=website.port)


@pytest.mark.parametrize(
    ("destination", "rdns", "address_type"),
    [
        ("127.0.0.1", False, AddressType.IPV4),
        pytest.param(
            "::1",
            False,
            AddressType.IPV6,
            marks=pytest.mark.skipif(not has_ipv6_loopback(), reason="no IPv6 loopback"),
        ),
        ("localhost", True, AddressType.DOMAIN),
    ],
)
def test_each_address_type(socks5_server, website, destination, rdns, address_type):
    with socks.socksocket() as sock:
        sock.set_proxy(socks.SOCKS5, socks5_server.host, socks5_server.port, rdns=rdns)
        sock.settimeout(5)
        sock.connect((destination, website.port))
        assert get(sock, "/").endswith(b"hello from /")

    socks5_server.assert_connected(address_type=address_type, host=destination)


@pytest.mark.socks5(users={"ünï": "p@ss:wörd"})
def test_username_and_password(socks5_server, website):
    with socks.socksocket() as sock:
        sock.set_proxy(
            socks.SOCKS5,
            socks5_server.host,
            socks5_server.port,
            username="ünï",
            password="p@ss:wörd",
        )
        sock.settimeout(5)
        sock.connect(("127.0.0.1", website.port))

    record = socks5_server.assert_connected(authenticated=True)
    assert record.raw_username == "ünï".encode()


def test_a_refused_destination(socks5_server, website):
    socks5_server.configure(host_map={"gone.example.test": None})

    with socks.socksocket() as sock:
        sock.set_proxy(socks.SOCKS5, socks5_server.host, socks5_server.port, rdns=True)
        sock.settimeout(5)
        with pytest.raises(socks.GeneralProxyError, match="0x04: Host unreachable"):
            sock.connect(("gone.example.test", 80))
