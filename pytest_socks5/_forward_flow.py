"""Backpressure and delivered counts for forwarded HTTP requests (``_http_forward.py``).

Strategy: a tunnel's two protocols pause each other (``_relay.py``); a forwarded
connection has a puller instead: h11 frames every byte, and the forwarder pulls each
side's events and writes them to the other. So the pull loop is where the backpressure
is. After a write it waits (:meth:`Flow.room`) while the transport written to has more
than ``WRITE_HIGH_WATER`` queued (a tunnel side's bound) or the wire's shaper holds more
than its own bound: until the transport's protocol hears the queue drained to a quarter,
as a tunnel resumes, or the shaper has room. Not pulled, a side's bytes wait in the
proxy's read buffers, bounded too: the destination's (:class:`Upstream`) stops being
read past :data:`HELD` bytes, the client's past the connection's handshake buffer limit
(64 KiB). A side that never reads holds the proxy to its queue, a read buffer, and one
h11 event (at most the two buffers' bytes).

Counts: a byte is counted as it is written to its transport, as the relays count it.
What a side's transport and kernel still held when its connection ended with a reset
(the side's or the proxy's) never reached it, and asyncio and uvloop drop the
transport's buffer before the protocol hears: so each side's socket is marked before
its first forwarded byte (:class:`Sent`): at a reset by the side, only what it
acknowledged since stays counted; at the proxy's, what the transport and the kernel had
not sent is taken back, as the relay's reset does — with the relays' own functions
(:mod:`._sockets`: Linux's ``TCP_INFO``; elsewhere nothing is taken back).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Protocol

import h11

from ._connection import ClientConnection
from ._idle_watch import IdleWatch
from ._live_record import LiveRecord
from ._read_buffer import READ_SIZE, BufferedReads
from ._records import CloseHow, Outcome
from ._sockets import (
    WRITE_HIGH_WATER,
    lost_to_reset,
    reset_transport,
    sent_mark,
    unsent_in_kernel,
)

__all__ = ["HELD", "Flow", "Sent", "Upstream"]

#: Destination bytes held for h11 before the destination stops being read: one read
#: more than the forwarder takes at a time when it keeps up (it takes each read).
HELD = READ_SIZE


class Sent:
    """What of the bytes counted as delivered to one side since it was marked never
    reaches it. The socket is marked as the relays mark theirs (:func:`._sockets.sent_mark`,
    before its first forwarded byte), and read with the relays' functions at the end:
    one system call or two a side when marked, none per write, a few at the end."""

    __slots__ = ("base", "count", "mark", "transport")

    def __init__(self, transport: asyncio.Transport, count: Callable[[], int]) -> None:
        self.transport = transport
        self.count = count
        self.base = count()
        mark = sent_mark(transport.get_extra_info("socket"))
        #: Where the next byte written stands in the kernel's count of acknowledged bytes
        #: (bytes still in the transport's buffer are written first); ``None``: unknown.
        self.mark = None if mark is None else mark + transport.get_write_buffer_size()

    def freeze(self) -> None:
        """The side is retired: what is counted for the connection from now on is not
        its (a later origin's), so its own count stops here."""
        total = self.count()
        self.count = lambda: total

    def lost(self, *, resetting: bool = False) -> int:
        """The bytes counted since the mark that never reach the side: with a reset by
        its peer, all it did not acknowledge (:func:`._sockets.lost_to_reset`); with the
        proxy's reset about to come (``resetting``), what the transport and the kernel
        still hold, as the relay's reset counts; else what the transport dropped (an
        abort). 0 where the kernel cannot tell."""
        sock, written = self.transport.get_extra_info("socket"), self.count() - self.base
        lost = lost_to_reset(sock, self.mark, written)
        if lost is not None or self.mark is None:
            return lost or 0
        buffered = self.transport.get_write_buffer_size()
        if resetting:
            return min(written, buffered + unsent_in_kernel(sock))
        handed = sent_mark(sock)  # acknowledged, or in the kernel: it reaches the side
        return 0 if handed is None else max(0, written - (handed + buffered - self.mark))


class Upstream(asyncio.Protocol, BufferedReads):
    """The destination's side of forwarded requests: its bytes, fed to h11 on demand
    (read no further while more than :data:`HELD` wait), and its queue's state for
    :meth:`Flow.room`. Its close (until the proxy retires it) is noted in the record as
    the upstream's; a reset takes back what it did not acknowledge."""

    def __init__(self, record: LiveRecord, transport: asyncio.Transport) -> None:
        self.record = record
        self.transport = transport
        self.sent = Sent(transport, lambda: record.bytes_from_client)
        self.data = bytearray()
        self.eof = False
        self.fed_eof = False
        #: Reading was paused because :data:`HELD` bytes wait.
        self.held = False
        #: The last response said the destination closes after it (RFC 9112 §9.6).
        self.closing = False
        #: The proxy closed this connection itself (another origin, or the end).
        self.retired = False
        #: ... and reset it, what it had not acknowledged taken back (see retire).
        self.reset_by_proxy = False
        self.waiter: asyncio.Future[None] | None = None

    def data_received(self, data: bytes) -> None:
        self.data += data
        if len(self.data) > HELD and not self.held:
            self.held = True
            self.transport.pause_reading()
        self.wake()

    def eof_received(self) -> bool:
        self._closed("fin")
        return True

    def resume_writing(self) -> None:
        self.wake()  # the queue to the destination drained: a waiting forwarder goes on

    def connection_lost(self, exc: Exception | None) -> None:
        if exc is not None and not self.reset_by_proxy:  # reset: what it acknowledged
            self.record.undelivered("upstream", self.sent.lost())  # reached it, no more
        self._closed("fin" if exc is None else "rst")

    def retire(self) -> None:
        """The proxy is done with this destination (another origin, the end, idle): its
        count stops where it is, and, if bytes are still queued for it (it stopped
        reading), they are taken back and it is reset, as a tunnel passes a reset on; a
        close would wait for it for as long as it does not read. Idempotent."""
        if not self.retired:
            self.retired = True
            self.sent.freeze()
        if not self.reset_by_proxy and self.transport.get_write_buffer_size():
            self.record.undelivered("upstream", self.sent.lost(resetting=True))
            self.reset_by_proxy = True
            with contextlib.suppress(OSError):
                reset_transport(self.transport)

    def _closed(self, how: CloseHow) -> None:
        if not self.eof and not self.retired:
            self.record.note_close("upstream", how)
        self.eof = True
        self.wake()

    def wake(self) -> None:
        """Resume the forwarder waiting on this side (or on the client: :meth:`or_client`)."""
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(None)

    async def next_event(self, up: h11.Connection) -> object:
        while True:
            event = up.next_event()
            if event is not h11.NEED_DATA:
                return event
            if self.data:
                up.receive_data(bytes(self.data))
                self.data.clear()
                if self.held:
                    self.held = False
                    self.transport.resume_reading()
            elif self.eof and not self.fed_eof:
                self.fed_eof = True
                up.receive_data(b"")
            else:
                self.waiter = asyncio.get_running_loop().create_future()
                await self.waiter

    async def or_client(self, conn: ClientConnection) -> None:
        """Wait for the client's next bytes, EOF, loss or drained queue, or this side's
        close, drained queue or a shaper's room (:meth:`wake`)."""
        self.waiter = asyncio.get_running_loop().create_future()
        await asyncio.wait((conn.wakeup(), self.waiter), return_when=asyncio.FIRST_COMPLETED)


class Shaped(Protocol):
    """A direction of the wire (``_forward_wire.Way``), as far as the flow needs it."""

    #: Its shaper holds more than it takes: the forwarder waits (``Way.pause_source``).
    full: bool


class Flow:
    """The backpressure and the end of one forwarded connection: the client's socket
    marked before its first forwarded byte, and the destination forwarded to now."""

    __slots__ = ("client", "conn", "upstream")

    def __init__(self, conn: ClientConnection) -> None:
        assert conn.transport is not None
        self.conn = conn
        record = conn.record
        self.client = Sent(conn.transport, lambda: record.bytes_to_client)
        self.upstream: Upstream | None = None
        conn.add_cleanup(self.settle)

    async def room(self, target: asyncio.Transport, way: Shaped | None) -> None:
        """After a write to ``target`` (through ``way``, with a wire): while its queue is
        past the high-water mark, or the way's shaper past its bound, wait, or until the
        connection is ending. A queue past the mark has paused its protocol, which hears
        when it has drained to a quarter (``resume_writing``); the size is not compared
        with the quarter here, as a shaper may write between that and this (and nothing
        would tell of the queue draining then)."""
        upstream, record = self.upstream, self.conn.record
        assert upstream is not None
        while (
            (target.get_write_buffer_size() > WRITE_HIGH_WATER or (way is not None and way.full))
            and not target.is_closing()
            and record.outcome is Outcome.OPEN
        ):
            await upstream.or_client(self.conn)

    def idle_watch(self, timeout: float) -> IdleWatch:
        """``idle_timeout`` on this connection, as on a tunnel (:mod:`._idle_watch`): no
        byte moved either way for ``timeout`` and nothing drained from either queue, and
        the record ends ``idle-timeout``; the client's connection is closed (aborted if
        bytes wait for it), the destination's retired (:meth:`Upstream.retire`) and
        closed."""
        conn = self.conn

        def queued() -> tuple[int, ...]:
            sides = conn.transport, self.upstream and self.upstream.transport
            return tuple(
                t.get_write_buffer_size() if t and not t.is_closing() else -1 for t in sides
            )

        def close() -> None:
            if self.upstream is not None:
                self.upstream.retire()
            conn.close_upstream()
            client = conn.transport
            if client is not None and client.get_write_buffer_size():
                client.abort()
            elif client is not None:
                client.close()

        watch = IdleWatch(conn.record, timeout, queued, close, conn.internal_error)
        conn.add_cleanup(watch.cancel)
        return watch

    async def delivered(self) -> None:
        """Until the client's queue is handed to its socket (or the client is gone): an
        orderly end counts only what was. Nothing is written to it after: its high-water
        mark is set to 0, so that its protocol hears when it is empty."""
        transport, upstream = self.conn.transport, self.upstream
        assert transport is not None
        assert upstream is not None
        if transport.get_write_buffer_size() and not transport.is_closing():
            transport.set_write_buffer_limits(high=0)
        while transport.get_write_buffer_size() and not transport.is_closing():
            await upstream.or_client(self.conn)

    def settle(self) -> None:
        """The connection is over (a cleanup: before its waiters hear of the end). The
        client's bytes lost to a reset are taken back; a destination still holding bytes
        queued for it, with the client gone, is reset (what it did not acknowledge taken
        back first), as a tunnel passes a reset on: closed with a FIN, it would stay open
        as long as it does not read them."""
        record = self.conn.record
        record.undelivered("client", self.client.lost())
        if self.upstream is not None and self.upstream.transport.get_write_buffer_size():
            self.upstream.retire()
