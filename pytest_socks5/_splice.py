"""Zero-copy relaying with Linux ``splice(2)``, for tunnels nothing needs to look into.

Strategy: the bytes of an ordinary tunnel go socket → kernel → Python → kernel → socket.
With ``splice`` they go socket → pipe → socket without ever entering Python, which cuts
the proxy's CPU per byte. It is used (``SOCKS5Server(splice=True)``) only for a tunnel
that no transfer fault and no payload capture has to see; everything else takes the
ordinary relay. The sockets are duplicated out of their asyncio transports (closing a
duplicate sends nothing), and each direction is driven by readiness events: read into the
pipe when the source is readable, drain the pipe into the destination, and stop reading
the source while the destination is full (backpressure). The events come from an epoll
set of the tunnel's own, which the loop watches as one descriptor (see ``_Readiness``:
uvloop drops a raw socket's watcher at its first error).
EOF is forwarded with ``shutdown(SHUT_WR)``, so half-close is honoured as in the ordinary
relay.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import fcntl
import os
import select
import socket
from collections.abc import Callable

from ._guard import OnError, guarded, ignore, reraise
from ._recorder import LiveRecord
from ._records import CloseHow, Outcome
from ._sockets import (
    duplicate,
    lost_to_reset,
    reset_on_close,
    send_fin,
    sent_mark,
    unsent_in_kernel,
)

__all__ = ["AVAILABLE", "SpliceTunnel"]

AVAILABLE = hasattr(os, "splice") and hasattr(select, "epoll")
_FLAGS = getattr(os, "SPLICE_F_MOVE", 1) | getattr(os, "SPLICE_F_NONBLOCK", 2)
_PIPE_SIZE = 1 << 20
_F_SETPIPE_SZ = getattr(fcntl, "F_SETPIPE_SZ", 1031)
#: What a direction waits for: its source readable, its destination writable (epoll's
#: values; read with getattr so the module imports where there is no epoll).
_IN, _OUT = getattr(select, "EPOLLIN", 1), getattr(select, "EPOLLOUT", 4)
_KINDS = (_IN, _OUT)


def _adopt(transport: asyncio.Transport) -> socket.socket:
    """A duplicate of the transport's socket; the transport is then dropped silently."""
    dup = duplicate(transport.get_extra_info("socket"))
    dup.setblocking(False)
    transport.set_protocol(asyncio.Protocol())  # its connection_lost must not reach us
    transport.abort()  # closes the transport's descriptor only: no FIN, no RST
    return dup


class _Direction:
    """One way through the tunnel: ``src`` → pipe → ``dst``."""

    def __init__(
        self, tunnel: SpliceTunnel, src: socket.socket, dst: socket.socket, name: str
    ) -> None:
        self.tunnel = tunnel
        self.src, self.dst = src, dst
        self.name = name
        self.pipe_r, self.pipe_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        with contextlib.suppress(OSError):
            fcntl.fcntl(self.pipe_w, _F_SETPIPE_SZ, _PIPE_SIZE)
        self.pending = 0
        self.eof = False
        self.done = False
        self.reading = False
        self.writing = False

    @property
    def on_error(self) -> OnError:
        return self.tunnel.on_error

    def start(self) -> None:
        self._read(True)

    def waits(self, kind: int, fd: int) -> bool:
        """Whether this direction waits for ``kind`` (EPOLLIN: its source readable;
        EPOLLOUT: its destination writable) on ``fd``."""
        if kind == _IN:
            return self.reading and self.src.fileno() == fd
        return self.writing and self.dst.fileno() == fd

    def act(self, kind: int) -> None:
        """What ``kind`` of readiness (or an error on that socket) sets going."""
        if kind == _IN:
            self.readable()
        else:
            self.writable()

    def _read(self, on: bool) -> None:
        if on != self.reading:
            self.reading = on
            self.tunnel.interest_changed(self.src.fileno())

    def _write(self, on: bool) -> None:
        if on != self.writing:
            self.writing = on
            self.tunnel.interest_changed(self.dst.fileno())

    @guarded
    def readable(self) -> None:
        try:
            n = os.splice(self.src.fileno(), self.pipe_w, _PIPE_SIZE, flags=_FLAGS)
        except BlockingIOError:
            return
        except OSError as exc:
            self.tunnel.fail(self.name, exc)
            return
        if n == 0:
            self.eof = True
            self._read(False)
        else:
            self.pending += n
            # Counted as it enters the pipe, so a reader of the record never lags the
            # peer; what the pipe still holds when the tunnel closes is taken back.
            self.tunnel.record.spliced(self.name, n)
        self.writable()

    @guarded
    def writable(self) -> None:
        while self.pending:
            try:
                n = os.splice(self.pipe_r, self.dst.fileno(), self.pending, flags=_FLAGS)
            except BlockingIOError:
                self._read(False)  # the destination is full: stop reading the source
                self._write(True)
                return
            except OSError as exc:  # the destination's error (a reset): it closed
                self.tunnel.fail("upstream" if self.name == "client" else "client", exc)
                return
            self.pending -= n
        self._write(False)
        if self.eof:
            self._finish()
        else:
            self._read(True)

    def _finish(self) -> None:
        if self.done:
            return
        self.done = True
        self.tunnel.record.note_close(self.name, "fin")
        with contextlib.suppress(OSError):
            self.dst.shutdown(socket.SHUT_WR)
        self.tunnel.direction_done()

    def close(self) -> None:
        self._read(False)
        self._write(False)
        if self.pending:  # read, never delivered
            self.tunnel.record.spliced(self.name, -self.pending)
            self.pending = 0
        for fd in (self.pipe_r, self.pipe_w):
            with contextlib.suppress(OSError):
                os.close(fd)


class _Readiness:
    """The two sockets' readiness, from an epoll set of the tunnel's own that the event
    loop watches as one readable descriptor.

    Why not ``loop.add_reader`` on the sockets: libuv (uvloop) drops the watcher of a
    socket that reports an error — a reset — and tells only the loop's exception handler,
    so a reset arriving while a direction waited hung the tunnel on uvloop. An epoll
    descriptor never errors; a socket's error arrives here as an event like any other,
    on either loop. A socket that hangs up while nobody waits on it is parked (taken out
    of the set, which would otherwise report it forever) until someone waits on it again.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, ready: Callable[[int, int], None]):
        self.loop = loop
        self.epoll = select.epoll()
        self.ready = ready
        self.masks: dict[int, int] = {}  # registered sockets and their masks
        loop.add_reader(self.epoll.fileno(), self._poll)

    def want(self, fd: int, mask: int) -> None:
        """Wait for ``mask`` (EPOLLIN/EPOLLOUT) on ``fd``; 0: only for its errors."""
        current = self.masks.get(fd)
        if current is None:
            if not mask:
                return  # parked, or never waited on: nothing to wait for
            self.epoll.register(fd, mask)
        elif current != mask:
            self.epoll.modify(fd, mask)
        self.masks[fd] = mask

    def park(self, fd: int) -> None:
        if self.masks.pop(fd, None) is not None:
            self.epoll.unregister(fd)

    def _poll(self) -> None:
        for fd, events in self.epoll.poll(0):
            if fd in self.masks:  # not parked or closed by an earlier event
                self.ready(fd, events)

    def close(self) -> None:
        self.loop.remove_reader(self.epoll.fileno())
        self.epoll.close()
        self.masks.clear()


class SpliceTunnel:
    """Both directions of a tunnel relayed with ``splice``; ``on_done`` runs once at the end."""

    def __init__(
        self,
        client: asyncio.Transport,
        upstream: asyncio.Transport,
        record: LiveRecord,
        on_done: Callable[[], None],
    ) -> None:
        self.loop = asyncio.get_running_loop()
        self.record = record
        self.on_done = on_done
        self.client = _adopt(client)
        self.upstream = _adopt(upstream)
        #: Each socket's sent_mark before the first payload byte (see close_tunnel).
        self.marks = (sent_mark(self.client), sent_mark(self.upstream))
        self.directions: tuple[_Direction, ...] = (
            _Direction(self, self.client, self.upstream, "client"),
            _Direction(self, self.upstream, self.client, "upstream"),
        )
        self.closed = False
        #: Where a bug in a callback goes (the connection's, once it takes the tunnel).
        self.on_error: OnError = reraise
        self.readiness = _Readiness(self.loop, self.ready)

    def interest_changed(self, fd: int) -> None:
        """A direction started or stopped waiting on ``fd``."""
        mask = 0
        for direction in self.directions:
            for kind in _KINDS:
                if direction.waits(kind, fd):
                    mask |= kind
        self.readiness.want(fd, mask)

    @guarded
    def ready(self, fd: int, events: int) -> None:
        """``fd`` is readable, writable or in error: call whoever waits on it."""
        error = events & (select.EPOLLERR | select.EPOLLHUP)
        waited = False
        for direction in self.directions:
            for kind in _KINDS:
                if self.closed:
                    return
                if direction.waits(kind, fd):
                    waited = True
                    if events & kind or error:
                        direction.act(kind)
        if not error or waited or self.closed:
            return
        sock, name = (
            (self.client, "client") if fd == self.client.fileno() else (self.upstream, "upstream")
        )
        code = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if code:  # a reset while nobody waits: passed on at once, as the plain relay does
            self.fail(name, OSError(code, os.strerror(code)))
        else:  # a hang-up (both ways closed): seen when a direction next waits on it
            self.readiness.park(fd)

    @guarded
    def start(self, early_data: bytes = b"", early_eof: bool = False) -> None:
        """Start relaying; ``early_data`` arrived from the client before the tunnel."""
        if early_data:
            try:
                self.upstream.sendall(early_data)  # small: a few bytes sent with the request
            except BlockingIOError:
                self.loop.call_soon(self.start, early_data, early_eof)
                return
            self.record.spliced("client", len(early_data))
        client_side, upstream_side = self.directions
        if early_eof:
            client_side.eof = True
            client_side._finish()
        else:
            client_side.start()
        upstream_side.start()

    def direction_done(self) -> None:
        if all(d.done for d in self.directions):
            self.record.end(Outcome.CLOSED, closed_by=self.record.closed_by)
            self.close_tunnel(abort=False)

    def fail(self, name: str, exc: OSError) -> None:
        how: CloseHow = "rst" if exc.errno in (errno.ECONNRESET, errno.EPIPE) else "error"
        self.record.note_close(name, how)
        error = f"{name}: {exc!r}"
        # Ended once the sockets are closed: a reader who sees it ended sees final counts.
        self.close_tunnel(
            abort=True,
            then=lambda: self.record.end(Outcome.RESET, closed_by=name, how=how, error=error),
        )

    def close_tunnel(self, *, abort: bool, then: Callable[[], object] | None = None) -> None:
        """Close both sockets (with RST when ``abort``), call ``then``, and tell the
        handshake."""
        if self.closed:
            return
        self.closed = True
        for direction in self.directions:
            direction.close()
        self.readiness.close()
        record = self.record
        for sock, into, mark, written in (
            (self.client, "upstream", self.marks[0], record.bytes_to_client),
            (self.upstream, "client", self.marks[1], record.bytes_from_client),
        ):
            if abort:
                reset_on_close(sock)
                # A socket its peer reset has lost its send queue: only what the peer
                # acknowledged reached it. Ours to reset: the reset discards what the
                # kernel has not sent, read just before the close (a reader may take a
                # few more bytes in between).
                lost = lost_to_reset(sock, mark, written)
                record.spliced(into, -(unsent_in_kernel(sock) if lost is None else lost))
            else:
                send_fin(sock)  # a FIN first, even if the peer sent bytes not read yet
            sock.close()
        if then is not None:
            then()
        self.on_done()
        # Over: nothing of it stays in a reference cycle (its directions and readiness
        # callback hold it, it holds the connection's callbacks) for the collector.
        self.directions = ()
        self.readiness.ready = ignore
        self.on_error, self.on_done = reraise, ignore
