"""Client page: httpx, which speaks SOCKS through socksio (``httpx[socks]``)."""

import gc

import httpx
import pytest

from pytest_socks5 import AddressType, Outcome


def test_httpx_through_the_proxy(socks5_server, website):
    with httpx.Client(proxy=socks5_server.url) as client:
        response = client.get(website.url)

    assert response.text == "hello from /"
    socks5_server.assert_connected(port=website.port)


@pytest.mark.asyncio
async def test_httpx_async(socks5_server, website):
    async with httpx.AsyncClient(proxy=socks5_server.url) as client:
        response = await client.get(website.url)

    assert response.text == "hello from /"
    socks5_server.assert_connected(port=website.port)


def test_httpx_always_sends_names(socks5_server, website):
    # socks5:// and socks5h:// behave the same: httpx leaves names to the proxy.
    with httpx.Client(proxy=socks5_server.url) as client:
        client.get(f"http://localhost:{website.port}/")

    socks5_server.assert_connected(address_type=AddressType.DOMAIN, host="localhost")


@pytest.mark.socks5(users={"a@b:c": "p%w ünï"})
def test_awkward_credentials(socks5_server, website):
    with httpx.Client(proxy=socks5_server.url) as client:
        client.get(website.url)

    record = socks5_server.assert_connected(authenticated=True)
    assert record.raw_password == "p%w ünï".encode()


# httpcore does not close the socket when the SOCKS handshake fails; under
# filterwarnings = error the ResourceWarning would fail the test, so this test
# collects the socket itself and lets that one warning pass.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
@pytest.mark.socks5(users={"alice": "s3cret"})
def test_a_wrong_password(socks5_server, website):
    proxy = socks5_server.url_for(username="alice", password="wrong")

    with httpx.Client(proxy=proxy) as client, pytest.raises(httpx.ProxyError, match="Invalid"):
        client.get(website.url)
    gc.collect()

    socks5_server.assert_connected(outcome=Outcome.AUTH_FAILED)
