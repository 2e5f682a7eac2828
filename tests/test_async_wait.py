"""``await server.wait_for_connections_async(…)``: the same arguments, result and failure
as ``wait_for_connections``, without blocking the test's event loop."""

from __future__ import annotations

import asyncio

import pytest

from pytest_socks5 import ECHO, NoMatchingConnection, SOCKS5Server


async def _echo_once(server: SOCKS5Server, host: str = "echo.test") -> None:
    reader, writer = await asyncio.open_connection(server.host, server.port)
    name = host.encode()
    writer.write(b"\x05\x01\x00\x05\x01\x00\x03" + bytes([len(name)]) + name + b"\x00\x50")
    await reader.readexactly(2 + 10)
    writer.write(b"ping")
    assert await reader.readexactly(4) == b"ping"
    writer.close()
    await writer.wait_closed()


@pytest.mark.asyncio
async def test_waits_in_the_loop_for_a_server_in_the_same_loop() -> None:
    """Under ``async with`` the server runs in this very loop: a blocking wait could never
    see the connection it waits for."""
    async with SOCKS5Server(host_map={"echo.test": ECHO}) as server:
        waiting = asyncio.ensure_future(
            server.wait_for_connections_async(2, ended=True, host="echo.test", timeout=10)
        )
        await _echo_once(server)
        await _echo_once(server)
        records = await waiting
    assert [r.host for r in records] == ["echo.test", "echo.test"]
    assert all(r.succeeded for r in records)


@pytest.mark.asyncio
async def test_waits_for_a_threaded_server_without_blocking_the_loop() -> None:
    with SOCKS5Server(host_map={"echo.test": ECHO}) as server:
        ticks = 0

        async def tick() -> None:
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0)

        ticker = asyncio.ensure_future(tick())
        waiting = asyncio.ensure_future(
            server.wait_for_connections_async(1, host="echo.test", timeout=10)
        )
        await asyncio.sleep(0)
        before = ticks
        await _echo_once(server)
        (record,) = await waiting
        ticker.cancel()
    assert record.host == "echo.test"
    assert ticks > before  # the loop kept running while the wait was pending


@pytest.mark.asyncio
async def test_times_out_with_the_same_failure_as_the_blocking_wait() -> None:
    async with SOCKS5Server() as server:
        with pytest.raises(
            NoMatchingConnection,
            match=r"^waited 0.05s for 1 connection\(s\) matching host='nowhere.test'\n"
            r"No connections were recorded \(did the client use the proxy\? .*\)\.$",
        ):
            await server.wait_for_connections_async(host="nowhere.test", timeout=0.05)
        with pytest.raises(TypeError, match="unknown ConnectionRecord field"):
            await server.wait_for_connections_async(hots="x")
        assert server._recorder._wakers == []


@pytest.mark.asyncio
async def test_a_cancelled_wait_leaves_nothing_behind() -> None:
    with SOCKS5Server() as server:
        waiting = asyncio.ensure_future(server.wait_for_connections_async(timeout=10))
        await asyncio.sleep(0)
        assert len(server._recorder._wakers) == 1
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        assert server._recorder._wakers == []
