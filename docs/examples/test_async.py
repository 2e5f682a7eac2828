"""How-to: async tests. pytest-asyncio first, then a server in the tests' own loop."""

import httpx
import pytest

from pytest_socks5 import SOCKS5Server

# These examples need pytest-asyncio; where it is not installed, the module is skipped.
pytest_asyncio = pytest.importorskip("pytest_asyncio")


@pytest.mark.asyncio
async def test_the_fixture_in_an_async_test(socks5_server, website):
    async with httpx.AsyncClient(proxy=socks5_server.url) as client:
        response = await client.get(website.url)

    assert response.status_code == 200
    socks5_server.assert_connected(port=website.port)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def loop_proxy():
    """A proxy in the module's event loop: no thread, shared by the module's tests."""
    async with SOCKS5Server() as proxy:
        yield proxy


@pytest.mark.asyncio(loop_scope="module")
async def test_a_proxy_in_the_tests_loop(loop_proxy, website):
    async with httpx.AsyncClient(proxy=loop_proxy.url) as client:
        response = await client.get(website.url + "loop")

    assert response.text == "hello from /loop"
    loop_proxy.assert_connected(port=website.port)
