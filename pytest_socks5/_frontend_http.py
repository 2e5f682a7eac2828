"""The HTTP proxy front end: ``CONNECT`` tunnels and absolute-form forwarding, via h11.

Strategy: h11 frames every byte (no HTTP is parsed here); this module only turns its
events into the same decision points as SOCKS. The first request's head is the
"request": it is recorded (``Proxy-Authorization`` redacted), then ``Proxy-Authorization:
Basic`` is checked against the same users (``407`` otherwise). ``CONNECT host:port`` then
runs exactly the SOCKS steps of ``_requests.py`` with :class:`~pytest_socks5._http.HttpReplies`
as the wording, so the tunnel, its relays and every request, reply and transfer fault are
shared. An absolute-form request (``GET http://host/path``) runs the same request phase,
rules and dial, then is relayed one exchange at a time: the request rewritten to origin
form through an h11 client connection to the destination, the response back through the
client's h11 server connection — so keep-alive, ``Content-Length`` and chunked bodies are
h11's business, and a later request to another origin dials again. The reply faults act
on each origin's first response head (``_answers.answer_head``); a kept-alive request's
first byte must come within ``idle_timeout`` and its head within ``handshake_timeout``.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from functools import partial
from urllib.parse import urlsplit

import h11

from ._answers import answer, answer_head, delay_or_end
from ._connection import ClientConnection
from ._conversation import ClientClosed
from ._deadline import Deadline
from ._fault_types import FailAuth, Fault, Phase
from ._http import (
    HttpAnswer,
    HttpReplies,
    auth_required,
    basic_credentials,
    redacted_headers,
    request_head,
)
from ._protocol import AuthStatus, Command, Reply
from ._read_buffer import BufferedReads
from ._records import Outcome
from ._relay import RelaySide
from ._requests import dial_destination, refused, request_phase, serve_connect
from ._sockets import address_of

__all__ = ["HttpStart", "negotiate", "serve_request"]

REPLIES = HttpReplies()
#: Headers for this hop only: not passed on to the destination.
_HOP_BY_HOP = frozenset(
    {b"proxy-authorization", b"proxy-connection", b"connection", b"keep-alive", b"te", b"upgrade"}
)


@dataclass(slots=True)
class HttpStart:
    """The client's h11 connection and its first request, with the destination it names."""

    h: h11.Connection
    request: h11.Request
    host: str
    port: int


class BadRequest(Exception):
    """The request names no destination a proxy can serve."""


def destination(request: h11.Request) -> tuple[str, int]:
    """``(host, port)`` of a ``CONNECT`` authority or an absolute-form ``http://`` URL."""
    target = request.target.decode("ascii", "replace")
    connect = request.method == b"CONNECT"
    parts = urlsplit("//" + target if connect else target)
    if not connect and parts.scheme != "http":
        raise BadRequest(f"not a proxy request for an http:// URL: {target!r}")
    try:
        port = parts.port or (None if connect else 80)
    except ValueError:
        port = None
    if not parts.hostname or port is None:
        raise BadRequest(f"no host:port in {target!r}")
    return parts.hostname, port


async def next_event(conn: ClientConnection, h: h11.Connection) -> object:
    """The client's next h11 event, feeding it the bytes the connection received."""
    while True:
        event = h.next_event()
        if event is not h11.NEED_DATA:
            return event
        data, eof = conn.take_data()
        if data or eof:
            h.receive_data(data)  # b"" is h11's EOF too
            continue
        if conn.lost:
            raise ConnectionResetError("the client connection was lost")
        await conn.wakeup()


async def negotiate(conn: ClientConnection) -> HttpStart | None:
    """Read and record the first request (under ``handshake_timeout``)."""
    h = h11.Connection(h11.SERVER)
    try:
        event = await next_event(conn, h)
    except h11.RemoteProtocolError as exc:
        _bad_request(conn, f"not an HTTP proxy request: {exc}")
        return None
    if isinstance(event, h11.ConnectionClosed):
        raise ClientClosed("the client closed before a whole request")
    assert isinstance(event, h11.Request)
    line = f"{event.method.decode()} {event.target.decode('ascii', 'replace')} HTTP/1.1"
    conn.record.received("http request", request_head(line, event.headers.raw_items()))
    try:
        host, port = destination(event)
    except BadRequest as exc:
        conn.record.asked_http(line, redacted_headers(event.headers.raw_items()), "", 0, 0)
        _bad_request(conn, str(exc))
        return None
    headers = redacted_headers(event.headers.raw_items())
    conn.record.asked_http(line, headers, host, port, Command.CONNECT)
    return HttpStart(h, event, host, port)


def _bad_request(conn: ClientConnection, error: str) -> None:
    conn.reject(Outcome.PROTOCOL_ERROR, HttpAnswer(400, body=error + "\n"), error=error)


async def serve_request(conn: ClientConnection, start: HttpStart) -> None:
    """Proxy authentication, then a tunnel (``CONNECT``) or forwarded requests."""
    if not await _authorized(conn, start.request):
        return
    if start.request.method == b"CONNECT":
        conn.conn.unread(start.h.trailing_data[0])  # tunnel bytes sent with the request
        if not await request_phase(conn, REPLIES):
            return
        if refused(conn, REPLIES, Command.CONNECT, start.host, start.port):
            return
        await serve_connect(conn, REPLIES, start.host, start.port)
        return
    await _forward(conn, start)


async def _authorized(conn: ClientConnection, request: h11.Request) -> bool:
    """``Proxy-Authorization: Basic`` against the users; ``407`` when it fails."""
    record, policy = conn.record, conn.policy
    if not conn.config.auth.requires_password:
        return True
    value = next((v for n, v in request.headers if n == b"proxy-authorization"), None)
    credentials = basic_credentials(value)
    faults = await conn.faults_at(Phase.AUTH)
    status: int = AuthStatus.FAILURE
    error: str | None = "no Proxy-Authorization: Basic credentials"
    if credentials is not None:
        record.gave_credentials(*credentials)
        status, error = policy.credentials(*credentials, faults)
    record.authenticated_as(status == AuthStatus.SUCCESS)
    if status == AuthStatus.SUCCESS:  # no answer of its own: the request's follows
        return await delay_or_end(conn, faults)
    failed = [f for f in faults if isinstance(f, FailAuth)][:1]
    await answer(
        conn, faults, auth_required(), shaped=failed, outcome=Outcome.AUTH_FAILED, error=error
    )
    return False


class _Upstream(asyncio.Protocol, BufferedReads):
    """The destination's side of forwarded requests: its bytes, fed to h11 on demand."""

    def __init__(self) -> None:
        self.data = bytearray()
        self.eof = False
        self.fed_eof = False
        self.waiter: asyncio.Future[None] | None = None

    def data_received(self, data: bytes) -> None:
        self.data += data
        self._wake()

    def eof_received(self) -> bool:
        self.eof = True
        self._wake()
        return True

    def connection_lost(self, exc: Exception | None) -> None:
        self.eof = True
        self._wake()

    def _wake(self) -> None:
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
            elif self.eof and not self.fed_eof:
                self.fed_eof = True
                up.receive_data(b"")
            else:
                self.waiter = asyncio.get_running_loop().create_future()
                await self.waiter


async def _open(
    conn: ClientConnection, host: str, port: int
) -> tuple[_Upstream, list[Fault]] | None:
    """The request phase, the rules and the dial for one origin; ``None``: answered.
    The reply faults picked here act on the origin's first response head."""
    record = conn.record
    if not await request_phase(conn, REPLIES):
        return None
    if refused(conn, REPLIES, Command.CONNECT, host, port):
        return None
    result = await dial_destination(conn, host, port)
    faults = await conn.faults_at(Phase.REPLY)
    if isinstance(result, Reply):
        record.replied(result)
        await answer(
            conn,
            faults,
            REPLIES.failure(result, faults),
            outcome=Outcome.REJECTED,
            error=record.error,
        )
        return None
    return _take_over(conn, result), faults


def _take_over(conn: ClientConnection, side: RelaySide) -> _Upstream:
    transport = side.transport
    assert transport is not None
    if conn.record.upstream_address is None:
        bound = address_of(transport.get_extra_info("sockname")) or (conn.local_ip, 0)
        conn.record.connected(address_of(transport.get_extra_info("peername")), bound)
        conn.record.replied(REPLIES.granted)
    upstream = _Upstream()
    transport.set_protocol(upstream)
    for data in side.early or []:
        upstream.data += data
        upstream.eof = upstream.eof or not data
    side.early = None
    transport.resume_reading()
    return upstream


async def _forward(conn: ClientConnection, start: HttpStart) -> None:
    """Relay absolute-form requests and their responses until one side closes."""
    h, request, origin = start.h, start.request, (start.host, start.port)
    opened = await _open(conn, *origin)
    up = h11.Connection(h11.CLIENT)
    while opened is not None:
        upstream, faults = opened
        assert conn.upstream is not None
        assert conn.upstream.transport is not None
        writer = conn.upstream.transport
        writer.write(up.send(_origin_form(request, *origin)))
        while not isinstance(event := await next_event(conn, h), h11.EndOfMessage):
            assert isinstance(event, h11.Data)
            conn.record.delivered_from_client(event.data)
            writer.write(up.send(event))
        writer.write(up.send(event))
        try:
            if not await _relay_response(conn, h, up, upstream, faults):
                return  # a fault on the response head ended the connection
        except h11.RemoteProtocolError as exc:
            conn.record.replied(Reply.GENERAL_FAILURE)
            conn.reject(
                Outcome.PROTOCOL_ERROR,
                error=f"the destination's response is not HTTP/1.1: {exc}",
                linger=False,
            )
            return
        if h11.MUST_CLOSE in (h.our_state, h.their_state, up.our_state, up.their_state):
            break
        h.start_next_cycle()
        up.start_next_cycle()
        event = await _next_request(conn, h)
        if event is None:
            return  # a timeout ended it
        if not isinstance(event, h11.Request):
            break  # the client closed its keep-alive connection
        request = event
        conn.record.received("http request", request_head(_line(event), event.headers.raw_items()))
        conn.record.asked_http_again(_line(event))
        opened = (upstream, [])
        if destination(request) != origin:
            writer.close()
            origin, up = destination(request), h11.Connection(h11.CLIENT)
            opened = await _open(conn, *origin)
    else:
        return  # answered or ended by _open
    conn.record.end(Outcome.CLOSED, closed_by="server")
    _close_both(conn)


async def _next_request(conn: ClientConnection, h: h11.Connection) -> object | None:
    """The next event on a kept-alive connection: its first byte within ``idle_timeout``,
    then the whole head within ``handshake_timeout``. ``None``: one ran out (recorded,
    both sides closed)."""
    idle, head = conn.config.idle_timeout, conn.config.handshake_timeout
    try:
        with Deadline(idle):
            while not any(h.trailing_data):  # no byte of a next request, no EOF yet
                data, eof = conn.take_data()
                if data or eof:
                    h.receive_data(data)
                elif conn.lost:
                    raise ConnectionResetError("the client connection was lost")
                else:
                    await conn.wakeup()
    except TimeoutError:
        error = f"no next request for {idle:g}s on a kept-alive connection (idle_timeout)"
        conn.record.end(Outcome.IDLE_TIMEOUT, closed_by="server", error=error)
        _close_both(conn)
        return None
    try:
        with Deadline(head):
            return await next_event(conn, h)
    except TimeoutError:
        error = f"no complete request head within {head:g}s (handshake_timeout)"
        conn.reject(Outcome.TIMEOUT, error=error, linger=False)
        _close_both(conn)
        return None


def _close_both(conn: ClientConnection) -> None:
    if conn.transport is not None:
        conn.transport.close()
    if conn.upstream is not None and conn.upstream.transport is not None:
        conn.upstream.transport.close()


async def _relay_response(
    conn: ClientConnection,
    h: h11.Connection,
    up: h11.Connection,
    upstream: _Upstream,
    faults: list[Fault],
) -> bool:
    """One response, head then body; the head goes out through the reply ``faults``
    (``False``: they ended the connection, and the body is not relayed)."""
    while True:
        event = await upstream.next_event(up)
        if isinstance(event, h11.ConnectionClosed):
            raise h11.RemoteProtocolError("the destination closed before its response")
        if isinstance(event, h11.InformationalResponse):
            conn.write("http response", h.send(event) or b"")
            continue
        if isinstance(event, h11.Response):
            head, status = h.send(event) or b"", event.status_code
            sent = partial(conn.record.http_answered, status)
            if not await answer_head(conn, faults, "http response", head, sent):
                return False
            continue
        assert isinstance(event, h11.Data | h11.EndOfMessage)
        assert conn.transport is not None
        data = h.send(event)
        if isinstance(event, h11.Data):
            conn.record.delivered_to_client(event.data)
        conn.transport.write(data)
        if isinstance(event, h11.EndOfMessage):
            return True


def _origin_form(request: h11.Request, host: str, port: int) -> h11.Request:
    """The request as the destination should see it: origin-form target, no hop headers."""
    parts = urlsplit(request.target.decode("ascii", "replace"))
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    headers = [(n, v) for n, v in request.headers.raw_items() if n.lower() not in _HOP_BY_HOP]
    return h11.Request(method=request.method, target=target, headers=headers)


def _line(request: h11.Request) -> str:
    return f"{request.method.decode()} {request.target.decode('ascii', 'replace')} HTTP/1.1"
