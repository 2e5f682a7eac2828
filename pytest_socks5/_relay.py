"""The open tunnel: two protocols that forward each chunk straight to the other side.

Strategy: no streams, no queues, no copies. Each :class:`RelaySide` writes what it reads
to its peer's transport; when a transport's write buffer passes its high-water mark,
asyncio calls ``pause_writing`` and the *other* side stops reading (backpressure both
ways). EOF is forwarded one way at a time (``write_eof``), so half-close is honoured;
the tunnel closes when both directions have ended or one side is lost (a reset is passed
on as an abort).

A side is both kinds of asyncio protocol (:mod:`pytest_socks5._read_buffer`): asyncio
reads into the thread's read buffer and the chunk goes to the peer as a view of it
(1-byte round trips through asyncio took a third less time than with a bytes object
per read); uvloop hands over bytes, which costs it less per chunk than its buffered
reads.
"""

from __future__ import annotations

import asyncio
import functools
import sys
from collections.abc import Callable

from ._fault_types import ResetAfter
from ._guard import GuardedProtocol, KeptError, OnError, guarded, ignore, interrupted, reraise
from ._read_buffer import READ, BufferedReads
from ._recorder import LiveRecord
from ._records import CloseHow, Outcome
from ._shaping import Shaper
from ._side_reset import dropped, reset_then_end, unsent_at_reset
from ._sockets import WRITE_HIGH_WATER, fin_first, lost_to_reset, reset_transport, sent_mark

__all__ = ["RelaySide"]


class RelaySide(GuardedProtocol, asyncio.Protocol, BufferedReads):
    """One end of an open tunnel: what it reads goes to ``peer``'s transport.

    ``shaper`` is set only when a transfer fault acts on this side's direction; then
    chunks and EOF go through it instead of straight to the peer. With no shaper, data
    hook or held bytes, :meth:`go_direct` gives the hot path its one test: a chunk is
    counted and written to the peer's transport, nothing else.
    """

    __slots__ = (
        "after_reset",
        "delivered",
        "direct",
        "early",
        "eof",
        "eof_settled",
        "lost",
        "mark",
        "marked",
        "name",
        "on_error",
        "peer",
        "record",
        "reset_socket",
        "rewrite",
        "shaper",
        "transport",
        "tunnel_done",
    )

    def __init__(self, record: LiveRecord, name: str) -> None:
        self.record = record
        self.name = name
        self.transport: asyncio.Transport | None = None
        self.peer: RelaySide | None = None
        self.shaper: Shaper | None = None
        #: The test's ``on("data")`` hooks for this direction (``None``: none).
        self.rewrite: Callable[[bytes], bytes] | None = None
        #: This side's EOF: read from its socket, and settled (passed on to the peer, or
        #: swallowed by a blackhole). Between the two, a shaper may still hold this
        #: side's bytes and its EOF.
        self.eof = False
        self.eof_settled = False
        self.lost = False
        #: What arrived before the tunnel opened (the dialled side reads from its
        #: connect on, and pauses at the first bytes: ``_hold``): data, then ``b""`` for
        #: an EOF; see :meth:`replay_early`.
        self.early: list[bytes] | None = []
        self.tunnel_done: Callable[[], None] = ignore
        #: Where a bug in a callback goes: kept until the connection takes this side
        #: (``take_over``), then the connection's.
        self.on_error: OnError = KeptError()
        #: Counts what this side's bytes delivered to the other side.
        self.delivered: Callable[[bytes | memoryview], None] = (
            record.delivered_from_client if name == "client" else record.delivered_to_client
        )
        #: The peer's transport while nothing stands between the two (see go_direct).
        self.direct: asyncio.Transport | None = None
        #: This side's socket once the proxy reset it, until the transport closes it,
        #: and what to call then (see _reset_then_end).
        self.reset_socket: object | None = None
        self.after_reset: Callable[[], None] | None = None
        #: Where the first payload byte written to this side stands in its kernel's
        #: count of acknowledged bytes (see mark_payload); ``None``: not known.
        self.mark: int | None = None
        self.marked = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        # Only the upstream side is created by a connect. Its bytes are held until the
        # tunnel is open, so nothing reaches the client before the success reply: the
        # first that come are kept in ``early`` and reading pauses then (_hold). It is
        # not paused here: a destination that sends nothing first (most) costs no pause
        # and resume, and on asyncio no reader removed before it was added.
        # A stream's transport, never checked: uvloop's transports are not asyncio classes.
        self.transport = transport
        transport.set_write_buffer_limits(high=WRITE_HIGH_WATER)
        # asyncio's selector transports already set TCP_NODELAY on TCP sockets.

    def mark_payload(self) -> None:
        """The first payload byte is about to be written to this side: marked so that a
        reset can count what of the payload reached it (:meth:`connection_lost`); a
        syscall or two per side that is sent payload, none for a tunnel that carries
        none (a handshake's), nothing per chunk."""
        transport = self.transport
        assert transport is not None
        self.marked = True
        mark = sent_mark(transport.get_extra_info("socket"))
        if mark is not None:  # bytes still in the transport's buffer are written after
            self.mark = mark + transport.get_write_buffer_size()

    def go_direct(self) -> None:
        """The tunnel is open: with no shaper, data hook or held bytes, chunks go
        straight to the peer (until the peer is lost)."""
        peer = self.peer
        held = self.shaper is not None or self.rewrite is not None or self.early is not None
        if held or peer is None or peer.transport is None or peer.lost:
            return
        if peer.marked:  # else the first chunk marks it (_data), then goes direct
            self.direct = peer.transport

    def buffer_updated(self, nbytes: int) -> None:
        # The hot path, guarded here rather than by a wrapper (one call less per chunk).
        try:
            direct, buffer = self.direct, READ.buffer
            if direct is not None:
                references = sys.getrefcount(buffer)
                data = memoryview(buffer)[:nbytes]
                self.delivered(data)  # before the write: a record never lags the peer
                direct.write(data)
                del data
                if sys.getrefcount(buffer) > references:  # the transport kept a view
                    READ.renew()
            else:
                self._data(bytes(memoryview(buffer)[:nbytes]))
        except Exception as exc:
            self.on_error(exc)
        except KeyboardInterrupt as exc:
            interrupted(exc)

    buffer_updated.__guarded__ = True  # type: ignore[attr-defined]

    def data_received(self, data: bytes) -> None:
        # The same hot path, for a loop that hands over bytes (uvloop: see the module's
        # docstring), and for a chunk held before the tunnel opened.
        try:
            direct = self.direct
            if direct is not None:
                self.delivered(data)  # before the write: a record never lags the peer
                direct.write(data)
            else:
                self._data(data)
        except Exception as exc:
            self.on_error(exc)
        except KeyboardInterrupt as exc:
            interrupted(exc)

    data_received.__guarded__ = True  # type: ignore[attr-defined]

    def _data(self, data: bytes) -> None:
        if self.early is not None:
            self._hold(data)
            return
        if self.rewrite is not None and not (data := self.rewrite(data)):
            return
        if self.shaper is not None:
            self.shaper.feed(data)
            return
        peer = self.peer
        assert peer is not None
        assert peer.transport is not None
        if peer.lost:  # gone, and a blackhole kept the tunnel open: nowhere to deliver
            return
        if not peer.marked:  # the first payload byte to the peer: the later ones go direct
            peer.mark_payload()
            self.go_direct()
        self.delivered(data)  # before the write: a reader of the record never lags the peer
        peer.transport.write(data)

    def _hold(self, data: bytes) -> None:
        assert self.early is not None
        self.early.append(data)
        if self.transport is not None:
            self.transport.pause_reading()

    def replay_early(self) -> None:
        """The tunnel is open: pass on what arrived before, in order."""
        early, self.early = self.early or [], None
        for data in early:
            if data:
                self.data_received(data)
            else:
                self.eof_received()

    # -- what a shaper drives (see ShapedSide) ------------------------------------------

    def pause_source(self) -> None:
        if self.transport is not None:
            self.transport.pause_reading()

    def resume_source(self) -> None:
        if self.transport is not None:
            self.transport.resume_reading()

    def peer_writable(self) -> bool:
        peer = self.peer
        return peer is not None and peer.transport is not None and not peer.transport.is_closing()

    def deliver(self, data: bytes) -> None:
        peer = self.peer
        assert peer is not None
        assert peer.transport is not None
        if not peer.marked:
            peer.mark_payload()
        self.delivered(data)  # before the write: a reader of the record never lags the peer
        peer.transport.write(data)

    def eof_received(self) -> bool:
        if self.early is not None:
            self._hold(b"")
            return True
        self.eof = True
        self.record.note_close(self.name, "fin")
        if self.shaper is not None:
            self.shaper.feed_eof()
        else:
            self.forward_eof()
        return True

    def forward_eof(self) -> None:
        """Pass this side's EOF on: half-close the peer, or close both if the peer's EOF
        is settled too (the peer closed itself: even a blackhole's tunnel ends then); a
        blackhole swallows it otherwise, and the peer hears nothing.

        The peer's EOF counts once it is settled, not when it arrives: a shaper may
        still be delivering the peer's bytes and its EOF (a latency, a bandwidth limit,
        a slow close), and closing then would throw them away."""
        peer = self.peer
        assert peer is not None
        assert peer.transport is not None
        self.eof_settled = True
        if peer.eof_settled or peer.lost:
            self.close_tunnel(abort=False)
            return
        if self.shaper is not None and self.shaper.swallows_close:
            return
        if not peer.transport.is_closing():
            try:
                peer.transport.write_eof()
            except OSError as exc:  # the peer is already gone
                self.record.note_close(peer.name, "rst")
                self.close_tunnel(abort=True)  # the counts first, then the end
                self.record.end(Outcome.RESET, error=f"{peer.name}: {exc!r}")

    def pause_writing(self) -> None:
        if self.peer is not None and self.peer.transport is not None:
            self.peer.transport.pause_reading()

    def resume_writing(self) -> None:
        if self.peer is not None and self.peer.transport is not None:
            self.peer.transport.resume_reading()

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        if self.reset_socket is not None:  # dropped with RST: its unsent bytes are lost
            sock, self.reset_socket = self.reset_socket, None
            self.record.undelivered(self.name, unsent_at_reset(sock, self.mark, self._written()))
            # Both loops close the socket (the RST) as this returns; the rest waits for
            # that, so a reader who sees the record end finds this side's count final.
            asyncio.get_running_loop().call_soon(self._closed_after_reset, exc)
            return
        if exc is None and not self.eof and self.transport is not None:
            fin_first(self.transport)  # the proxy closed a side that may still be sending
        elif exc is not None and self.transport is not None:
            # Reset by its peer (or failed): the kernel dropped its send queue, and the
            # transport its buffer. Only what the peer acknowledged reached it.
            sock = self.transport.get_extra_info("socket")
            if lost := lost_to_reset(sock, self.mark, self._written()):
                self.record.undelivered(self.name, lost)
        self._lost(exc)

    def _written(self) -> int:
        """The payload counted as delivered to this side."""
        record = self.record
        return record.bytes_to_client if self.name == "client" else record.bytes_from_client

    @guarded
    def _closed_after_reset(self, exc: Exception | None) -> None:
        after, self.after_reset = self.after_reset, None
        if after is not None:
            after()
        self._lost(exc)

    def _lost(self, exc: Exception | None) -> None:
        record, peer = self.record, self.peer
        if peer is not None:
            peer.direct = None  # nowhere to deliver now
        how = _close_how(exc)
        record.note_close(self.name, how)
        if self.shaper is not None and self.shaper.swallows_close:
            self.shaper.cancel()
            if peer is not None and not peer.lost:
                return  # a blackhole: the peer is told nothing; the tunnel ends with it
        for side in (self, peer):
            if side is not None and side.shaper is not None:
                side.shaper.cancel()
        if exc is not None:  # pass the reset on as a reset, not a FIN
            error = f"{self.name}: {exc!r}"
            self._reset_then_end(
                functools.partial(
                    record.end, Outcome.RESET, closed_by=self.name, how=how, error=error
                )
            )
        elif peer is not None and peer.transport is not None and not peer.lost:
            peer.transport.close()
        if peer is None or peer.lost:
            if peer is not None and peer.after_reset is not None:
                return  # the peer's reset is settling: it ends the tunnel
            record.end(Outcome.CLOSED, closed_by=record.closed_by)
            self.tunnel_done()
            if peer is not None:  # an open tunnel, over (a side alone is not yet taken)
                self.release()
                peer.release()

    def release(self) -> None:
        """The tunnel is over and both transports are gone: let go of the peer, the
        transport and the connection's callbacks, so that nothing of the tunnel is held
        in a reference cycle (transport and protocol, the two sides, a side and its
        connection) for the garbage collector to find. A bug after this (none is
        expected: no callback is left) still fails the test, through the server loop's
        exception handler."""
        self.peer = self.direct = self.transport = None
        self.tunnel_done = ignore
        self.on_error = reraise

    def close_tunnel(self, *, abort: bool) -> None:
        # Counts only when neither side closed first: then the proxy did (a fault).
        self.record.note_close("server", "rst" if abort else "fin")
        for side, transport in self.open_sides():
            if abort:
                side.drop(reset=False)
            else:
                transport.close()

    def open_sides(self) -> list[tuple[RelaySide, asyncio.Transport]]:
        """This side and its peer, with their transports, those still open."""
        return [
            (side, side.transport)
            for side in (self, self.peer)
            if side is not None and side.transport is not None and not side.lost
        ]

    def drop(self, *, reset: bool) -> None:
        """Close this side's socket at once, with RST if ``reset``. Bytes written to it
        and not sent are lost: they are taken back from the record's count (those in the
        transport's buffer, and with a reset those in the kernel's send queue too; all
        its peer did not acknowledge, if the peer reset it first)."""
        transport = self.transport
        assert transport is not None
        self.record.undelivered(self.name, dropped(transport, self.mark, self._written()))
        if reset:
            # The kernel's queue is read in connection_lost, which both loops call just
            # before they close the socket: the closer to the RST, the fewer bytes a
            # reading client can take in between.
            self.reset_socket = transport.get_extra_info("socket")
            reset_transport(transport)
        else:
            transport.abort()

    def reset_tunnel(self, fault: str) -> None:
        """End both sides with RST because the transfer fault ``fault`` fired."""
        self.record.fault_acted(f"{fault} fired")
        self.record.note_close("server", "rst")
        self._reset_then_end(
            functools.partial(self.record.end, Outcome.FAULT, error="reset by an injected fault")
        )

    @guarded
    def reset_in_time(self, fault: ResetAfter) -> None:
        """``fault``'s ``seconds`` are up: reset the tunnel, unless it is already closing
        (a close or reset began in the same loop turn)."""
        sides = self.open_sides()
        if sides and not any(transport.is_closing() for _, transport in sides):
            self.reset_tunnel(fault.describe())

    def _reset_then_end(self, end: Callable[[], object]) -> None:
        """Drop the sides still open with RST, and call ``end`` once each one's socket is
        closed: only then are the counts final (:func:`._side_reset.reset_then_end`)."""
        reset_then_end([side for side, _ in self.open_sides()], end)


def _close_how(exc: Exception | None) -> CloseHow:
    """How a transport was lost: orderly, reset (ECONNRESET, EPIPE…) or another error."""
    if exc is None:
        return "fin"
    return "rst" if isinstance(exc, ConnectionError) else "error"
