"""Instruments for the reliability tests: what the server holds, counted from inside.

Everything here reads the server's state on its own event loop (never from the test's
thread while the loop mutates it), and every wait is a bounded poll of a condition.
"""

from __future__ import annotations

import asyncio
import errno
import ipaddress
import os
import select
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TypeVar

import pytest

from pytest_socks5 import SOCKS5Server

from .helpers import connect, recv_exactly, socks5_request

T = TypeVar("T")

#: The test scale: CI runs the defaults; ``SOCKS5_SOAK_SECONDS=600`` etc. by hand.
SOAK_SECONDS = float(os.environ.get("SOCKS5_SOAK_SECONDS", "8"))
SOAK_CONCURRENCY = int(os.environ.get("SOCKS5_SOAK_CONCURRENCY", "32"))
CYCLES = int(os.environ.get("SOCKS5_CYCLES", "2000"))
FUZZ_EXAMPLES = int(os.environ.get("SOCKS5_FUZZ_EXAMPLES", "1000"))
FUZZ_SECONDS = float(os.environ.get("SOCKS5_FUZZ_SECONDS", "6"))
STORM_CONNECTIONS = int(os.environ.get("SOCKS5_STORM_CONNECTIONS", "1000"))


def count_fds() -> int:
    """Open file descriptors of this process."""
    return len(os.listdir("/proc/self/fd"))


needs_proc = pytest.mark.skipif(
    not os.path.isdir("/proc/self/fd"), reason="counting file descriptors needs /proc"
)


def wait_until(condition: Callable[[], bool], *, timeout: float, what: str) -> None:
    """Poll ``condition`` until it holds; fail with ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {timeout:g}s for {what}")
        time.sleep(0.01)


def on_loop(server: SOCKS5Server, fn: Callable[[], T]) -> T:
    """Run ``fn`` on the server's event loop and return its result."""
    loop = server._loop
    assert loop is not None

    async def call() -> T:
        return fn()

    return asyncio.run_coroutine_threadsafe(call(), loop).result(10)


@dataclass(frozen=True, kw_only=True)
class Held:
    """What the server holds in user space, in bytes, at one moment."""

    connections: int
    handshake_buffered: int
    to_clients: int
    to_upstreams: int
    reading_upstreams: int
    reading_clients: int

    @property
    def total(self) -> int:
        return self.handshake_buffered + self.to_clients + self.to_upstreams


def held(server: SOCKS5Server) -> Held:
    """Bytes queued by the server's transports and unparsed handshake bytes, measured on
    the server's own loop."""
    return on_loop(server, lambda: measure_held(server))


def measure_held(server: SOCKS5Server) -> Held:
    """:func:`held` for a caller already running on the server's loop."""
    handshake = to_clients = to_upstreams = reading_up = reading_cl = 0
    active = list(server._engine.registry)
    for h in active:
        handshake += h.conn.buffered
        if h.transport is not None and not h.transport.is_closing():
            to_clients += h.transport.get_write_buffer_size()
            reading_cl += h.transport.is_reading()
        peer = h.relay.peer if h.relay is not None else None
        if peer is not None and peer.transport is not None and not peer.lost:
            to_upstreams += peer.transport.get_write_buffer_size()
            reading_up += peer.transport.is_reading()
    return Held(
        connections=len(active),
        handshake_buffered=handshake,
        to_clients=to_clients,
        to_upstreams=to_upstreams,
        reading_upstreams=reading_up,
        reading_clients=reading_cl,
    )


def plugin_threads() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if t is not threading.main_thread()}


@contextmanager
def loopback_listener(backlog: int = 16) -> Iterator[socket.socket]:
    """A listening socket on 127.0.0.1 that the test accepts from itself (no threads)."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(backlog)
        listener.settimeout(10)
        yield listener


@contextmanager
def blackhole() -> Iterator[tuple[tuple[str, int], socket.socket]]:
    """A loopback address where a connect neither succeeds nor fails, and its listener.

    A listener whose accept queue is full drops further SYNs (Linux), like a firewalled
    host; accepting the connection that fills it lets the next SYN retry in (about a
    second later), which makes a slow destination.
    """
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        listener.settimeout(10)
        address = listener.getsockname()
        with socket.create_connection(address, timeout=5):  # fills the queue
            with socket.socket() as probe:
                probe.setblocking(False)
                probe.connect_ex(address)
                # The queue holds the filler; a second connect must stay pending.
                _, writable, _ = select.select([], [probe], [], 0.3)
                if writable:
                    pytest.skip("this kernel completes connects beyond the accept queue")
            yield address, listener


def pump_until(
    sock: socket.socket,
    condition: Callable[[], bool],
    *,
    chunk: bytes,
    timeout: float = 20.0,
    already: int = 0,
) -> int:
    """Write ``chunk`` repeated into ``sock`` whenever the kernel takes more, until
    ``condition()`` holds at a moment when it takes no more; return how many bytes went
    in. The stream continues where ``already`` bytes of an earlier call left it, so
    byte ``i`` of everything written is ``chunk[i % len(chunk)]``."""
    sent = 0
    sock.setblocking(False)
    deadline = time.monotonic() + timeout
    try:
        while True:
            at = (already + sent) % len(chunk)
            try:
                sent += sock.send(chunk[at:] + chunk[:at])
                continue
            except BlockingIOError:
                pass
            if condition():
                return sent
            if time.monotonic() > deadline:
                raise AssertionError(f"waited {timeout:g}s for the condition ({sent} bytes)")
            time.sleep(0.005)
    finally:
        sock.setblocking(True)


def open_tunnel(proxy: tuple[str, int], target: tuple[str, int]) -> socket.socket:
    """A raw socket through the proxy to ``target`` (the caller closes it)."""
    sock = connect(proxy)
    try:
        sock.sendall(b"\x05\x01\x00" + socks5_request(*target))
        answer = recv_exactly(sock, 12)
    except BaseException:
        sock.close()
        raise
    assert answer[:4] == b"\x05\x00\x05\x00", answer.hex(" ")
    return sock


def confine_to_loopback(server: SOCKS5Server) -> None:
    """A safety net for tests that send random bytes: if they ever form a request, the
    server must not dial beyond loopback nor ask a resolver. Its event loop's lookup
    refuses every name but ``localhost`` and its connect refuses every other address."""
    loop = server._loop
    assert loop is not None
    real_lookup, real_connect = loop.getaddrinfo, loop.create_connection

    async def getaddrinfo(host: str, *args: object, **kwargs: object) -> object:
        if host != "localhost":
            raise socket.gaierror(socket.EAI_NONAME, f"{host!r}: no lookups in this test")
        return await real_lookup(host, *args, **kwargs)  # type: ignore[arg-type]

    async def create_connection(factory: object, host: str, *args: object, **kw: object):
        if not ipaddress.ip_address(host).is_loopback:
            raise ConnectionRefusedError(errno.ECONNREFUSED, f"{host}: loopback only here")
        return await real_connect(factory, host, *args, **kw)  # type: ignore[arg-type]

    async def patch() -> None:  # on the loop's own thread
        loop.getaddrinfo = getaddrinfo  # type: ignore[method-assign,assignment]
        loop.create_connection = create_connection  # type: ignore[method-assign,assignment]

    asyncio.run_coroutine_threadsafe(patch(), loop).result(5)
