"""Backpressure on forwarded ``http://`` requests, both ways, on both loops, with the bytes
written straight through, through a data hook, and through a transfer fault's shaper.

A side that stops reading stops the proxy reading the other side: the other side's
sender blocks once the kernels' buffers are full, and the proxy itself holds about a
write queue's high-water mark (1 MiB) and one read per direction. Measured on the
proxy's own transports, on its loop — never as the process's memory. The record counts
what reached the receiving socket: what it read plus what was left in its receive queue
(``FIONREAD``), measured once its kernel advertised a zero window (nothing more can come).
"""

from __future__ import annotations

import socket
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest

from pytest_socks5 import Outcome, SOCKS5Server, faults
from pytest_socks5._sockets import WRITE_HIGH_WATER

from .helpers import TIMEOUT, recv_exactly
from .reliability import on_loop, wait_until
from .tcp_state import queued, reset, window_and_probes

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="the truth is read from Linux's TCP_INFO"
)

#: Far more than every buffer between the two ends can hold.
SIZE = 64 * 1024 * 1024
CHUNK = 64 * 1024
#: What the proxy may hold for one direction: the write queue past its high-water mark by
#: one write (at most two reads of 256 KiB, as h11 frames them), and the read buffers;
#: with a transfer fault, its shaper's queue too (up to its own 1 MiB bound and a write).
HELD_BOUND = WRITE_HIGH_WATER + 1024 * 1024
SHAPED_BOUND = HELD_BOUND + WRITE_HIGH_WATER + 512 * 1024
#: What every buffer on the way can hold, kernels' included (autotuned receive buffers
#: grow to a few MiB on loopback): far less than ``SIZE``.
KERNELS_BOUND = 24 * 1024 * 1024
HEAD = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n" % SIZE


@dataclass(frozen=True)
class Held:
    """What the proxy's one forwarded connection holds, at one moment, on its loop."""

    to_client: int  # the client transport's write queue
    to_destination: int  # the destination transport's write queue
    from_destination: int  # destination bytes read, not yet given to h11
    from_client: int  # client bytes read, not yet given to h11
    reading_client: bool
    reading_destination: bool

    @property
    def total(self) -> int:
        return self.to_client + self.to_destination + self.from_destination + self.from_client


def held(server: SOCKS5Server) -> Held | None:
    """``None`` until the client is accepted and the destination connected."""

    def measure() -> Held | None:
        accepted = list(server._engine.registry)
        if not accepted:
            return None
        (conn,) = accepted
        if conn.transport is None or conn.upstream is None or conn.upstream.transport is None:
            return None
        up = conn.upstream.transport
        return Held(
            to_client=conn.transport.get_write_buffer_size(),
            to_destination=up.get_write_buffer_size(),
            from_destination=len(getattr(up.get_protocol(), "data", b"")),
            from_client=conn.conn.buffered,
            reading_client=conn.transport.is_reading(),
            reading_destination=up.is_reading(),
        )

    return on_loop(server, measure)


def wait_for(what: str, condition: Callable[[], object]) -> None:
    """Poll ``condition`` (a state, not a time) until it holds; fail after ``TIMEOUT``."""
    wait_until(lambda: bool(condition()), timeout=TIMEOUT, what=what)


def settled(sock: socket.socket) -> int:
    """Once ``sock``'s kernel advertised a zero window (nothing more can reach it): the
    bytes in its receive queue."""
    wait_for("a zero window", lambda: window_and_probes(sock)[0] == 0)
    return queued(sock)


class Origin:
    """One loopback destination. ``respond``: read the request head, answer with a
    ``SIZE``-byte body and count in ``sent`` what its socket took; otherwise never read
    (its accepted socket is kept in ``accepted``)."""

    def __init__(self, *, respond: bool) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, CHUNK)
        self.port = self.listener.getsockname()[1]
        self.sent = 0
        self.accepted: socket.socket | None = None
        self.connected = threading.Event()
        target = self._respond if respond else self._hold
        self.thread = threading.Thread(target=target, daemon=True)
        self.thread.start()

    def _accept(self) -> socket.socket:
        sock, _ = self.listener.accept()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, CHUNK)
        self.accepted = sock
        self.connected.set()
        return sock

    def _respond(self) -> None:
        with self._accept() as sock:
            sock.settimeout(4 * TIMEOUT)
            head = b""
            while b"\r\n\r\n" not in head and (data := sock.recv(65536)):
                head += data
            sock.sendall(HEAD)
            piece = b"z" * CHUNK
            try:
                for _ in range(SIZE // CHUNK):
                    sock.sendall(piece)
                    self.sent += CHUNK
            except OSError:
                pass

    def _hold(self) -> None:
        self._accept()

    def close(self) -> None:
        self.listener.close()
        if self.accepted is not None:
            self.accepted.close()
        self.thread.join(TIMEOUT)


@pytest.fixture(params=["asyncio", "uvloop"])
def loop(request: pytest.FixtureRequest) -> str:
    if request.param == "uvloop":
        pytest.importorskip("uvloop")
    return str(request.param)


@pytest.fixture(params=["direct", "data hook", "transfer fault"])
def via(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def server(via: str, loop: str) -> Iterator[SOCKS5Server]:
    """A proxy on ``loop`` whose forwarded bytes go straight to the transports, through a
    data hook (the wire, no shaper), or through a latency's shaper (both directions)."""
    with SOCKS5Server(loop=loop) as proxy:
        if via == "data hook":
            proxy.on("data", lambda direction, data: None)
        elif via == "transfer fault":
            proxy.add_fault(faults.Latency(seconds=0.001))
        yield proxy


def client(server: SOCKS5Server) -> socket.socket:
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, CHUNK)
    sock.settimeout(TIMEOUT)
    sock.connect(server.address)
    return sock


def test_a_client_that_stops_reading_stops_the_proxy_reading_the_destination(
    server: SOCKS5Server, via: str
) -> None:
    origin = Origin(respond=True)
    try:
        sock = client(server)
        sock.sendall(b"GET http://127.0.0.1:%d/big HTTP/1.1\r\nHost: x\r\n\r\n" % origin.port)
        recv_exactly(sock, 1000)
        wait_for(
            "the destination not read, a client queue past its low-water mark",
            lambda: (
                (h := held(server))
                and h.to_client > WRITE_HIGH_WATER // 4
                and not h.reading_destination
            ),
        )
        now = held(server)
        assert now is not None
        assert now.total <= (SHAPED_BOUND if via == "transfer fault" else HELD_BOUND), now
        got = 1000 + settled(sock)
        assert server.connections[0].bytes_to_client > got  # counted as written, so far
        reset(sock)
        (record,) = server.wait_for_connections(1, ended=True, timeout=TIMEOUT)
        assert record.bytes_to_client <= got
        assert record.bytes_to_client >= got - 2 * CHUNK  # a delayed ACK's worth at most
        assert origin.sent < KERNELS_BOUND, "the proxy went on reading the destination"
    finally:
        origin.close()


def test_a_client_that_reads_again_gets_the_whole_response_and_it_all_counts(
    server: SOCKS5Server,
) -> None:
    """The proxy resumes where it stopped: every byte arrives, in order, counted once,
    and the record ends only once the client's queue is handed to its socket."""
    origin = Origin(respond=True)
    try:
        sock = client(server)
        sock.sendall(b"GET http://127.0.0.1:%d/big HTTP/1.1\r\nHost: x\r\n\r\n" % origin.port)
        first = recv_exactly(sock, 1000)
        head = first[: first.index(b"\r\n\r\n") + 4]
        assert head.startswith(b"HTTP/1.1 200 ")
        wait_for(
            "the destination not read",
            lambda: (h := held(server)) and not h.reading_destination,
        )
        assert origin.sent < KERNELS_BOUND, "the proxy went on reading the destination"
        total, buffer = len(first), bytearray(1 << 20)
        assert first[len(head) :] == b"z" * (len(first) - len(head))
        while n := sock.recv_into(buffer):
            assert buffer.count(b"z", 0, n) == n
            total += n
        sock.close()
        assert total == len(head) + SIZE
        (record,) = server.wait_for_connections(1, ended=True, timeout=TIMEOUT)
        assert record.outcome is Outcome.CLOSED
        assert record.bytes_to_client == total
    finally:
        origin.close()


def test_a_destination_that_never_reads_stops_the_proxy_reading_the_client(
    server: SOCKS5Server, via: str
) -> None:
    origin = Origin(respond=False)
    pushed = 0
    sock = client(server)

    def push() -> None:
        nonlocal pushed
        head = b"POST http://127.0.0.1:%d/ HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n"
        sock.sendall(head % (origin.port, 4 * SIZE))
        piece = b"p" * CHUNK
        try:
            for _ in range(4 * SIZE // CHUNK):
                sock.sendall(piece)
                pushed += CHUNK
        except OSError:
            pass

    sock.settimeout(None)  # the pusher blocks as long as the proxy does not read
    pusher = threading.Thread(target=push, daemon=True)
    pusher.start()
    try:
        wait_for(
            "the client not read, a destination queue past its low-water mark",
            lambda: (
                (h := held(server))
                and h.to_destination > WRITE_HIGH_WATER // 4
                and not h.reading_client
            ),
        )
        now = held(server)
        assert now is not None
        assert now.total <= (SHAPED_BOUND if via == "transfer fault" else HELD_BOUND), now
        assert origin.accepted is not None
        arrived = settled(origin.accepted)
        assert pushed < KERNELS_BOUND, "the proxy went on reading the client"
        reset(origin.accepted)  # a paused client is not read: its own reset is not heard
        reset(sock)
        (record,) = server.wait_for_connections(1, ended=True, timeout=TIMEOUT)
        assert record.bytes_from_client <= arrived
        assert record.bytes_from_client >= arrived - 2 * CHUNK
    finally:
        pusher.join(TIMEOUT)
        origin.close()


def _read_head(sock: socket.socket) -> bytes:
    head = b""
    while not head.endswith(b"\r\n\r\n"):
        byte = sock.recv(1)
        assert byte, "closed before a whole head"
        head += byte
    return head


def _read_ok(sock: socket.socket) -> None:
    answer = b""
    while not answer.endswith(b"\r\n\r\nok"):
        chunk = sock.recv(4096)
        assert chunk, "closed before the answer"
        answer += chunk


def _recv_until_reset(sock: socket.socket) -> None:
    while sock.recv(65536):
        pass


def test_an_origin_left_for_another_keeps_its_own_count_and_is_reset(
    server: SOCKS5Server,
) -> None:
    """Origin A answers after the head of a 3 MiB POST and reads no more; the client
    then asks origin B. A is reset (a close would wait for it for ever), what it never
    got is not counted, and the bytes B is sent later are B's: A's count stops at the
    switch (it took back B's bytes when A's reset came after them)."""
    body_a, body_b = 3 * 1024 * 1024, 200_000
    a = socket.create_server(("127.0.0.1", 0))
    a.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    b = socket.create_server(("127.0.0.1", 0))
    accepted: list[socket.socket] = []
    got: dict[str, int] = {}

    def serve_a() -> None:
        conn, _ = a.accept()
        accepted.append(conn)
        got["a_head"] = len(_read_head(conn))
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")

    def serve_b() -> None:
        conn, _ = b.accept()
        accepted.append(conn)
        head = len(_read_head(conn))
        received = 0
        while received < body_b:
            received += len(conn.recv(65536))
        got["b"] = head + received
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")

    for serve in (serve_a, serve_b):
        threading.Thread(target=serve, daemon=True).start()
    sock = client(server)
    try:
        pa, pb = a.getsockname()[1], b.getsockname()[1]
        head = "POST http://127.0.0.1:%d/ HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n"
        sock.sendall((head % (pa, body_a)).encode())
        pusher = threading.Thread(target=sock.sendall, args=(b"x" * body_a,), daemon=True)
        pusher.start()
        _read_ok(sock)
        pusher.join(TIMEOUT)
        assert not pusher.is_alive(), "the proxy never took the whole first body"
        wait_for("origin A's head read", lambda: "a_head" in got)
        conn_a = accepted[0]
        a_got = got["a_head"] + settled(conn_a)
        sock.sendall((head % (pb, body_b)).encode() + b"y" * body_b)
        _read_ok(sock)
        with pytest.raises(ConnectionResetError):  # the proxy reset A at the switch
            _recv_until_reset(conn_a)
        sock.close()
        (record,) = server.wait_for_connections(1, ended=True, timeout=TIMEOUT)
        assert a_got + got["b"] - 2 * CHUNK <= record.bytes_from_client <= a_got + got["b"]
    finally:
        sock.close()
        for one in (a, b, *accepted):
            one.close()
