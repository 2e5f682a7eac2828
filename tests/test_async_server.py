"""``async with SOCKS5Server()``: the server in the test's own event loop, no thread."""

from __future__ import annotations

import asyncio
import threading

import httpx
import pytest

from pytest_socks5 import SOCKS5Server


@pytest.mark.asyncio
async def test_async_with_runs_in_the_callers_loop(http_server) -> None:
    threads_before = threading.active_count()
    async with SOCKS5Server() as server:
        assert threading.active_count() == threads_before
        async with httpx.AsyncClient(proxy=server.url) as client:
            response = await client.get(f"http://{http_server[0]}:{http_server[1]}/loop")
        assert response.text == "hello from /loop"
        server.assert_connected(port=http_server[1])
    assert not server.is_running


@pytest.mark.asyncio
async def test_raw_asyncio_client_through_an_async_server(echo_server) -> None:
    async with SOCKS5Server() as server:
        reader, writer = await asyncio.open_connection(server.host, server.port)
        host, port = echo_server
        writer.write(
            b"\x05\x01\x00\x05\x01\x00\x01"
            + bytes(map(int, host.split(".")))
            + port.to_bytes(2, "big")
        )
        assert await asyncio.wait_for(reader.readexactly(12), 5) == b"\x05\x00\x05\x00\x00\x01" + (
            await _bound(server)
        )
        writer.write(b"ping")
        assert await asyncio.wait_for(reader.readexactly(4), 5) == b"ping"
        writer.close()
        await writer.wait_closed()


async def _bound(server: SOCKS5Server) -> bytes:
    (record,) = server.connections
    assert record.bound_address is not None
    host, port = record.bound_address
    return bytes(map(int, host.split("."))) + port.to_bytes(2, "big")


def test_stopping_a_loop_server_from_sync_code_is_refused() -> None:
    async def main() -> None:
        server = await SOCKS5Server().astart()
        with pytest.raises(RuntimeError, match="aclose"):
            server.stop()
        await server.aclose()

    asyncio.run(main())
