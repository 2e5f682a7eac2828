"""The HTTP proxy front end: ``CONNECT`` tunnels and absolute-form forwarding, via h11.

Strategy: h11 frames every byte (no HTTP is parsed here); this module only turns its
events into the same decision points as SOCKS. The first request's head is the
"request": it is recorded (``Proxy-Authorization`` redacted), then ``Proxy-Authorization:
Basic`` is checked against the same users (``407`` otherwise). ``CONNECT host:port`` then
runs exactly the SOCKS steps of ``_requests.py`` with :class:`~pytest_socks5._http.HttpReplies`
as the wording, so the tunnel, its relays and every request, reply and transfer fault are
shared. An absolute-form request (``GET http://host/path``) runs the same request phase,
rules and dial, then is relayed one exchange at a time (``_http_forward.py``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass

import h11

from ._answer_plan import failed_auth
from ._answers import answer, delay_or_end
from ._connection import ClientConnection
from ._conversation import ClientClosed
from ._fault_types import Fault, Phase
from ._http import (
    auth_required,
    basic_credentials,
    redacted_headers,
    request_head,
)
from ._http_forward import REPLIES, forward
from ._http_reading import (
    BadMessage,
    BadRequest,
    bad_request,
    destination,
    new_server_connection,
    next_event,
    request_line,
)
from ._protocol import AuthStatus, Command
from ._records import Outcome
from ._requests import refused, request_phase, serve_connect

__all__ = ["HttpStart", "negotiate", "serve_request"]


@dataclass(slots=True)
class HttpStart:
    """The client's h11 connection and its first request, with the destination it names."""

    h: h11.Connection
    request: h11.Request
    host: str
    port: int


async def negotiate(conn: ClientConnection) -> HttpStart | None:
    """Read and record the first request (under ``handshake_timeout``)."""
    h = new_server_connection()
    try:
        event = await next_event(conn, h)
    except BadMessage as exc:
        bad_request(conn, h, f"not an HTTP proxy request: {exc}", exc.error_status_hint, exc)
        return None
    except asyncio.CancelledError:  # handshake_timeout: its record keeps the bytes read
        conn.conn.unread(h.trailing_data[0])
        raise
    if isinstance(event, h11.ConnectionClosed):
        raise ClientClosed("the client closed before a whole request")
    assert isinstance(event, h11.Request)
    line = request_line(event)
    conn.record.received("http request", request_head(line, event.headers.raw_items()))
    try:
        host, port = destination(event)
    except BadRequest as exc:
        conn.record.asked_http(line, redacted_headers(event.headers.raw_items()), None)
        bad_request(conn, h, str(exc))
        return None
    headers = redacted_headers(event.headers.raw_items())
    conn.record.asked_http(line, headers, (host, port))
    return HttpStart(h, event, host, port)


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
    await forward(conn, start.h, start.request, (start.host, start.port))


async def _authorized(conn: ClientConnection, request: h11.Request) -> bool:
    """``Proxy-Authorization: Basic`` against the users; ``407`` when it fails."""
    record, policy = conn.record, conn.policy
    if not conn.config.auth.requires_password:
        return True
    value = next((v for n, v in request.headers if n == b"proxy-authorization"), None)
    credentials = basic_credentials(value)
    faults = await conn.faults_at(Phase.AUTH)
    status: int = AuthStatus.FAILURE
    failed: Sequence[Fault]
    if isinstance(credentials, str):  # what is wrong with the header
        error: str | None = credentials
        failed = failed_auth(faults)  # a FailAuth here acts on the 407 all the same
    else:
        record.gave_credentials(*credentials)
        status, error, failed = policy.credentials(*credentials, faults)
    record.authenticated_as(status == AuthStatus.SUCCESS)
    if status == AuthStatus.SUCCESS:  # no answer of its own: the request's follows
        return await delay_or_end(conn, faults)
    await answer(
        conn, faults, auth_required(), shaped=failed, outcome=Outcome.AUTH_FAILED, error=error
    )
    return False
