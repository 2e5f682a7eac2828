"""How-to: several servers, and servers outside the fixtures."""

import httpx
import pytest
import requests

from pytest_socks5 import SOCKS5Server


def test_two_proxies(socks5_server_factory, website):
    office = socks5_server_factory(users={"alice": "s3cret"})
    home = socks5_server_factory()

    requests.get(website.url + "from-office", proxies={"http": office.url}, timeout=5)
    requests.get(website.url + "from-home", proxies={"http": home.url}, timeout=5)

    office.assert_connected(username="alice", count=1)
    home.assert_connected(username=None, count=1)


def test_a_server_in_a_with_block(website):
    with SOCKS5Server() as proxy:
        response = requests.get(website.url, proxies={"http": proxy.url}, timeout=5)

    assert response.text == "hello from /"
    assert not proxy.is_running
    proxy.assert_connected(port=website.port)  # the records outlive the server


@pytest.mark.asyncio
async def test_a_server_in_the_running_event_loop(website):
    # No thread: the server runs in this test's event loop.
    async with SOCKS5Server() as proxy, httpx.AsyncClient(proxy=proxy.url) as client:
        response = await client.get(website.url)

    assert response.text == "hello from /"
    proxy.assert_connected(port=website.port)
