"""How-to: one proxy for all the tests of a module."""

import pytest
import requests

from pytest_socks5 import SOCKS5Server, rawclient


@pytest.fixture(scope="module")
def module_proxy():
    # socks5_server_factory is function-scoped, so a module-scoped fixture cannot use it:
    # build the server directly. It starts here and stops after the module's last test.
    with SOCKS5Server(users={"alice": "s3cret"}) as server:
        yield server


@pytest.fixture
def proxy(module_proxy):
    # What socks5_server does for the session server: each test starts from the server's
    # own configuration, with no records, and fails if the server had an internal error.
    module_proxy.reset()
    yield module_proxy
    module_proxy.raise_errors()


def test_a_request(proxy, website):
    requests.get(website.url + "first", proxies={"http": proxy.url}, timeout=5)

    proxy.assert_connected(username="alice", port=website.port, count=1)


def test_a_change_for_one_test(proxy, website):
    proxy.configure(users={"bob": "hunter2"})  # reset() restores alice for the next test
    proxies = {"http": proxy.url_for(username="bob", password="hunter2")}

    requests.get(website.url + "second", proxies=proxies, timeout=5)

    assert len(proxy.connections) == 1  # only this test's connection
    proxy.assert_connected(username="bob", port=website.port)


def test_what_a_reset_keeps(proxy, website):
    proxies = {"http": proxy.url}
    requests.get(website.url + "before", proxies=proxies, timeout=5)
    (before,) = proxy.connections
    port = proxy.port

    proxy.reset()  # what the proxy fixture does between two tests
    assert len(proxy.connections) == 0
    requests.get(website.url + "after", proxies=proxies, timeout=5)

    (after,) = proxy.connections
    assert proxy.port == port  # the same listening socket
    assert after.id > before.id  # record ids count for the server's whole life


def test_a_reset_ends_what_a_test_left_open(proxy, website):
    auth = (b"alice", b"s3cret")
    with rawclient.open_tunnel(proxy.address, "127.0.0.1", website.port, auth=auth) as sock:
        proxy.reset()  # ends the tunnel (FIN, then RST a second later) and forgets it
        assert sock.recv(1) == b""  # the client sees the proxy close it
    assert proxy.connections == []
