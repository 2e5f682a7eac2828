"""Limits: idle and slowloris clients are cut off, connections beyond max_connections are
refused and recorded, records are capped and counted, handshake buffering is bounded."""

from __future__ import annotations

import contextlib
import hashlib
import os
import socket
import threading
import time
from collections.abc import Callable

import pytest

from pytest_socks5 import Outcome, SOCKS5Server
from pytest_socks5._connection import HANDSHAKE_BUFFER_LIMIT
from pytest_socks5._recorder import Recorder

from .helpers import connect, only_record, recv_all, recv_exactly, socks5_request, socks5_tunnel
from .reliability import blackhole, held, loopback_listener, pump_until, wait_until

#: asyncio reads at most this much per callback, so a pause takes effect within it.
READ_CHUNK = 256 * 1024

# -- idle timeout ------------------------------------------------------------------------


def test_idle_tunnel_is_closed_and_recorded(
    make_server: Callable[..., SOCKS5Server], echo_server: tuple[str, int]
) -> None:
    """On every variant: with ``splice=True`` an idle timeout takes the ordinary relay."""
    server = make_server(idle_timeout=0.3)
    with socks5_tunnel(server.address, *echo_server) as (sock, reply):
        assert reply[1] == 0
        sock.sendall(b"ping")
        assert recv_exactly(sock, 4) == b"ping"
        # Now nothing moves: the server closes both sides, the client reads EOF.
        assert recv_all(sock) == b""
    record = only_record(server)
    assert record.outcome is Outcome.IDLE_TIMEOUT
    assert record.closed_by == "server"
    assert record.error == "no bytes either way for 0.3s (idle_timeout)"
    assert record.bytes_from_client == record.bytes_to_client == 4
    assert record.duration is not None
    assert record.duration >= 0.3


def test_a_busy_tunnel_is_not_idle(echo_server: tuple[str, int]) -> None:
    """One byte every 50 ms for 1.5 s through a tunnel with a 1 s idle timeout."""
    with SOCKS5Server(idle_timeout=1.0) as server:
        with socks5_tunnel(server.address, *echo_server) as (sock, _):
            pace = threading.Event()
            deadline = time.monotonic() + 1.5
            while time.monotonic() < deadline:
                sock.sendall(b"x")
                assert recv_exactly(sock, 1) == b"x"
                pace.wait(0.05)
            (record,) = server.connections
            assert record.outcome is Outcome.OPEN
        record = only_record(server)
    assert record.outcome is Outcome.CLOSED


def test_idle_timeout_ends_a_blackholed_transfer_and_frees_its_buffers() -> None:
    """The client stops reading, the destination keeps writing until every buffer is
    full: nothing moves, so the idle timeout aborts the tunnel and the memory is freed."""
    with (
        SOCKS5Server(idle_timeout=0.5) as server,
        loopback_listener() as listener,
        socks5_tunnel(server.address, *listener.getsockname()),
    ):
        upstream, _ = listener.accept()
        with upstream:
            pump_until(
                upstream,
                lambda: held(server).reading_upstreams == 0,
                chunk=b"\xab" * 65536,
            )
            assert held(server).to_clients > 0
            record = only_record(server, timeout=10)
            assert record.outcome is Outcome.IDLE_TIMEOUT
            wait_until(lambda: held(server).connections == 0, timeout=5, what="no connections")
        assert held(server).total == 0


def test_idle_timeout_from_the_marker(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n")
    pytester.makepyfile(
        """
        import socket, pytest
        from pytest_socks5 import Outcome

        @pytest.mark.socks5(idle_timeout=0.2, max_connections=5)
        def test_it(socks5_server):
            with socket.socket() as target:
                target.bind(("127.0.0.1", 0))
                target.listen()
                with socket.create_connection(socks5_server.address, timeout=5) as s:
                    s.sendall(b"\\x05\\x01\\x00")
                    assert s.recv(2) == b"\\x05\\x00"
                    port = target.getsockname()[1].to_bytes(2, "big")
                    s.sendall(b"\\x05\\x01\\x00\\x01\\x7f\\x00\\x00\\x01" + port)
                    assert s.recv(10)[1] == 0
                    conn, _ = target.accept()
                    with conn:
                        assert s.recv(1) == b""
            (record,) = socks5_server.wait_for_connections(1, ended=True)
            assert record.outcome is Outcome.IDLE_TIMEOUT

        def test_reset_afterwards(socks5_server):
            assert socks5_server._engine.config.idle_timeout is None
            assert socks5_server._engine.config.max_connections is None
        """
    )
    pytester.runpytest("-p", "no:randomly").assert_outcomes(passed=2)


def test_slowloris_is_cut_off_by_the_handshake_timeout() -> None:
    """A byte every 20 ms, in a username that never ends: the handshake timeout counts
    from accept, not from the last byte."""
    with SOCKS5Server(users={"u": "p"}, handshake_timeout=0.5) as server:
        with connect(server.address) as sock:
            sock.sendall(b"\x05\x01\x02")
            assert recv_exactly(sock, 2) == b"\x05\x02"
            sock.sendall(b"\x01\xff")  # ULEN 255
            pace = threading.Event()
            closed = False
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                try:
                    sock.sendall(b"a")
                except OSError:
                    closed = True
                    break
                if server.find_connections(outcome=Outcome.TIMEOUT):
                    closed = True
                    break
                pace.wait(0.02)
            assert closed
        record = only_record(server)
    assert record.outcome is Outcome.TIMEOUT
    assert record.error == "no complete handshake within 0.5s"


# -- max_connections ---------------------------------------------------------------------


def test_connections_beyond_the_limit_are_refused_and_recorded(
    echo_server: tuple[str, int],
) -> None:
    with SOCKS5Server(max_connections=3) as server:
        tunnels = [socks5_tunnel(server.address, *echo_server) for _ in range(3)]
        socks = [t.__enter__()[0] for t in tunnels]
        try:
            with connect(server.address) as extra:
                extra.sendall(b"\x05\x01\x00")
                try:
                    answer = extra.recv(2)
                except ConnectionResetError:
                    answer = b""
                assert answer == b""
            refused = server.wait_for_connections(1, ended=True, outcome=Outcome.CONNECTION_LIMIT)
            assert refused[0].closed_by == "server"
            assert refused[0].error == (
                "refused at accept: 3 connection(s) open (max_connections=3)"
            )
            assert refused[0].version is None  # refused before reading a byte
            for i, sock in enumerate(socks):  # the open tunnels never noticed
                sock.sendall(b"still here %d" % i)
                assert recv_exactly(sock, 12) == b"still here %d" % i
            # One closes; its slot is free again.
            tunnels.pop().__exit__(None, None, None)
            socks.pop()
            server.wait_for_connections(1, ended=True, outcome=Outcome.CLOSED)
            with socks5_tunnel(server.address, *echo_server) as (sock, reply):
                assert reply[1] == 0
        finally:
            for t in tunnels:
                t.__exit__(None, None, None)
        assert server.errors == []


def test_a_connection_flood_beyond_the_limit_never_crashes(echo_server: tuple[str, int]) -> None:
    with SOCKS5Server(max_connections=10) as server:
        flood = [connect(server.address) for _ in range(200)]
        try:
            server.wait_for_connections(200, timeout=20)
            assert len(server.find_connections(outcome=Outcome.CONNECTION_LIMIT)) == 190
            assert len(server.find_connections(outcome=Outcome.OPEN)) == 10
        finally:
            for sock in flood:
                sock.close()
        server.wait_for_connections(200, ended=True, timeout=20)
        with socks5_tunnel(server.address, *echo_server) as (sock, reply):
            assert reply[1] == 0
            sock.sendall(b"ok")
            assert recv_exactly(sock, 2) == b"ok"
        assert server.errors == []


@pytest.mark.parametrize(
    "options",
    [{"idle_timeout": -1.0}, {"idle_timeout": float("nan")}, {"max_connections": -1}],
    ids=str,
)
def test_nonsense_limits_are_refused(options: dict[str, float]) -> None:
    with pytest.raises(ValueError, match=next(iter(options))):
        SOCKS5Server(**options)
    server = SOCKS5Server()
    with pytest.raises(ValueError, match=next(iter(options))):
        server.configure(**options)


def test_max_connections_can_change_without_rebinding() -> None:
    with SOCKS5Server() as server:
        server.configure(max_connections=0)
        with connect(server.address) as sock, contextlib.suppress(ConnectionResetError):
            assert sock.recv(1) == b""
        assert server.wait_for_connections(1, ended=True)[0].outcome is Outcome.CONNECTION_LIMIT
        server.reset()
        with connect(server.address) as sock:
            sock.sendall(b"\x05\x01\x00")
            assert recv_exactly(sock, 2) == b"\x05\x00"


# -- max_records -------------------------------------------------------------------------


def _handshake_and_close(address: tuple[str, int]) -> None:
    with connect(address) as sock:
        sock.sendall(b"\x05\x01\x00")
        assert recv_exactly(sock, 2) == b"\x05\x00"


def test_records_are_capped_and_drops_counted() -> None:
    with SOCKS5Server(max_records=5) as server:
        for _ in range(8):
            _handshake_and_close(server.address)
        wait_until(
            lambda: (
                all(r.outcome is not Outcome.OPEN for r in server.connections)
                and server.connections[-1].id == 8
            ),
            timeout=10,
            what="8 ended connections",
        )
        assert [r.id for r in server.connections] == [4, 5, 6, 7, 8]
        assert server.dropped_records == 3
        assert "(3 older record(s) dropped: max_records=5)" in server._recorder.explain({})
        server.reset()
        assert server.dropped_records == 0
        assert server.connections == []


def test_zero_records_still_logs_every_connection() -> None:
    ended: list[int] = []
    with SOCKS5Server(max_records=0, on_connection_end=lambda r: ended.append(r.id)) as server:
        for _ in range(3):
            _handshake_and_close(server.address)
        wait_until(lambda: len(ended) == 3, timeout=10, what="3 ended connections")
        assert server.connections == []
        assert server.dropped_records == 3


def test_unlimited_records_and_a_negative_limit() -> None:
    recorder = Recorder(max_records=None)
    for port in range(1000):
        recorder.new(("127.0.0.1", port))
    assert len(recorder.snapshot()) == 1000
    assert recorder.dropped == 0
    with pytest.raises(ValueError, match="max_records"):
        Recorder(max_records=-1)


def test_the_command_line_server_caps_its_records() -> None:
    from pytest_socks5.__main__ import CLI_MAX_RECORDS, _parser

    assert _parser().parse_args([]).max_records == CLI_MAX_RECORDS == 1000
    args = _parser().parse_args(["--idle-timeout", "5", "--handshake-timeout", "0"])
    config = SOCKS5Server(idle_timeout=args.idle_timeout, handshake_timeout=args.handshake_timeout)
    assert (config._engine.config.idle_timeout, config._engine.config.handshake_timeout) == (
        5.0,
        None,
    )


# -- bounded handshake buffering -----------------------------------------------------------


def _sender(sock: socket.socket, data: bytes, errors: list[BaseException]) -> Callable[[], None]:
    def send() -> None:
        try:
            sock.sendall(data)
            sock.shutdown(socket.SHUT_WR)
        except BaseException as exc:  # reported by the test
            errors.append(exc)

    return send


def test_payload_sent_before_a_slow_dial_is_bounded_then_relayed_intact() -> None:
    """The client sends its request and 8 MiB of payload at once; the destination takes
    about a second to accept. The server holds at most HANDSHAKE_BUFFER_LIMIT (plus one
    read) meanwhile, then relays every byte in order."""
    payload = os.urandom(8 * 1024 * 1024)
    with (
        SOCKS5Server(connect_timeout=30) as server,
        blackhole() as (address, listener),
        connect(server.address) as client,
    ):
        head = b"\x05\x01\x00" + socks5_request(*address)
        errors: list[BaseException] = []
        thread = threading.Thread(target=_sender(client, head + payload, errors))
        thread.start()
        try:
            wait_until(
                lambda: held(server).reading_clients == 0,
                timeout=10,
                what="the server to stop reading the client",
            )
            during = held(server)
            assert during.handshake_buffered > HANDSHAKE_BUFFER_LIMIT
            assert during.handshake_buffered <= HANDSHAKE_BUFFER_LIMIT + READ_CHUNK
            (record,) = server.connections
            assert record.outcome is Outcome.OPEN
            filler, _ = listener.accept()  # room in the queue: the dial's SYN retry fits
            filler.close()
            upstream, _ = listener.accept()
            with upstream:
                assert recv_exactly(client, 2) == b"\x05\x00"
                assert recv_exactly(client, 10)[1] == 0
                received = recv_all(upstream)
        finally:
            thread.join(30)
        assert errors == []
        assert hashlib.sha256(received).digest() == hashlib.sha256(payload).digest()
        record = only_record(server)
        assert record.bytes_from_client == len(payload)


def test_connections_left_open_by_an_earlier_test_do_not_count(echo_server) -> None:
    """The session server is reset between tests; so is what max_connections counts."""
    from .helpers import socks5_tunnel

    with SOCKS5Server() as server, socks5_tunnel(server.address, *echo_server):
        server.reset()  # a new test begins while the last one's tunnel is still open
        server.configure(max_connections=1)
        with socks5_tunnel(server.address, *echo_server) as (_, reply):
            assert reply[1] == 0
