"""The relay reads every tunnel of a loop into one shared buffer and writes each chunk
to the other side as a view of it. A transport that cannot send a view at once keeps
it; the next read, of any tunnel, must then go into a new buffer, never over the kept
chunk. These tests make transports keep views while other tunnels read, and check that
every byte still arrives as it was sent."""

from __future__ import annotations

import hashlib
import random
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest

from pytest_socks5 import SOCKS5Server
from pytest_socks5._live_record import LiveRecord
from pytest_socks5._read_buffer import READ_SIZE, BufferedReads, ReadBuffer
from pytest_socks5._relay import RelaySide
from pytest_socks5.rawclient import open_tunnel, recv_all, socks4_request

from .helpers import TIMEOUT, recv_exactly, socks5_request
from .reliability import on_loop

MakeServer = Callable[..., SOCKS5Server]

#: Far more than the kernel's socket buffers and the proxy's write queue together, so
#: that a client that does not read makes the proxy's transport keep chunks.
STREAM = 6 * 1024 * 1024


@contextmanager
def sender(stream: bytes) -> Iterator[tuple[str, int]]:
    """A loopback destination that sends ``stream`` to the first client, then FIN."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(TIMEOUT)
    errors: list[BaseException] = []

    def send() -> None:
        try:
            conn, _ = listener.accept()
            with conn:
                conn.sendall(stream)
                conn.shutdown(socket.SHUT_WR)
                conn.settimeout(TIMEOUT)
                conn.recv(1)  # until the client is done: its FIN or reset
        except OSError as exc:
            errors.append(exc)

    thread = threading.Thread(target=send, daemon=True)
    thread.start()
    with listener:
        yield listener.getsockname()
        thread.join(TIMEOUT)
    assert not thread.is_alive()
    assert errors == []


def test_a_kept_chunk_is_never_overwritten_by_another_tunnels_read(
    make_server: MakeServer,
) -> None:
    """Tunnel A's client reads nothing while tunnel B's whole stream goes through the
    same loop; then A's client reads. Both streams arrive byte-exact."""
    server = make_server()
    rng = random.Random(1928)
    stream_a, stream_b = rng.randbytes(STREAM), rng.randbytes(STREAM)
    with (
        sender(stream_a) as target_a,
        sender(stream_b) as target_b,
        open_tunnel(server.address, *target_a) as client_a,
    ):
        with open_tunnel(server.address, *target_b) as client_b:
            got_b = recv_all(client_b)  # A's transport keeps chunks all this while
        got_a = recv_all(client_a)
    assert hashlib.sha256(got_b).hexdigest() == hashlib.sha256(stream_b).hexdigest()
    assert len(got_a) == len(stream_a)
    assert got_a == stream_a


def test_both_ways_at_once_through_many_tunnels_arrive_byte_exact(
    make_server: MakeServer, echo_server: tuple[str, int]
) -> None:
    """Eight tunnels to an echo destination, each client writing its own stream while
    the echo comes back, so reads of one tunnel land between the kept writes of others."""
    server = make_server()
    size = 1024 * 1024
    results: dict[int, bytes] = {}
    errors: list[BaseException] = []

    def run(index: int) -> None:
        stream = random.Random(index).randbytes(size)
        try:
            with open_tunnel(server.address, *echo_server) as sock:
                writer = threading.Thread(
                    target=lambda: (sock.sendall(stream), sock.shutdown(socket.SHUT_WR))
                )
                writer.start()
                results[index] = recv_all(sock)
                writer.join(TIMEOUT)
            assert results[index] == stream
        except BaseException as exc:  # reported below, with the tunnel's index
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(TIMEOUT * 3)
    assert errors == []
    assert sorted(results) == list(range(8))


def test_the_read_buffer_is_the_threads_own_and_renewed_not_reused() -> None:
    """One buffer per thread, made at its first read; :meth:`ReadBuffer.renew` gives a
    new one and leaves a kept view of the old one as it was."""
    read = ReadBuffer()
    assert "buffer" not in vars(read)  # nothing is made until a thread reads
    first = read.buffer
    assert len(first) == READ_SIZE
    first[:3] = b"abc"
    kept = memoryview(first)[:3]
    read.renew()
    assert read.buffer is not first
    read.buffer[:3] = b"xyz"
    assert bytes(kept) == b"abc"
    seen: list[bytearray] = []
    other = threading.Thread(target=lambda: seen.append(read.buffer))
    other.start()
    other.join(TIMEOUT)
    assert seen[0] is not read.buffer


class _Transport:
    """Stands in for a peer's transport: sends nothing at once and keeps what it is
    given as it is (``keeps``: uvloop, asyncio from 3.12), or copies it (asyncio 3.11)."""

    def __init__(self, *, keeps: bool) -> None:
        self.keeps = keeps
        self.queued: list[memoryview | bytes] = []

    def write(self, data: memoryview) -> None:
        self.queued.append(data if self.keeps else bytes(data))


def _side() -> RelaySide:
    side = RelaySide(LiveRecord(id=1, client_address=("127.0.0.1", 1)), "client")
    side.early = None
    return side


def test_a_chunk_the_transport_keeps_makes_the_next_read_go_to_a_new_buffer() -> None:
    """The loop reads each chunk into the buffer the side gives it; a transport that
    keeps the chunk's view takes that buffer with it, so the next read cannot change
    what it queued. One that copies leaves the buffer to be read into again."""
    for keeps in (True, False):
        side, transport = _side(), _Transport(keeps=keeps)
        side.direct = transport  # type: ignore[assignment]
        first = side.get_buffer(-1)
        first[:5] = b"first"
        side.buffer_updated(5)
        second = side.get_buffer(-1)
        assert (second is not first) == keeps
        second[:5] = b"again"
        side.buffer_updated(5)
        assert [bytes(chunk) for chunk in transport.queued] == [b"first", b"again"]
        assert side.record.bytes_from_client == 10


def test_a_chunk_that_does_not_go_straight_to_the_peer_is_copied_out() -> None:
    """A held chunk (before the tunnel opens) is kept as bytes of its own: the buffer is
    read into again at once."""
    side = _side()
    side.early = []
    buffer = side.get_buffer(-1)
    buffer[:4] = b"held"
    side.buffer_updated(4)
    buffer[:4] = b"next"
    assert side.early == [b"held"]
    assert side.get_buffer(-1) is buffer


def test_asyncio_makes_no_read_sized_object_per_read(
    echo_server: tuple[str, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    """asyncio reads a plain protocol's bytes with ``recv(256 KiB)``, an object of that
    size per read; the server's protocols are buffered ones, so handshakes and small
    exchanges through asyncio read with ``recv_into`` and never ask ``recv`` for a
    read-sized object. uvloop reads into a buffer of its own either way."""
    sizes: list[int] = []
    recv = socket.socket.recv

    def watched(sock: socket.socket, size: int, *flags: int) -> bytes:
        if threading.current_thread() is not threading.main_thread():
            sizes.append(size)  # the server's thread (the client is this one)
        return recv(sock, size, *flags)

    monkeypatch.setattr(socket.socket, "recv", watched)
    with SOCKS5Server(loop="asyncio") as server:
        for _ in range(5):
            with open_tunnel(server.address, *echo_server) as sock:
                sock.sendall(b"ping")
                assert recv_exactly(sock, 4) == b"ping"
        server.wait_for_connections(5)
    assert [size for size in sizes if size >= READ_SIZE] == []


def test_every_stream_protocol_of_the_server_reads_into_the_buffer() -> None:
    """The handshake, the relay, the HTTP front end's upstream, virtual destinations and
    the UDP control connection: each is a buffered protocol on asyncio, so none makes a
    read-sized object per read (and each is an ``asyncio.Protocol``, which uvloop calls
    with bytes)."""
    import asyncio
    import importlib
    import pkgutil

    import pytest_socks5

    for module in pkgutil.iter_modules(pytest_socks5.__path__):
        importlib.import_module(f"pytest_socks5.{module.name}")
    found, pending = [], list(asyncio.Protocol.__subclasses__())
    while pending:
        cls = pending.pop()
        pending.extend(cls.__subclasses__())
        if cls.__module__.startswith("pytest_socks5."):
            found.append(cls)
    names = {cls.__name__ for cls in found}
    assert {"ClientConnection", "RelaySide", "Upstream", "_Service", "_Control"} <= names
    assert [cls for cls in found if not issubclass(cls, BufferedReads)] == []


@pytest.mark.parametrize("version", [5, 4], ids=["socks5", "socks4"])
def test_a_destination_that_speaks_first_is_held_until_the_reply(
    make_server: MakeServer, version: int
) -> None:
    """The destination sends a stream and FIN the moment it is connected, while a gate
    holds the reply. The proxy keeps the first chunk and stops reading (the destination
    waits in its kernel buffers, however much it sends); after the release the client
    gets the success reply first, then the whole stream byte-exact."""
    server = make_server(socks4=True)
    stream = random.Random(1929).randbytes(STREAM)
    gate = server.hold("reply")
    with sender(stream) as target, socket.create_connection(server.address, TIMEOUT) as client:
        client.settimeout(TIMEOUT)
        if version == 5:
            client.sendall(b"\x05\x01\x00" + socks5_request(*target))
        else:
            client.sendall(socks4_request(*target))
        gate.wait(TIMEOUT)

        def holding() -> tuple[int, bool] | None:
            (connection,) = server._engine.registry
            upstream = connection.upstream
            assert upstream is not None
            assert upstream.transport is not None
            if not upstream.early:
                return None  # nothing came yet
            return sum(map(len, upstream.early)), upstream.transport.is_reading()

        deadline = time.monotonic() + TIMEOUT
        while (held := on_loop(server, holding)) is None and time.monotonic() < deadline:
            time.sleep(0.01)
        assert held is not None
        held_bytes, reading = held
        assert 0 < held_bytes <= READ_SIZE
        assert not reading
        gate.release()
        if version == 5:
            assert recv_exactly(client, 2) == b"\x05\x00"
            assert recv_exactly(client, 10)[:2] == b"\x05\x00"
        else:
            assert recv_exactly(client, 8)[:2] == b"\x00\x5a"  # CD 90: granted
        got = recv_all(client)
    assert len(got) == len(stream)
    assert got == stream
