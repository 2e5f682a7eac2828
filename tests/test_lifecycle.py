"""A connection's life at its edges: closed before a byte or between messages, accepted
while the server stops, left open by the previous test of a session server."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import importlib.util
import logging
import select
import socket
import struct
import time
import warnings
from collections.abc import Callable, Iterator

import pytest

from pytest_socks5 import ConnectionRecord, Outcome, SOCKS5Server
from pytest_socks5.faults import Stall
from pytest_socks5.rawclient import open_tunnel

from .helpers import connect, only_record, recv_all, recv_exactly
from .reliability import count_fds, needs_proc, plugin_threads, wait_until

RESET_ERROR = (
    "ended by the server's reset between tests (SOCKS5Server.reset()): "
    "an earlier test left it open"
)
needs_uvloop = pytest.mark.skipif(
    importlib.util.find_spec("uvloop") is None, reason="uvloop is not installed"
)


@pytest.fixture
def server() -> Iterator[SOCKS5Server]:
    with SOCKS5Server(socks4=True, users={"alice": "s3cret"}) as server:
        yield server


# -- closed cleanly between messages: the client went away, it broke nothing -----------


@pytest.mark.parametrize(
    ("sent", "answer"),
    [
        (b"", b""),  # a port probe, a readiness check
        (b"\x05\x01\x02", b"\x05\x02"),  # after the greeting's answer
        (b"\x05\x01\x02\x01\x05alice\x06s3cret", b"\x05\x02\x01\x00"),  # after the auth
    ],
    ids=["no-byte", "after-greeting", "after-auth"],
)
def test_a_clean_close_between_messages_is_client_closed(
    server: SOCKS5Server, sent: bytes, answer: bytes
) -> None:
    with connect(server.address) as sock:
        sock.sendall(sent)
        assert recv_exactly(sock, len(answer)) == answer
        sock.shutdown(socket.SHUT_WR)
        assert recv_all(sock) == b""
    record = only_record(server)
    assert record.outcome is Outcome.CLIENT_CLOSED
    assert (record.closed_by, record.closed_how) == ("client", "fin")
    assert record.error is None
    assert not any(m.name == "unparsed" for m in record.handshake)


def test_a_probe_that_closes_at_once_is_client_closed(server: SOCKS5Server) -> None:
    socket.create_connection(server.address, timeout=5).close()
    assert only_record(server).outcome is Outcome.CLIENT_CLOSED


def test_a_probe_that_resets_is_client_closed(server: SOCKS5Server) -> None:
    sock = socket.create_connection(server.address, timeout=5)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()
    record = only_record(server)
    assert record.outcome is Outcome.CLIENT_CLOSED
    assert (record.closed_by, record.closed_how) == ("client", "rst")


def test_a_close_in_the_middle_of_a_message_is_still_a_protocol_error(
    server: SOCKS5Server,
) -> None:
    with connect(server.address) as sock:
        sock.sendall(b"\x05\x01")
        sock.shutdown(socket.SHUT_WR)
        assert recv_all(sock) == b""
    record = only_record(server)
    assert record.outcome is Outcome.PROTOCOL_ERROR
    assert "in the middle of the greeting (received: 05 01)" in (record.error or "")


# -- stop() while clients are connecting -------------------------------------------------

LOOPS = ["asyncio", pytest.param("uvloop", marks=needs_uvloop)]


def left_hanging(clients: list[socket.socket]) -> list[socket.socket]:
    """The clients the proxy did not end (EOF, reset, refused) within a bounded wait."""
    waiting = list(clients)
    deadline = time.monotonic() + 5.0
    while waiting and (left := deadline - time.monotonic()) > 0:
        readable, _, _ = select.select(waiting, [], [], left)
        for sock in readable:
            waiting.remove(sock)
            with contextlib.suppress(ConnectionResetError, ConnectionRefusedError):
                assert sock.recv(1024) == b"", "the proxy answered a client it was stopping"
    return waiting


@needs_proc
@pytest.mark.parametrize("loop", LOOPS)
@pytest.mark.parametrize("limit", [None, 10], ids=["no-limit", "max_connections=10"])
def test_stop_ends_every_connection_even_one_accepted_a_moment_before(
    loop: str, limit: int | None, caplog: pytest.LogCaptureFixture
) -> None:
    """50 clients connect while stop() runs: each is ended (FIN or RST), every record is
    settled, and no fd, task, ResourceWarning or asyncio error is left behind."""
    SOCKS5Server(loop=loop).start().stop()  # the first uvloop keeps 2 fds for good
    gc.collect()
    fds, threads = count_fds(), plugin_threads()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for _ in range(4):
            server = SOCKS5Server(loop=loop, max_connections=limit).start()
            server_loop = server._loop
            assert server_loop is not None
            clients = []
            for _ in range(50):
                sock = socket.socket()
                sock.setblocking(False)
                with contextlib.suppress(BlockingIOError):
                    sock.connect(server.address)
                clients.append(sock)
            server.stop()
            try:
                hanging = left_hanging(clients)
            finally:
                for sock in clients:
                    sock.close()
            assert hanging == [], f"{len(hanging)} of 50 clients left hanging"
            assert server_loop.is_closed()
            assert len(server._engine.registry) == 0
            assert all(r.outcome is not Outcome.OPEN for r in server.connections)
            assert server.errors == []
        gc.collect()
    resource = [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)]
    assert resource == []
    problems = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert problems == []
    wait_until(lambda: plugin_threads() <= threads, timeout=10, what="the threads to end")
    assert count_fds() == fds


# -- the session server's reset between tests ---------------------------------------------


def test_reset_ends_connections_an_earlier_test_left_open(
    echo_server: tuple[str, int],
) -> None:
    ended: list[ConnectionRecord] = []
    with SOCKS5Server(on_connection_end=ended.append) as server:
        server.add_fault(Stall(at="greeting", times=1))
        stalled = connect(server.address)
        stalled.sendall(b"\x05\x01\x00")
        tunnel = open_tunnel(server.address, *echo_server)
        server.wait_for_connections(1, faults=("Stall(times=1) at greeting",))
        with stalled, tunnel:
            server.reset()
            # Both are over, their records settled, by the time reset() returns.
            assert sorted(r.outcome.value for r in ended) == ["server-stopped"] * 2
            assert stalled.recv(16) == b""
            assert tunnel.recv(16) == b""
        assert server.connections == []
        # A connection of the next test is not touched by the reset before it.
        with open_tunnel(server.address, *echo_server) as fresh:
            fresh.sendall(b"ping")
            assert recv_exactly(fresh, 4) == b"ping"
        assert only_record(server).outcome is Outcome.CLOSED
    assert len(ended) == 3
    for record in ended[:2]:
        assert record.closed_by == "server"
        assert record.error == RESET_ERROR


def test_the_fixture_reset_ends_what_a_test_left_open(pytester: pytest.Pytester) -> None:
    log = pytester.path / "ended.txt"
    pytester.makeconftest(
        f"""
        import pytest

        @pytest.fixture(scope="session")
        def socks5_server_options():
            def log(record):
                with open({str(log)!r}, "a") as f:
                    f.write(f"{{record.outcome.value}}: {{record.error}}\\n")
            return {{"on_connection_end": log}}
        """
    )
    pytester.makepyfile(
        """
        import socket
        from pytest_socks5.faults import Stall

        KEEP = []

        def test_leaves_a_stalled_connection(socks5_server):
            socks5_server.add_fault(Stall(at="greeting"))
            sock = socket.create_connection(socks5_server.address, timeout=5)
            sock.sendall(b"\\x05\\x01\\x00")
            socks5_server.wait_for_connections(1, faults=("Stall() at greeting",))
            KEEP.append(sock)

        def test_next(socks5_server):
            assert socks5_server.connections == []
            assert KEEP[0].recv(16) == b""  # ended before this test began
            KEEP[0].close()
        """
    )
    result = pytester.runpytest("-p", "no:randomly", "-p", "no:cacheprovider", "-p", "no:asyncio")
    result.assert_outcomes(passed=2)
    assert log.read_text().splitlines() == [f"server-stopped: {RESET_ERROR}"]


def test_a_server_started_again_after_stop_names_its_new_listener(
    make_server: Callable[..., SOCKS5Server],
) -> None:
    """``port``, ``url`` and ``listen_addresses`` name the listener of this start, and
    ``down()``/``up()`` act on it alone."""
    server = make_server()
    first = server.port
    server.stop()
    server.start()
    assert server.listen_addresses == [(server.host, server.port)]
    assert server.url.endswith(f":{server.port}")
    with connect(server.address):
        pass
    with server.down(), pytest.raises(ConnectionRefusedError):
        socket.create_connection(server.address, timeout=5)
    with connect(server.address):
        pass
    if first != server.port:  # the old port is closed, not listened on beside the new one
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection((server.host, first), timeout=5)


def test_down_from_a_hook_acts_at_once_and_blames_no_one(
    make_server: Callable[..., SOCKS5Server], echo_server: tuple[str, int]
) -> None:
    """A hook runs on the server's own loop, which cannot wait for itself: ``down()``
    there starts going down, and the hook's connection goes on; the next is refused."""
    server = make_server()

    def go_down(record: ConnectionRecord) -> None:
        server.down()

    server.on("greeting", go_down)
    with open_tunnel(server.address, *echo_server, timeout=5) as sock:
        sock.sendall(b"ping")
        assert recv_exactly(sock, 4) == b"ping"
    assert server.is_down
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(server.address, timeout=5)
    assert server.errors == []
    server.up()
    with open_tunnel(server.address, *echo_server, timeout=5):
        pass


# -- a gate holding a connection when the reset comes ------------------------------------


def _held_connect(address: tuple[str, int], target: socket.socket) -> socket.socket:
    """A client whose CONNECT to ``target`` a gate at "request" holds (before the dial)."""
    host, port = target.getsockname()[:2]
    client = connect(address)
    client.sendall(
        b"\x05\x01\x00\x05\x01\x00\x01" + socket.inet_aton(host) + struct.pack("!H", port)
    )
    return client


def _held_then_reset_ends_it(ended: list[ConnectionRecord], target: socket.socket) -> None:
    """The held connection was ended by the reset, not let go on: its destination never
    sees a connection, and its record says the reset ended it while held."""
    wait_until(lambda: len(ended) == 1, timeout=5, what="the held connection to end")
    assert select.select([target], [], [], 0.5)[0] == [], "the reset let it dial"
    (record,) = ended
    assert record.outcome is Outcome.SERVER_STOPPED
    assert record.error == RESET_ERROR
    assert record.upstream_address is None
    (hold,) = record.holds
    assert hold.startswith("at request by hold('request') for ")
    assert hold.endswith(", ended by the server's reset"), hold


def test_reset_ends_a_connection_a_gate_holds_without_letting_it_dial() -> None:
    ended: list[ConnectionRecord] = []
    with (
        socket.create_server(("127.0.0.1", 0)) as target,
        SOCKS5Server(on_connection_end=ended.append) as server,
    ):
        gate = server.hold("request")
        with _held_connect(server.address, target) as client:
            gate.wait()
            server.reset()
            assert len(ended) == 1  # reset() of a thread-hosted server waits for it
            assert recv_all(client) == b"\x05\x00"
        _held_then_reset_ends_it(ended, target)


@pytest.mark.parametrize("where", ["on its loop", "from another thread"])
def test_reset_of_an_async_with_server_ends_a_held_connection(where: str) -> None:
    ended: list[ConnectionRecord] = []

    async def main(target: socket.socket) -> None:
        async with SOCKS5Server(on_connection_end=ended.append) as server:
            gate = server.hold("request")
            client = await asyncio.to_thread(_held_connect, server.address, target)
            with client:
                await gate.wait_async()
                if where == "on its loop":
                    server.reset()
                else:
                    await asyncio.to_thread(server.reset)
                await asyncio.to_thread(_held_then_reset_ends_it, ended, target)

    with socket.create_server(("127.0.0.1", 0)) as target:
        asyncio.run(main(target))
