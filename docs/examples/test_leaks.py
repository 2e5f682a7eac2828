"""How-to page: prove the client leaked nothing (DNS leaks and proxy bypasses)."""

import asyncio
import socket

import aiohttp
import httpx
import pytest
import requests
from aiohttp_socks import ProxyConnector

from pytest_socks5 import LeakError


@pytest.mark.socks5(leak_guard=True)
def test_socks5h_leaks_nothing(socks5_server, website):
    proxies = {"http": socks5_server.url_remote_dns}  # socks5h://

    requests.get(f"http://localhost:{website.port}/", proxies=proxies, timeout=5)

    # The guard passes: the proxy looked localhost up, the client did not.
    assert socks5_server.local_lookups == []


def test_socks5_resolves_locally(socks5_server, website):
    proxies = {"http": socks5_server.url}  # socks5://: requests resolves the name itself

    requests.get(f"http://localhost:{website.port}/", proxies=proxies, timeout=5)

    (lookup,) = socks5_server.local_lookups
    assert (lookup.call, lookup.host) == ("socket.getaddrinfo", "localhost")
    with pytest.raises(LeakError, match=r"getaddrinfo\('localhost', "):
        socks5_server.assert_no_local_dns()


@pytest.mark.socks5(leak_guard=True)
def test_httpx_sends_the_name(socks5_server, website):
    async def fetch():
        async with httpx.AsyncClient(proxy=socks5_server.url) as client:
            return await client.get(f"http://localhost:{website.port}/")

    assert asyncio.run(fetch()).text == "hello from /"
    socks5_server.assert_connected(host="localhost")  # httpx sends names even for socks5://


def test_aiohttp_socks_resolves_locally_with_rdns_false(socks5_server, website):
    async def fetch(**options):
        connector = ProxyConnector.from_url(socks5_server.url, **options)
        url = f"http://localhost:{website.port}/"
        async with aiohttp.ClientSession(connector=connector) as session, session.get(url) as r:
            return await r.text()

    assert asyncio.run(fetch()) == "hello from /"  # rdns defaults to remote DNS
    socks5_server.assert_no_local_dns()

    assert asyncio.run(fetch(rdns=False)) == "hello from /"
    with pytest.raises(LeakError, match="localhost"):
        socks5_server.assert_no_local_dns()


def test_no_proxy_goes_around_the_proxy(socks5_proxy_env, website, monkeypatch):
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")  # requests now skips ALL_PROXY here

    requests.get(website.url, timeout=5)

    socks5_proxy_env.assert_no_connections()  # the proxy saw nothing...
    (connect,) = socks5_proxy_env.direct_connections  # ...the audit hook saw the bypass
    assert (connect.host, connect.port) == ("127.0.0.1", website.port)
    with pytest.raises(LeakError, match=rf"socket.connect\(\('127.0.0.1', {website.port}\)\)"):
        socks5_proxy_env.assert_no_bypass()


@pytest.mark.socks5(leak_guard={"allow": ["127.0.0.1", "db.internal:5432"]})
def test_an_expected_direct_connection(socks5_server, website):
    # A server the test talks to directly (its database, say) is not a bypass.
    socket.create_connection(("127.0.0.1", website.port), timeout=5).close()

    assert socks5_server.direct_connections[0].target == f"127.0.0.1:{website.port}"
