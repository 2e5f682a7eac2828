"""An example suite routed through the ``socks5_server`` fixture.

Run it with ``pytest examples -v -s`` to see, after each test, what the proxy recorded.
"""

from __future__ import annotations

import httpx
import pytest
import requests

from pytest_socks5 import AddressType, Outcome, Reply, SOCKS5Server


def show(server: SOCKS5Server) -> None:
    for record in server.connections:
        print(f"\n    proxy saw: {record}")


def test_requests_through_the_proxy(socks5_server: SOCKS5Server, web: str) -> None:
    proxies = {"http": socks5_server.url}  # socks5://: the client resolves names itself
    assert requests.get(f"{web}/hi", proxies=proxies, timeout=5).text == "hello from /hi"
    record = socks5_server.assert_connected(port=int(web.rsplit(":", 1)[1]))
    assert record.address_type == AddressType.IPV4  # "localhost" was resolved locally
    show(socks5_server)


def test_socks5h_lets_the_proxy_resolve(socks5_server: SOCKS5Server, web: str) -> None:
    proxies = {"http": socks5_server.url_remote_dns}  # socks5h://: names go to the proxy
    requests.get(web, proxies=proxies, timeout=5)
    socks5_server.assert_connected(host="localhost", address_type=AddressType.DOMAIN)
    show(socks5_server)


@pytest.mark.socks5(users={"alice": "p@ss:w%rd"})
def test_username_password(socks5_server: SOCKS5Server, web: str) -> None:
    with httpx.Client(proxy=socks5_server.url) as client:  # credentials percent-encoded
        assert client.get(web).status_code == 200
    socks5_server.assert_connected(username="alice", authenticated=True)
    show(socks5_server)


def test_a_refused_destination(socks5_server: SOCKS5Server) -> None:
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.get("http://127.0.0.1:9/", proxies={"http": socks5_server.url}, timeout=5)
    socks5_server.assert_connected(reply=Reply.CONNECTION_REFUSED, outcome=Outcome.REJECTED)
    show(socks5_server)


def test_nothing_bypassed_the_proxy(socks5_server: SOCKS5Server, web: str) -> None:
    requests.get(web, timeout=5)  # no proxies=...: a direct connection
    socks5_server.assert_no_connections()
