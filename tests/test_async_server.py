"""``async with SOCKS5Server()``: the server in the test's own event loop, no thread."""

from __future__ import annotations

import asyncio
import socket
import threading

import httpx
import pytest

from pytest_socks5 import ECHO, SOCKS5Server

from .helpers import socks5_request


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


@pytest.mark.asyncio
async def test_reset_in_the_loop_ends_a_stalled_connection_after_its_grace() -> None:
    """On the caller's loop a reset cannot wait: it sends FIN at once and RST a second
    later, as a thread-hosted server's reset does, to a connection whose client does not
    read (its FIN can never be flushed)."""
    async with SOCKS5Server(host_map={"echo.test": ECHO}) as server:
        with socket.socket() as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            sock.setblocking(False)
            loop = asyncio.get_running_loop()
            await loop.sock_connect(sock, server.address)
            await loop.sock_sendall(sock, b"\x05\x01\x00" + socks5_request("echo.test", 7))
            await asyncio.wait_for(_read_exactly(loop, sock, 12), 5)
            blocked = 0
            while blocked < 10:  # fill both ways (the echo is never read) until nothing moves
                try:
                    sock.send(b"x" * 65536)
                    blocked = 0
                except BlockingIOError:
                    blocked += 1
                    await asyncio.sleep(0.02)  # the proxy relays what it can meanwhile
            server.reset()
            registry = server._engine.registry
            deadline = loop.time() + 5
            while len(registry) and loop.time() < deadline:
                await asyncio.sleep(0.05)
            assert len(registry) == 0, "the reset left the stalled connection open"


async def _read_exactly(loop: asyncio.AbstractEventLoop, sock: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        data += await loop.sock_recv(sock, n - len(data))
    return data


@pytest.mark.asyncio
async def test_down_and_up_without_awaiting_between_keep_their_order() -> None:
    """On the caller's loop they are carried out once the caller awaits, in the order
    called; ``is_down`` says what was asked last at once."""
    async with SOCKS5Server() as server:
        server.down()
        assert server.is_down
        server.up()
        assert not server.is_down
        with server.down():
            assert server.is_down
        assert not server.is_down
        _, writer = await asyncio.wait_for(asyncio.open_connection(server.host, server.port), 5)
        writer.close()
        await writer.wait_closed()
        assert not server.is_down
        server.down()
        with pytest.raises(ConnectionRefusedError):
            await asyncio.wait_for(asyncio.open_connection(server.host, server.port), 5)
        assert server.is_down


@pytest.mark.asyncio
async def test_down_and_up_work_on_a_server_in_the_callers_loop() -> None:
    async with SOCKS5Server() as server:
        server.down()
        with pytest.raises(ConnectionRefusedError):
            await asyncio.wait_for(asyncio.open_connection(server.host, server.port), 5)
        server.up()
        _, writer = await asyncio.wait_for(asyncio.open_connection(server.host, server.port), 5)
        writer.close()
        await writer.wait_closed()


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
def test_a_stop_right_after_up_leaves_nothing_listening(loop: str) -> None:
    """On uvloop ``up()`` leaves serving the socket to a task; a stop before it runs must
    close that socket, not let the task serve it after the stop."""
    run = asyncio.run if loop == "asyncio" else pytest.importorskip("uvloop").run

    async def main() -> int:
        async with SOCKS5Server() as server:
            server.down()
            server.up()
            return server.port

    port = run(main())
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=5).close()
