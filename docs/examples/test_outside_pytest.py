"""How-to: the proxy without pytest's fixtures: a script, unittest, asyncio."""

import asyncio
import unittest

import httpx
import requests

from pytest_socks5 import SOCKS5Server


def fetch_through_a_proxy(url):
    """What a script, a notebook or another test framework would do."""
    with SOCKS5Server(users={"alice": "s3cret"}) as proxy:
        response = requests.get(url, proxies={"http": proxy.url}, timeout=5)
    proxy.assert_connected(username="alice", authenticated=True)
    return response.text


def test_a_script(website):
    assert fetch_through_a_proxy(website.url) == "hello from /"


class ProxiedTestCase(unittest.TestCase):
    """One proxy for the class, records cleared before each test."""

    @classmethod
    def setUpClass(cls):
        cls.proxy = SOCKS5Server().start()
        cls.addClassCleanup(cls.proxy.stop)

    def setUp(self):
        self.proxy.reset()

    def test_nothing_connected_yet(self):
        self.proxy.assert_no_connections()


class AsyncProxiedTestCase(unittest.IsolatedAsyncioTestCase):
    """The proxy runs in the test's own event loop: no thread."""

    async def asyncSetUp(self):
        self.proxy = await SOCKS5Server().astart()
        self.addAsyncCleanup(self.proxy.aclose)

    async def test_a_raw_connect(self):
        reader, writer = await asyncio.open_connection(self.proxy.host, self.proxy.port)
        writer.write(b"\x05\x01\x00")  # greeting: "no authentication"
        assert await reader.readexactly(2) == b"\x05\x00"
        writer.close()
        await writer.wait_closed()


def test_asyncio_run(website):
    async def main():
        async with SOCKS5Server() as proxy, httpx.AsyncClient(proxy=proxy.url) as client:
            response = await client.get(website.url)
        return proxy, response

    proxy, response = asyncio.run(main())

    assert response.status_code == 200
    proxy.assert_connected(port=website.port)
