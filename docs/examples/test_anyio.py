"""How-to: async tests with anyio, on asyncio and on trio."""

import httpx
import pytest

from pytest_socks5 import SOCKS5Server


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request):
    return request.param


@pytest.mark.anyio
async def test_the_fixture_on_both_backends(socks5_server, website):
    async with httpx.AsyncClient(proxy=socks5_server.url) as client:
        response = await client.get(website.url)

    assert response.status_code == 200
    socks5_server.assert_connected(port=website.port)


@pytest.mark.anyio
async def test_async_with_needs_asyncio(anyio_backend):
    if anyio_backend == "asyncio":
        async with SOCKS5Server() as proxy:
            assert proxy.is_running
    else:
        with pytest.raises(RuntimeError, match="there is none"):
            async with SOCKS5Server():
                pass
