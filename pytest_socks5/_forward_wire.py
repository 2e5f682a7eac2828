"""Transfer faults and data hooks on forwarded HTTP requests: the tunnel's, on each write.

Strategy: a forwarded connection is no byte tunnel — h11 frames every request and
response — but the proxy writes bytes each way as a tunnel does, and those writes are
where a transfer fault or an ``on("data")`` hook acts. Every write (a head, a body
piece as h11 frames it, the end of a chunked body) goes through its direction's
:class:`Way`, the one write path: with neither, straight to its socket; else the data
hooks first, then the tunnel's own
:class:`~._shaping.Shaper`, which decides when, in which pieces and whether the bytes are
delivered, and when the connection is cut. So a fault means what it means on a tunnel,
from one implementation. The client's connection is the tunnel: its faults are picked
(and noted) as its first request is forwarded, and count its bytes across every request
and origin; a later origin's (the server's that select it, and those a gate or a hook
gave for it: :func:`more_faults`) join as a request to it is forwarded, and count from
there (:meth:`~._shaping.Shaper.add`). The bytes are counted as they are handed to a
socket, as the relay counts.

An orderly end (:meth:`Wire.end`) passes each direction's end on through its shaper:
what it holds is delivered, a ``SlowClose`` waits, and a ``Blackhole`` that has opened
swallows it (the connection then stays open until the side it kept uninformed closes).
A cut ends the record at once (``CloseAfter``); a reset (``ResetAfter``) ends it once
both sockets are gone, what their kernels had not sent taken back from the counts, as
the relay's reset does.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from typing import Protocol

from ._checkpoints import data_rewriter
from ._connection import ClientConnection
from ._fault_types import Direction, ResetAfter, TransferFault
from ._guard import OnError, guarded
from ._read_buffer import BufferedReads
from ._records import Outcome
from ._shaping import Shaper, shape, timed_resets
from ._side_reset import dropped, reset_then_end, unsent_at_reset
from ._sockets import reset_transport

__all__ = ["Destination", "Way", "Wire", "more_faults", "open_wire"]


class Destination(Protocol):
    """What the wire needs of the destination's protocol (``_forward_flow.Upstream``)."""

    eof: bool
    #: The proxy closed it itself: its close is not the destination's.
    retired: bool

    async def or_client(self, conn: ClientConnection) -> None:
        """Until the client's next bytes, EOF or loss, or this side's close."""

    def wake(self) -> None:
        """Resume the forwarder if it waits in :meth:`or_client`."""


class Way:
    """One direction of a forwarded connection: what the proxy writes to ``target``
    (``name``). The :class:`~._shaping.ShapedSide` of its shaper: when the shaper holds
    more than its bound, the way is ``full``, and the forwarder, which reads the other
    side, pulls no more of it until the shaper has room (``_forward_flow.Flow.room``)."""

    __slots__ = ("delivered", "full", "name", "rewrite", "shaper", "target", "wire")

    def __init__(self, wire: Wire, name: str, delivered: Callable[[bytes], None]) -> None:
        self.wire = wire
        self.name = name
        self.delivered = delivered
        self.target: asyncio.Transport | None = None
        self.shaper: Shaper | None = None
        #: The test's ``on("data")`` hooks for this direction (``None``: none).
        self.rewrite: Callable[[bytes], bytes] | None = None
        self.full = False

    def hooked(self, data: bytes) -> bytes:
        """``data`` as the data hooks rewrite it (``b""``: they dropped it)."""
        return self.rewrite(data) if self.rewrite is not None and data else data

    def write(self, data: bytes) -> None:
        """One write of the proxy's this way: through the data hooks, then :meth:`send`."""
        self.send(self.hooked(data))

    def send(self, data: bytes) -> None:
        """Deliver ``data`` as the transfer faults say (at once with none)."""
        if not data:
            return
        if self.shaper is not None:
            self.shaper.feed(data)
        elif self.peer_writable():
            self.deliver(data)

    # -- what a shaper drives (see ShapedSide) -------------------------------------------

    def pause_source(self) -> None:
        self.full = True

    def resume_source(self) -> None:
        self.full = False
        if self.wire.destination is not None:
            self.wire.destination.wake()

    def peer_writable(self) -> bool:
        return self.target is not None and not self.target.is_closing()

    def deliver(self, data: bytes) -> None:
        assert self.target is not None
        self.delivered(data)  # before the write: a reader of the record never lags the peer
        self.target.write(data)

    def forward_eof(self) -> None:
        """This direction's end is passed on: the destination is closed (its close is
        the proxy's), unless a blackhole swallows it; the client is closed last, by the
        forwarding code, once the record has ended (:meth:`Wire.end`)."""
        if self.name == "upstream" and not (self.shaper and self.shaper.swallows_close):
            self.wire.close_destination()

    def close_tunnel(self, *, abort: bool) -> None:
        if abort:  # (a shaper's cuts are clean: its resets are reset_tunnel)
            self.wire.reset("a cut")
        else:
            self.wire.cut()

    def reset_tunnel(self, fault: str) -> None:
        self.wire.reset(fault)

    @property
    def on_error(self) -> OnError:
        return self.wire.conn.internal_error


class Wire:
    """Both directions of one forwarded connection with transfer faults or data hooks."""

    __slots__ = ("acting", "conn", "destination", "given", "rng", "to_client", "to_destination")

    def __init__(self, conn: ClientConnection) -> None:
        self.conn = conn
        record = conn.record
        self.rng: random.Random | None = None  # made for the first faults
        #: How many of the faults gates and hooks gave (``Policy.given_transfer``) act.
        self.given = 0
        #: Every transfer fault that acts on the connection.
        self.acting: list[TransferFault] = []
        self.to_destination = Way(self, "upstream", record.delivered_from_client)
        self.to_client = Way(self, "client", record.delivered_to_client)
        self.to_client.target = conn.transport
        self.destination: Destination | None = None

    def attach(self, destination: Destination, transport: asyncio.Transport) -> None:
        """Forward to ``destination`` from now on (the first origin, or a later one once
        :meth:`drained`)."""
        self.destination = destination
        self.to_destination.target = transport

    def add(self, faults: list[TransferFault]) -> None:
        """``faults`` act from now on, as on a tunnel: each on its direction's shaper (a
        direction with none gets one); a ``ResetAfter(seconds=...)``'s time starts now."""
        self.given = len(self.conn.policy.given_transfer)
        if not faults:
            return
        self.acting += faults
        if self.rng is None:
            self.rng = random.Random(self.conn.policy.seed + self.conn.record.id)
        ways = self.to_destination, self.to_client
        shapers = ways[0].shaper, ways[1].shaper
        ways[0].shaper, ways[1].shaper = shape(faults, self.rng, *ways, shapers)
        for fault in timed_resets(faults):
            timer = self.conn.loop.call_later(fault.seconds or 0.0, self.reset_in_time, fault)
            self.conn.add_cleanup(timer.cancel)

    @property
    def shapers(self) -> list[Shaper]:
        return [w.shaper for w in (self.to_destination, self.to_client) if w.shaper]

    async def drained(self) -> None:
        """Until every byte written so far is handled (delivered, swallowed or dropped)."""
        for shaper in self.shapers:
            await shaper.drained()

    async def end(self) -> bool:
        """The orderly end, before the record ends and both sides close: each direction's
        end passed on through its shaper (what it holds delivered, a ``SlowClose``
        waited); where a blackhole swallowed it, until the side it kept uninformed
        closes. ``False``: a cut or a stop ended the connection meanwhile."""
        shapers, record = self.shapers, self.conn.record
        for shaper in shapers:
            shaper.feed_eof()
        if shapers:
            await asyncio.wait([shaper.task for shaper in shapers])
        conn, destination = self.conn, self.destination
        assert destination is not None
        kept_client, kept_destination = (
            way.shaper is not None and way.shaper.swallows_close
            for way in (self.to_client, self.to_destination)
        )
        while (kept_client or kept_destination) and record.outcome is Outcome.OPEN:
            if kept_client and (conn.client_eof or conn.lost):
                break
            if kept_destination and destination.eof:
                break
            await destination.or_client(conn)
        return record.outcome is Outcome.OPEN

    def cancel(self) -> None:
        for shaper in self.shapers:
            shaper.cancel()

    def close_destination(self) -> None:
        if self.destination is not None:
            self.destination.retired = True
        self.conn.close_upstream()

    def _open_transports(self) -> list[tuple[str, asyncio.Transport]]:
        """The destination's transport, then the client's: those still open."""
        sides = (("upstream", self.to_destination.target), ("client", self.to_client.target))
        return [(n, t) for n, t in sides if t is not None and not t.is_closing()]

    def cut(self) -> None:
        """A ``CloseAfter`` fired: close both sides (FIN), after what they were given."""
        record = self.conn.record
        record.note_close("server", "fin")
        record.end(Outcome.CLOSED, closed_by="server")
        self.cancel()
        if self.destination is not None:
            self.destination.retired = True
        for _, transport in self._open_transports():
            transport.close()

    def reset(self, fault: str) -> None:
        """End both sides with RST because the transfer fault ``fault`` fired, as the
        relay does (:func:`._side_reset.reset_then_end`): bytes written and not sent are
        taken back from the counts; the record ends once both sockets are closed, so its
        counts are final when it does, and only then do the protocols hear."""
        record = self.conn.record
        record.fault_acted(f"{fault} fired")
        record.note_close("server", "rst")
        self.cancel()
        if self.destination is not None:
            self.destination.retired = True
        held: list[Callable[[], None]] = []

        def end() -> None:
            record.end(Outcome.FAULT, error="reset by an injected fault")
            for tell in held:
                tell()

        sides = [_WireSide(self, name, t, held) for name, t in self._open_transports()]
        reset_then_end(sides, end)

    @guarded
    def reset_in_time(self, fault: ResetAfter) -> None:
        """``fault``'s ``seconds`` are up: reset, unless the connection is closing."""
        if self._open_transports() and self.conn.record.outcome is Outcome.OPEN:
            self.reset(fault.describe())

    @property
    def on_error(self) -> OnError:
        return self.conn.internal_error


class _WireSide:
    """A side of the wire being reset (a :class:`~._side_reset.ResetSide`): its protocol
    replaced by :class:`_Resetting` for its last callback. The client's own protocol is
    told of the loss once the record has ended (``held``); the destination's is retired,
    told nothing."""

    def __init__(
        self,
        wire: Wire,
        name: str,
        transport: asyncio.Transport,
        held: list[Callable[[], None]],
    ) -> None:
        self.wire = wire
        self.name = name
        self.transport = transport
        self.held = held
        self.after_reset: Callable[[], None] | None = None

    def drop(self, *, reset: bool) -> None:
        transport, record = self.transport, self.wire.conn.record
        record.undelivered(self.name, dropped(transport, None, 0))
        inner = transport.get_protocol() if self.name == "client" else None
        transport.set_protocol(_Resetting(self, transport, inner))
        if reset:
            reset_transport(transport)
        else:
            transport.abort()


class _Resetting(asyncio.Protocol, BufferedReads):
    """The protocol of a side being reset, for its last callback: just before the loop
    closes the socket (the RST), what its kernel had not sent is taken back from the
    count; once the socket is closed (the next loop turn, as the relay's), the side's
    ``after_reset`` hears, and its own protocol is told after the record ends. A read
    that still comes is dropped (into the thread's buffer, as every protocol's)."""

    def __init__(
        self, side: _WireSide, transport: asyncio.Transport, inner: asyncio.BaseProtocol | None
    ) -> None:
        self.side = side
        self.socket = transport.get_extra_info("socket")
        self.inner = inner

    def connection_lost(self, exc: Exception | None) -> None:
        side = self.side
        side.wire.conn.record.undelivered(side.name, unsent_at_reset(self.socket, None, 0))
        asyncio.get_running_loop().call_soon(self._closed, exc)

    @guarded
    def _closed(self, exc: Exception | None) -> None:
        inner, side = self.inner, self.side
        side.held.append(lambda: inner.connection_lost(exc) if inner is not None else None)
        after, side.after_reset = side.after_reset, None
        if after is not None:
            after()

    @property
    def on_error(self) -> OnError:
        return self.side.wire.conn.internal_error


def open_wire(conn: ClientConnection) -> Wire:
    """The wire for a forwarding connection whose first request is about to go out:
    its transfer faults picked and noted (as a tunnel's are when it opens), and its data
    hooks (with neither, each way writes straight to its socket)."""
    transfer = conn.policy.transfer_faults(conn.record)
    hooks = conn.context.checkpoints.data_hooks
    wire = Wire(conn)
    if hooks:
        wire.to_destination.rewrite = data_rewriter(hooks, Direction.FROM_CLIENT)
        wire.to_client.rewrite = data_rewriter(hooks, Direction.TO_CLIENT)
    conn.add_cleanup(wire.cancel)
    wire.add(transfer)
    return wire


def more_faults(conn: ClientConnection, wire: Wire) -> None:
    """After a later origin's decision points, the record naming it: the server's
    transfer faults that select it (those not acting already), then those a gate or a
    hook gave there, join the connection's (noted now). Each counts its ``after`` bytes
    from here (:meth:`.Shaper.add`)."""
    policy = conn.policy
    given = policy.more_transfer_faults(conn.record, wire.acting)
    given += policy.given_transfer[wire.given :]
    for fault in given:
        policy.note(conn.record, fault, None)
    wire.add(given)
