"""Reading the client's HTTP: its heads (within one size limit), the destination a request
names, and the 4xx a client's mistake gets.

Strategy: h11 parses; this module feeds it. h11 limits only a head that is still
incomplete, so a head that arrived in one write was never measured; the bytes are fed
so that h11 never holds more than :data:`MAX_HEAD` of a head, and a longer one is
``431`` however TCP cut it (RFC 6585). A head h11 refuses, one that names no destination
a proxy can serve, or a later request on a forwarding connection that cannot be
forwarded is answered ``400`` (outcome ``PROTOCOL_ERROR``), with the bytes that could
not be parsed kept in the record as ``"unparsed"``, as the SOCKS front ends keep theirs.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import h11

from ._connection import ClientConnection
from ._http import HttpAnswer
from ._records import Outcome

__all__ = [
    "MAX_HEAD",
    "BadMessage",
    "BadRequest",
    "ClosedMidMessage",
    "bad_request",
    "destination",
    "new_server_connection",
    "next_event",
    "request_line",
    "unparsed",
]

#: The largest request head the proxy reads (request line, fields, blank line).
MAX_HEAD = 64 * 1024


class BadRequest(Exception):
    """The request names no destination a proxy can serve."""


class ClosedMidMessage(Exception):
    """The client closed before the end of a request's body."""


class BadMessage(h11.RemoteProtocolError):
    """h11's refusal of the client's bytes, with the bytes it could not parse (h11 drops a
    head's lines from its buffer before it finds them wrong)."""

    def __init__(self, exc: h11.RemoteProtocolError, data: bytes) -> None:
        super().__init__(str(exc), exc.error_status_hint)
        self.data = data


def new_server_connection() -> h11.Connection:
    """The client's h11 connection, refusing heads over :data:`MAX_HEAD` bytes."""
    return h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_HEAD - 1)


def destination(request: h11.Request) -> tuple[str, int]:
    """``(host, port)`` of a ``CONNECT`` authority or an absolute-form ``http://`` URL."""
    target = request.target.decode("ascii", "replace")
    connect = request.method == b"CONNECT"
    parts = urlsplit("//" + target if connect else target)
    if not connect and parts.scheme != "http":
        raise BadRequest(f"not a proxy request for an http:// URL: {target!r}")
    try:
        port = parts.port
    except ValueError:
        bare_ipv6 = parts.netloc.count(":") > 1 and not parts.netloc.startswith("[")
        hint = " (an IPv6 host is written in brackets: [::1]:443)" if bare_ipv6 else ""
        raise BadRequest(f"no valid port in {target!r}{hint}") from None
    if port is None and not connect:
        port = 80
    if not parts.hostname or not port:  # port 0 is no destination
        raise BadRequest(f"no host:port in {target!r}")
    return parts.hostname, port


def request_line(request: h11.Request) -> str:
    """The request line as the client sent it (its own HTTP version)."""
    target = request.target.decode("ascii", "replace")
    return f"{request.method.decode()} {target} HTTP/{request.http_version.decode()}"


async def next_event(
    conn: ClientConnection, h: h11.Connection, *, in_body: bool = False
) -> object:
    """The client's next h11 event, feeding it the bytes the connection received (a head
    never more than :data:`MAX_HEAD` bytes at a time). ``in_body``: a close that cuts the
    message short is :class:`ClosedMidMessage`, not h11's protocol error."""
    while True:
        before = h.trailing_data[0]
        try:
            event = h.next_event()
        except h11.RemoteProtocolError as exc:
            if in_body and h.trailing_data[1]:
                raise ClosedMidMessage(f"the client closed mid-request: {exc}") from None
            raise BadMessage(exc, before) from None
        if event is not h11.NEED_DATA:
            return event
        data, eof = conn.take_data()
        if h.their_state is h11.IDLE:  # a head: never more than the limit in h11's buffer
            room = MAX_HEAD - len(h.trailing_data[0])
            if len(data) > room:
                conn.conn.unread(data[room:])
                data, eof = data[:room], False
        if data or eof:
            h.receive_data(data)  # b"" is h11's EOF too
            continue
        if conn.lost:
            raise ConnectionResetError("the client connection was lost")
        await conn.wakeup()


def unparsed(conn: ClientConnection, h: h11.Connection, bad: BadMessage | None = None) -> None:
    """Keep the client bytes no h11 event took in the record, as ``"unparsed"`` (those
    ``bad`` could not parse, then those not fed to h11 yet)."""
    if data := (h.trailing_data[0] if bad is None else bad.data) + conn.conn.buffered_data:
        conn.record.received("unparsed", data)


def bad_request(
    conn: ClientConnection,
    h: h11.Connection,
    error: str,
    status: int = 400,
    bad: BadMessage | None = None,
) -> None:
    """Answer the client's mistake with ``status`` (outcome ``PROTOCOL_ERROR``) and close."""
    unparsed(conn, h, bad)
    conn.reject(Outcome.PROTOCOL_ERROR, HttpAnswer(status, body=error + "\n"), error=error)
