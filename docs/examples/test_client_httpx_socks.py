"""Client page: httpx with httpx-socks transports (python-socks underneath)."""

import httpx
import pytest
from httpx_socks import AsyncProxyTransport, SyncProxyTransport
from python_socks import ProxyError

from pytest_socks5 import AddressType, Outcome


def test_httpx_socks_through_the_proxy(socks5_server, website):
    transport = SyncProxyTransport.from_url(socks5_server.url)

    with httpx.Client(transport=transport) as client:
        response = client.get(f"http://localhost:{website.port}/")

    assert response.text == "hello from /"
    # python-socks leaves names to the proxy unless told rdns=False.
    socks5_server.assert_connected(address_type=AddressType.DOMAIN, host="localhost")


@pytest.mark.asyncio
async def test_httpx_socks_async(socks5_server, website):
    transport = AsyncProxyTransport.from_url(socks5_server.url, rdns=False)

    async with httpx.AsyncClient(transport=transport) as client:
        response = await client.get(f"http://localhost:{website.port}/")

    assert response.text == "hello from /"
    record = socks5_server.assert_connected(port=website.port)
    assert record.address_type in (AddressType.IPV4, AddressType.IPV6)


@pytest.mark.socks5(users={"a@b:c": "p%w/#?"})
def test_credentials(socks5_server, website):
    with httpx.Client(transport=SyncProxyTransport.from_url(socks5_server.url)) as client:
        client.get(website.url)

    socks5_server.assert_connected(username="a@b:c", authenticated=True)


@pytest.mark.socks5(users={"ünï": "s3cret"})
def test_credentials_must_be_ascii(socks5_server, website):
    # python-socks encodes usernames and passwords as ASCII; RFC 1929 allows any bytes.
    transport = SyncProxyTransport.from_url(socks5_server.url)

    with httpx.Client(transport=transport) as client, pytest.raises(UnicodeEncodeError):
        client.get(website.url)


@pytest.mark.socks5(users={"alice": "s3cret"})
def test_a_wrong_password(socks5_server, website):
    proxy = socks5_server.url_for(username="alice", password="wrong")

    transport = SyncProxyTransport.from_url(proxy)

    with httpx.Client(transport=transport) as client, pytest.raises(ProxyError):
        client.get(website.url)

    socks5_server.assert_connected(outcome=Outcome.AUTH_FAILED)
