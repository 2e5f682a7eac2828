"""Client page: aiohttp with aiohttp-socks (python-socks underneath)."""

import aiohttp
import pytest
from aiohttp_socks import ChainProxyConnector, ProxyConnector, ProxyError

from pytest_socks5 import AddressType, Outcome


@pytest.mark.asyncio
async def test_aiohttp_through_the_proxy(socks5_server, website):
    connector = ProxyConnector.from_url(socks5_server.url)

    async with (
        aiohttp.ClientSession(connector=connector) as session,
        session.get(f"http://localhost:{website.port}/") as response,
    ):
        assert await response.text() == "hello from /"

    # python-socks leaves names to the proxy unless told rdns=False.
    socks5_server.assert_connected(address_type=AddressType.DOMAIN, host="localhost")


@pytest.mark.asyncio
async def test_resolving_names_locally(socks5_server, website):
    connector = ProxyConnector.from_url(socks5_server.url, rdns=False)

    async with (
        aiohttp.ClientSession(connector=connector) as session,
        session.get(f"http://localhost:{website.port}/") as response,
    ):
        assert response.status == 200

    record = socks5_server.assert_connected(port=website.port)
    assert record.address_type in (AddressType.IPV4, AddressType.IPV6)


@pytest.mark.asyncio
async def test_a_chain_of_two_proxies(socks5_server_factory, website):
    first, second = socks5_server_factory(), socks5_server_factory()
    connector = ChainProxyConnector.from_urls([first.url, second.url])

    async with (
        aiohttp.ClientSession(connector=connector) as session,
        session.get(website.url) as response,
    ):
        assert response.status == 200

    first.assert_connected(host=second.host, port=second.port)
    second.assert_connected(port=website.port)


@pytest.mark.asyncio
@pytest.mark.socks5(users={"alice": "s3cret"})
async def test_a_wrong_password(socks5_server, website):
    proxy = socks5_server.url_for(username="alice", password="wrong")

    async with aiohttp.ClientSession(connector=ProxyConnector.from_url(proxy)) as session:
        with pytest.raises(ProxyError, match="authentication failure"):
            await session.get(website.url)

    socks5_server.assert_connected(outcome=Outcome.AUTH_FAILED)
