"""Transfer faults on an open tunnel, with a raw socket client and a loopback echo; every
test with a server runs on the four variants (asyncio, uvloop, with and without splice)."""

from __future__ import annotations

import os
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest

from pytest_socks5 import Outcome, SOCKS5Server
from pytest_socks5._fault_types import TransferFault
from pytest_socks5.faults import (
    Bandwidth,
    Blackhole,
    CloseAfter,
    Direction,
    Latency,
    ResetAfter,
    Slicer,
    SlowClose,
)

from .helpers import (
    TIMEOUT,
    assert_silent,
    connect,
    digest_target,
    only_record,
    read_until_closed,
    recv_all,
    recv_exactly,
    socks5_tunnel,
)


@pytest.fixture
def server(make_server: Callable[..., SOCKS5Server]) -> SOCKS5Server:
    return make_server()


#: What :func:`chunked_target` writes: 50 chunks of 150 bytes, each chunk one letter.
CHUNKS = b"".join(bytes([65 + i % 26]) * 150 for i in range(50))


@contextmanager
def chunked_target(end: str = "fin") -> Iterator[tuple[str, int]]:
    """A destination that, once the client's byte arrives, writes :data:`CHUNKS`
    in 150-byte writes, then ends: ``"fin"`` (close), ``"rst"`` (reset), or ``"wait"``
    (stay open until the client closes)."""
    listener = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        try:
            conn, _ = listener.accept()
        except OSError:
            return
        with conn:
            conn.settimeout(TIMEOUT)
            try:
                conn.recv(1)
                for start in range(0, len(CHUNKS), 150):
                    conn.sendall(CHUNKS[start : start + 150])
                if end == "wait":
                    while conn.recv(65536):
                        pass
                elif end == "rst":
                    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            except OSError:
                pass  # a fault ended the tunnel first

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[:2]
    finally:
        listener.shutdown(socket.SHUT_RDWR)  # wakes the accept() if nobody came
        listener.close()
        thread.join(TIMEOUT)


# -- the record counts what was delivered, on every relay ----------------------------


@pytest.mark.parametrize(
    "fault",
    [
        None,
        CloseAfter(after=100, direction="to_client"),
        ResetAfter(after=100, direction="to_client"),
    ],
    ids=["no fault", "CloseAfter", "ResetAfter"],
)
def test_the_record_counts_what_the_client_received(
    server: SOCKS5Server, fault: TransferFault | None
) -> None:
    if fault is not None:
        server.add_fault(fault)
    with chunked_target() as target, socks5_tunnel(server.address, *target) as (sock, _):
        sock.sendall(b"g")
        received = read_until_closed(sock)
    assert received == (CHUNKS if fault is None else CHUNKS[:100])
    record = only_record(server)
    assert record.bytes_to_client == len(received)
    assert record.bytes_from_client == 1


@pytest.mark.parametrize("end", ["fin", "rst", "wait"])
def test_a_blackhole_counts_what_it_let_through_and_swallows_the_close(
    server: SOCKS5Server, end: str
) -> None:
    """The destination's close (FIN or RST) goes into the hole too: the client hears
    nothing more until it closes itself."""
    server.add_fault(Blackhole(after=100))
    with chunked_target(end) as target, socks5_tunnel(server.address, *target) as (sock, _):
        sock.sendall(b"g")
        assert recv_exactly(sock, 100) == CHUNKS[:100]
        if end != "wait":
            server.wait_for_connections(1, closed_by="upstream")
        assert_silent(sock)
        (record,) = server.connections
        assert record.outcome is Outcome.OPEN
        sock.sendall(b"still open")  # and still writable
    record = only_record(server)
    assert record.bytes_to_client == 100
    assert record.closed_by == ("client" if end == "wait" else "upstream")


def roundtrip(sock: socket.socket, data: bytes) -> float:
    started = time.monotonic()
    sock.sendall(data)
    assert recv_exactly(sock, len(data)) == data
    return time.monotonic() - started


@pytest.mark.parametrize("direction", ["from_client", "to_client", "both"])
def test_latency_delays_each_direction(server: SOCKS5Server, echo_server, direction: str) -> None:
    server.add_fault(Latency(seconds=0.2, direction=direction))
    with socks5_tunnel(server.address, *echo_server) as (sock, _):
        elapsed = roundtrip(sock, b"ping")
    assert elapsed >= (0.4 if direction == "both" else 0.2) - 0.01
    (record,) = server.connections
    assert record.faults == (f"Latency(direction={direction}, seconds=0.2, jitter=0.0)",)


# -- direction: the records' words, with the older ones as aliases ---------------------


def test_direction_members_are_the_records_words() -> None:
    assert [d.value for d in Direction] == ["from_client", "to_client", "both"]
    assert Direction.FROM_CLIENT == "from_client"
    assert Direction.TO_CLIENT == "to_client"


@pytest.mark.parametrize(
    ("old", "new"),
    [("upstream", Direction.FROM_CLIENT), ("downstream", Direction.TO_CLIENT)],
)
def test_the_older_direction_words_are_aliases(old: str, new: Direction) -> None:
    assert getattr(Direction, old.upper()) is new
    assert Direction(old) is new
    assert Latency(direction=old).direction is new
    assert Latency(direction=old) == Latency(direction=new) == Latency(direction=new.value)
    described = Latency(direction=old).describe()
    assert described == f"Latency(direction={new.value}, seconds=0.1, jitter=0.0)"


def test_an_unknown_direction_is_refused_with_the_words_it_could_be() -> None:
    with pytest.raises(
        ValueError,
        match=r"'from_client', 'to_client', 'both', 'upstream', 'downstream', got 'sideways'",
    ):
        Latency(direction="sideways")


def test_an_old_direction_word_acts_and_is_recorded_in_the_new_words(
    server: SOCKS5Server, echo_server
) -> None:
    server.add_fault(Latency(seconds=0.2, direction="downstream"))
    with socks5_tunnel(server.address, *echo_server) as (sock, _):
        elapsed = roundtrip(sock, b"ping")
    assert elapsed >= 0.19
    (record,) = server.connections
    assert record.faults == ("Latency(direction=to_client, seconds=0.2, jitter=0.0)",)
    assert {m.direction for m in record.handshake} == {Direction.FROM_CLIENT, Direction.TO_CLIENT}


def test_latency_with_jitter_keeps_order(server: SOCKS5Server, echo_server) -> None:
    server.add_fault(Latency(seconds=0.02, jitter=0.02, direction="to_client"))
    with socks5_tunnel(server.address, *echo_server) as (sock, _):
        for i in range(20):
            sock.sendall(b"%03d" % i)
        assert recv_exactly(sock, 60) == b"".join(b"%03d" % i for i in range(20))


def test_bandwidth_limit(server: SOCKS5Server, echo_server) -> None:
    server.add_fault(Bandwidth(bytes_per_second=100_000, direction="to_client"))
    payload = os.urandom(50_000)
    with socks5_tunnel(server.address, *echo_server) as (sock, _):
        elapsed = roundtrip(sock, payload)
    assert elapsed >= 0.45  # 50 kB at 100 kB/s, with a margin for the first write


def test_slicer_delivers_everything_in_small_writes(server: SOCKS5Server, echo_server) -> None:
    server.add_fault(Slicer(size=7, delay=0.0, direction="to_client"))
    payload = os.urandom(5000)
    with socks5_tunnel(server.address, *echo_server) as (sock, _):
        assert roundtrip(sock, payload) >= 0
    (record,) = server.connections
    assert record.bytes_to_client == 5000


def test_blackhole_keeps_the_connection_open_but_silent(server: SOCKS5Server, echo_server) -> None:
    server.add_fault(Blackhole(after=5, direction="to_client"))
    with socks5_tunnel(server.address, *echo_server) as (sock, _):
        sock.sendall(b"0123456789")
        assert recv_exactly(sock, 5) == b"01234"
        assert_silent(sock)
        sock.sendall(b"more")  # still open for writing
    (record,) = server.connections
    assert record.bytes_to_client == 5  # what the client was delivered, not what was read


def test_close_after_n_bytes_is_a_fin(server: SOCKS5Server, echo_server) -> None:
    server.add_fault(CloseAfter(after=10, direction="to_client"))
    with socks5_tunnel(server.address, *echo_server) as (sock, _):
        sock.sendall(b"x" * 100)
        assert recv_all(sock) == b"x" * 10


def test_reset_after_n_bytes_is_an_rst(server: SOCKS5Server, echo_server) -> None:
    server.add_fault(ResetAfter(after=10, direction="to_client"))
    with socks5_tunnel(server.address, *echo_server) as (sock, _):
        sock.sendall(b"x" * 100)
        received = bytearray()

        def read_until_reset() -> None:
            while chunk := sock.recv(100):
                received.extend(chunk)

        with pytest.raises(ConnectionResetError):
            read_until_reset()
    assert len(received) <= 10
    record = only_record(server)
    assert record.outcome is Outcome.FAULT


def test_reset_after_a_time(server: SOCKS5Server, echo_server) -> None:
    server.add_fault(ResetAfter(seconds=0.2))
    # The clock starts before the handshake: the server's starts when the tunnel opens,
    # after it, so the reset cannot come sooner (a loaded machine may hand the client
    # the reply late, which made a clock started after the reply flaky).
    started = time.monotonic()
    with (
        socks5_tunnel(server.address, *echo_server) as (sock, _),
        pytest.raises(ConnectionResetError),
    ):
        sock.recv(100)
    assert time.monotonic() - started >= 0.15  # libuv timers: whole ms, a cached clock


def test_reset_after_needs_bytes_or_seconds() -> None:
    with pytest.raises(ValueError, match="exactly one"):
        ResetAfter()


def test_slow_close_delays_the_eof(server: SOCKS5Server) -> None:
    server.add_fault(SlowClose(seconds=0.3, direction="to_client"))
    with digest_target() as target, socks5_tunnel(server.address, *target) as (sock, _):
        sock.sendall(b"abc")
        sock.shutdown(socket.SHUT_WR)
        started = time.monotonic()
        answer = recv_all(sock)
        assert time.monotonic() - started >= 0.25
    assert answer.endswith(b" 3")


def test_half_close_still_honoured_through_a_shaper(server: SOCKS5Server) -> None:
    server.add_fault(Slicer(size=1000, direction="both"))
    payload = os.urandom(200_000)
    with digest_target() as target, socks5_tunnel(server.address, *target) as (sock, _):
        sock.sendall(payload)
        sock.shutdown(socket.SHUT_WR)
        answer = recv_all(sock)
    import hashlib

    assert answer == hashlib.sha256(payload).hexdigest().encode() + b" 200000"


def test_a_slow_fault_does_not_buffer_without_limit(server: SOCKS5Server, echo_server) -> None:
    """The shaper's queue is bounded: the client's writes block instead of the server
    swallowing everything."""
    server.add_fault(Bandwidth(bytes_per_second=10_000, direction="from_client"))
    with socks5_tunnel(server.address, *echo_server) as (sock, _):
        sock.setblocking(False)
        sent = 0
        chunk = b"x" * 65536
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            try:
                sent += sock.send(chunk)
            except BlockingIOError:
                break
        assert time.monotonic() < deadline, "the client was never pushed back"
        assert sent < 64 * 1024 * 1024


def test_down_refuses_connections_and_up_restores_the_same_port(server: SOCKS5Server) -> None:
    port = server.port
    with server.down():
        assert server.is_down
        with pytest.raises(ConnectionRefusedError):
            connect(server.address)
    assert not server.is_down
    assert server.port == port
    with connect(server.address) as sock:
        sock.sendall(b"\x05\x01\x00")
        assert recv_exactly(sock, 2) == b"\x05\x00"
