"""``await server.wait_for_connections_async(…)``: the same arguments, result and failure
as ``wait_for_connections``, without blocking the test's event loop."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import anyio
import pytest
from anyio.streams.buffered import BufferedByteReceiveStream

from pytest_socks5 import ECHO, ConnectionRecord, NoMatchingConnection, SOCKS5Server


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


# -- anyio, on asyncio and on trio ------------------------------------------------------------


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


async def _anyio_echo_once(server: SOCKS5Server, host: str = "echo.test") -> None:
    name = host.encode()
    async with await anyio.connect_tcp(server.host, server.port) as stream:
        received = BufferedByteReceiveStream(stream)
        await stream.send(
            b"\x05\x01\x00\x05\x01\x00\x03" + bytes([len(name)]) + name + b"\x00\x50"
        )
        with anyio.fail_after(10):
            await received.receive_exactly(2 + 10)
            await stream.send(b"ping")
            assert await received.receive_exactly(4) == b"ping"


async def _until(condition: Callable[[], object]) -> None:
    """Let other tasks run until ``condition()`` holds (no clock involved)."""
    with anyio.fail_after(10):
        while not condition():
            await anyio.sleep(0)


@pytest.mark.anyio
async def test_the_async_wait_works_on_both_anyio_backends() -> None:
    with SOCKS5Server(host_map={"echo.test": ECHO}) as server:
        records: list[ConnectionRecord] = []

        async def wait() -> None:
            records.extend(
                await server.wait_for_connections_async(
                    1, ended=True, host="echo.test", timeout=10
                )
            )

        async with anyio.create_task_group() as tasks:
            tasks.start_soon(wait)
            await _until(lambda: server._recorder._wakers)  # waiting before the connection
            await _anyio_echo_once(server)
    assert [r.host for r in records] == ["echo.test"]
    assert records[0].succeeded
    assert server._recorder._wakers == []


@pytest.mark.anyio
async def test_the_async_wait_times_out_and_cancels_on_both_anyio_backends() -> None:
    with SOCKS5Server() as server:
        with pytest.raises(NoMatchingConnection, match=r"^waited 0.01s for 1 connection"):
            await server.wait_for_connections_async(host="nowhere.test", timeout=0.01)
        assert server._recorder._wakers == []
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(lambda: server.wait_for_connections_async(timeout=60))
            await _until(lambda: server._recorder._wakers)
            tasks.cancel_scope.cancel()
        assert server._recorder._wakers == []


@pytest.mark.anyio
async def test_a_gate_is_awaited_on_both_anyio_backends() -> None:
    with SOCKS5Server(host_map={"echo.test": ECHO}) as server:
        gate = server.hold("request", host="echo.test")
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(_anyio_echo_once, server)
            record = await gate.wait_async(timeout=10)
            assert record.host == "echo.test"
            assert gate._wakers == []
            gate.release()
        with pytest.raises(TimeoutError, match=r"no connection arrived within 0.01s"):
            await gate.wait_async(timeout=0.01)
        assert gate._wakers == []
    assert server.connections[0].holds[0].endswith(", released")


def test_the_async_wait_outside_asyncio_and_trio_says_what_it_needs() -> None:
    server = SOCKS5Server()
    waiting = server.wait_for_connections_async(timeout=0)
    with pytest.raises(RuntimeError, match=r"^wait_for_connections_async\(\) must be awaited"):
        waiting.send(None)
    gate = server.hold("request")
    waiting_gate = gate.wait_async(timeout=0)
    with pytest.raises(RuntimeError, match=r"^wait_async\(\) must be awaited in a task run by"):
        waiting_gate.send(None)


@pytest.mark.asyncio
async def test_a_wait_on_a_server_not_running_fails_at_once_saying_so() -> None:
    server = SOCKS5Server()
    with pytest.raises(
        NoMatchingConnection,
        match=r"^expected 1 connection\(s\), and the server is not running: none can arrive\n"
        r"No connections were recorded: the server was never started",
    ):
        await asyncio.wait_for(server.wait_for_connections_async(timeout=30), 5)
    assert server._recorder._wakers == []
