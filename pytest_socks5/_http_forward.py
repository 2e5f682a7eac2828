"""Forwarding absolute-form HTTP requests (``GET http://host/path``), one exchange at a time.

Strategy: h11 frames every byte on both sides: the client's request arrives through its
h11 server connection, goes to the destination rewritten to origin form through an h11
client connection, and the response comes back the same way, so keep-alive,
``Content-Length`` and chunked bodies are h11's business. As RFC 9110 §7.6 asks of a
proxy, each hop is its own connection: "Intermediaries that process HTTP messages (i.e.,
all intermediaries other than those acting as tunnels) MUST send their own HTTP-version
in forwarded messages", so a response from an HTTP/1.0 server goes to the client as
HTTP/1.1 (a body that ends at the server's close is sent chunked), the hop-by-hop fields
stay on their hop, and "A proxy that forwards such a request MUST generate a new Host
field value based on the received request-target" (RFC 9112 §3.2.2).

A record reads as a tunnel's would: ``bytes_from_client`` counts every byte written to
the destination (request heads and bodies as framed), ``bytes_to_client`` every byte of
the responses written to the client (each head as the reply faults left it, bodies as
framed), as they are delivered: the transfer faults and ``on("data")`` hooks act on these
writes as on a tunnel's chunks (:mod:`._forward_wire`; with neither, each write goes
straight to its socket). Neither side is read faster than the other takes its bytes, and
what a reset kept from a side is taken back from its count (:mod:`._forward_flow`). The
destination's close is the connection's end, as a tunnel passes it on: when it closes
between requests, or after a response that said it would close (HTTP/1.0, ``Connection:
close``, a body that ends at its close), the client's connection is closed after it and
the record says ``closed_by="upstream"`` — unless the client closed first.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable, Iterator
from functools import partial

import h11

from ._answers import answer_head
from ._connection import LINGER, ClientConnection
from ._deadline import Deadline
from ._fault_types import Fault, Phase
from ._forward_flow import Flow, Upstream
from ._forward_wire import Wire, more_faults, open_wire
from ._http import HttpReplies, request_head
from ._http_messages import final_response, goes_on, informational, origin_form
from ._http_reading import (
    BadMessage,
    BadRequest,
    ClosedMidMessage,
    bad_request,
    destination,
    next_event,
    request_line,
    unparsed,
)
from ._idle_watch import IdleWatch
from ._live_record import LiveRecord
from ._protocol import Command
from ._records import Outcome
from ._relay import RelaySide
from ._requests import (
    answer_request,
    dial_destination,
    dial_or_reply_with,
    record_connected,
    refused,
    request_phase,
)

__all__ = ["REPLIES", "forward"]

REPLIES = HttpReplies()


async def _open(
    conn: ClientConnection, host: str, port: int
) -> tuple[Upstream, list[Fault]] | None:
    """The request phase, the rules and the dial for one origin; ``None``: answered.
    The reply faults picked here act on the origin's first response head."""
    record = conn.record
    if not await request_phase(conn, REPLIES):
        return None
    if refused(conn, REPLIES, Command.CONNECT, host, port):
        return None
    result = await dial_destination(conn, host, port)
    faults = await conn.faults_at(Phase.REPLY)
    result = dial_or_reply_with(result, faults)
    if not isinstance(result, RelaySide):
        error = record.error
        await answer_request(conn, REPLIES, faults, result, error=error, instead="after the dial")
        return None
    return _take_over(conn, result), faults


def _take_over(conn: ClientConnection, side: RelaySide) -> Upstream:
    transport = side.transport
    assert transport is not None
    if conn.record.upstream_address is None:
        record_connected(conn, side)
        conn.record.replied(REPLIES.granted)
    upstream = Upstream(conn.record, transport)
    transport.set_protocol(upstream)
    for data in side.early or []:
        upstream.data += data
        upstream.eof = upstream.eof or not data
    side.early = None
    transport.resume_reading()
    return upstream


async def forward(
    conn: ClientConnection, h: h11.Connection, request: h11.Request, origin: tuple[str, int]
) -> None:
    """Relay absolute-form requests and their responses until one side closes."""
    opened = await _open(conn, *origin)
    if opened is None:
        return  # answered or ended by _open
    up = h11.Connection(h11.CLIENT)
    wire, flow = open_wire(conn), Flow(conn)
    idle = conn.config.idle_timeout
    watch = None if idle is None else flow.idle_watch(idle)
    while opened is not None:
        upstream, faults = opened
        assert conn.upstream is not None
        assert conn.upstream.transport is not None
        flow.upstream = upstream
        wire.attach(upstream, conn.upstream.transport)
        send = partial(_to_destination, up, wire)
        send(origin_form(request))
        room = partial(flow.room, conn.upstream.transport, wire.to_destination)
        if not await _relay_body(conn, h, upstream, send, room):
            return
        try:
            if not await _relay_response(conn, h, up, flow, faults, request.method, wire):
                return  # a fault on the response head ended the connection
        except h11.RemoteProtocolError as exc:
            conn.reject(
                Outcome.PROTOCOL_ERROR,
                error=f"the destination's response is not HTTP/1.1: {exc}",
                linger=False,
            )
            _close_upstream(conn, upstream)
            return
        if upstream.closing:  # it said it closes: its close ends the connection
            await _until_a_side_closes(conn, upstream)
            break
        if h11.MUST_CLOSE in (h.our_state, h.their_state, up.our_state, up.their_state):
            break
        h.start_next_cycle()
        up.start_next_cycle()
        await wire.drained()  # the response delivered before the idle wait starts
        with _paused(watch):  # idle_timeout and handshake_timeout apply there
            event = await _next_request(conn, h, upstream)
        if event is None:
            return  # a timeout ended it
        if not isinstance(event, h11.Request):
            break  # the client (or the destination) closed the kept-alive connection
        request = event
        line = request_line(event)
        conn.record.received("http request", request_head(line, event.headers.raw_items()))
        conn.record.asked_http_again(line)
        try:
            target = _later_destination(request)
        except BadRequest as exc:
            _close_upstream(conn, upstream)
            bad_request(conn, h, str(exc))
            return
        opened = (upstream, [])
        if target != origin:
            await wire.drained()  # what the old origin was sent goes to it, not the new
            _close_upstream(conn, upstream)
            origin, up = target, h11.Connection(h11.CLIENT)
            # Its handshake (gates, hooks, the dial, a reply's Delay) is no idle time, as a
            # first origin's is not: the watch starts again once it is answered.
            with _selecting_by(conn.record, *origin), _paused(watch):
                opened = await _open(conn, *origin)
                if opened is not None:  # answered instead: no transfer, no fault acts
                    more_faults(conn, wire)
    else:
        return  # answered or ended by _open
    if not await wire.end():
        return  # a transfer fault or a stop ended it meanwhile
    await flow.delivered()  # the record ends with what the client's socket was handed
    conn.record.end(Outcome.CLOSED, closed_by="server")
    _close_both(conn, upstream)


async def _next_request(
    conn: ClientConnection, h: h11.Connection, upstream: Upstream
) -> object | None:
    """The next event on a kept-alive connection: its first byte within ``idle_timeout``,
    then the whole head within ``handshake_timeout``; ``ConnectionClosed`` when the
    destination closes first. ``None``: a timeout ran out (recorded, both sides closed)."""
    idle, head = conn.config.idle_timeout, conn.config.handshake_timeout
    try:
        with Deadline(idle):
            # no byte of a next request, no EOF yet (next_event feeds h11 within its limit)
            while not (any(h.trailing_data) or conn.conn.buffered or conn.client_eof):
                if conn.lost:
                    raise ConnectionResetError("the client connection was lost")
                if upstream.eof:
                    return h11.ConnectionClosed()
                await upstream.or_client(conn)
    except TimeoutError:
        error = f"no next request for {idle:g}s on a kept-alive connection (idle_timeout)"
        conn.record.end(Outcome.IDLE_TIMEOUT, closed_by="server", error=error)
        _close_both(conn, upstream)
        return None
    try:
        with Deadline(head):
            return await next_event(conn, h)
    except TimeoutError:
        unparsed(conn, h)
        error = f"no complete request head within {head:g}s (handshake_timeout)"
        conn.reject(Outcome.TIMEOUT, error=error, linger=False)
        _close_both(conn, upstream)
    except BadMessage as exc:
        _close_upstream(conn, upstream)
        bad_request(conn, h, f"not an HTTP proxy request: {exc}", exc.error_status_hint, exc)
    return None


@contextlib.contextmanager
def _paused(watch: IdleWatch | None) -> Iterator[None]:
    """The idle ``watch`` (if any) waits while a kept-alive connection waits for its next
    request (which its own timeouts bound) or a later origin's handshake runs, then
    watches again from there."""
    if watch is not None:
        watch.cancel()
    try:
        yield
    finally:
        if watch is not None:
            watch.restart()


def _later_destination(request: h11.Request) -> tuple[str, int]:
    """The destination of a later request on a forwarding connection: an absolute-form
    ``http://`` URL (``BadRequest`` otherwise: a ``CONNECT`` is not served here)."""
    if request.method == b"CONNECT":
        raise BadRequest(
            "CONNECT after a forwarded request on the same connection is not served: "
            "open a new connection for a tunnel"
        )
    return destination(request)


@contextlib.contextmanager
def _selecting_by(record: LiveRecord, host: str, port: int) -> Iterator[None]:
    """While a later origin is checked and dialled, the record names it, so that its
    faults, gates and hooks are selected by that origin; then the first request's again
    (and as soon as the record ends, which an answer for that origin may do in here)."""
    record.select_origin((host, port))
    try:
        yield
    finally:
        record.select_origin(None)


async def _relay_body(
    conn: ClientConnection,
    h: h11.Connection,
    upstream: Upstream,
    send: Callable[[h11.Event], None],
    room: Callable[[], Awaitable[None]],
) -> bool:
    """The request's body to the destination, the client read no faster than the
    destination takes it (``room``) (``False``: the client closed mid-body, or sent a
    body h11 refuses — answered ``400``; the connection is over)."""
    try:
        while not isinstance(event := await next_event(conn, h, in_body=True), h11.EndOfMessage):
            assert isinstance(event, h11.Data)
            send(event)
            await room()
    except ClosedMidMessage as exc:
        unparsed(conn, h)
        conn.record.end(Outcome.CLIENT_CLOSED, closed_by="client", error=str(exc))
        _close_both(conn, upstream)
        return False
    except BadMessage as exc:
        _close_upstream(conn, upstream)
        bad_request(conn, h, f"a request body that is not HTTP/1.1: {exc}", bad=exc)
        return False
    send(event)
    return True


async def _until_a_side_closes(conn: ClientConnection, upstream: Upstream) -> None:
    """After a response that said the destination closes: wait for its close (or the
    client's), as a tunnel would — for ``LINGER`` at most, then the proxy closes."""
    with contextlib.suppress(TimeoutError), Deadline(LINGER):
        while not (upstream.eof or conn.client_eof or conn.lost):
            conn.take_data()  # nothing may follow a "close": not read as a request
            await upstream.or_client(conn)


def _to_destination(up: h11.Connection, wire: Wire, event: h11.Event) -> None:
    """Write ``event`` (as h11 frames it) to the destination through the ``wire``'s hooks
    and faults, counted as it is delivered (nothing once the destination is gone)."""
    wire.to_destination.write(up.send(event) or b"")


def _close_upstream(conn: ClientConnection, upstream: Upstream) -> None:
    upstream.retire()
    conn.close_upstream()


def _close_both(conn: ClientConnection, upstream: Upstream) -> None:
    if conn.transport is not None:
        conn.transport.close()
    _close_upstream(conn, upstream)


async def _relay_response(
    conn: ClientConnection,
    h: h11.Connection,
    up: h11.Connection,
    flow: Flow,
    faults: list[Fault],
    method: bytes,
    wire: Wire,
) -> bool:
    """One response, head then body, the destination read no faster than the client
    takes it (``flow``); the head goes out through the reply ``faults`` (``False``: they
    ended the connection, and the body is not relayed). Every write goes through the
    ``wire``'s data hooks and transfer faults (a head through the hooks before the reply
    faults act on it: what they change is on the wire), and is counted as the wire
    delivers it."""
    assert conn.transport is not None
    upstream = flow.upstream
    assert upstream is not None
    while True:
        event = await upstream.next_event(up)
        if isinstance(event, h11.ConnectionClosed):
            raise h11.RemoteProtocolError("the destination closed before its response")
        if isinstance(event, h11.InformationalResponse):
            _head_on_wire(conn, wire, h.send(informational(event)) or b"")
            continue
        if isinstance(event, h11.Response):
            kept, upstream.closing = goes_on(method, event)
            head, way = h.send(final_response(event, not kept)) or b"", wire.to_client
            sent = partial(_head_sent, conn, event.status_code)
            head = way.hooked(head)
            if not await answer_head(
                conn, faults, "http response", head, sent, way.send, wire.drained
            ):
                return False
            continue
        assert isinstance(event, h11.Data | h11.EndOfMessage)
        wire.to_client.write(h.send(event) or b"")
        if isinstance(event, h11.EndOfMessage):
            return True
        await flow.room(conn.transport, wire.to_client)


def _head_sent(conn: ClientConnection, status: int, head: bytes) -> None:
    """A response head goes out: its status recorded (the wire counts its bytes as it
    delivers them)."""
    conn.record.http_answered(status)


def _head_on_wire(conn: ClientConnection, wire: Wire, head: bytes) -> None:
    """An informational head through the wire's hooks and faults, recorded as sent."""
    head = wire.to_client.hooked(head)
    if head:
        conn.record.sent("http response", head)
    wire.to_client.send(head)
