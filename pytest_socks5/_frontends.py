"""Which front end serves a connection: the first client byte decides.

Strategy: the first byte is looked at, never taken: 0x04 or 0x05 (or anything else that
is not an HTTP method's first letter) goes to the sans-I/O SOCKS parser, which tells
SOCKS5 (a greeting) from SOCKS 4/4a (a request) by the version byte; an upper-case
letter (``CONNECT``, ``GET``, …) starts an HTTP proxy request, whose bytes h11 reads from
the same buffer, in order (the HTTP front end, and h11, are imported then: a run with no
HTTP client never loads them). The negotiation — everything up to a complete request — runs
under the server's ``handshake_timeout``; the request is served after it, so a slow dial
is bounded by ``connect_timeout`` alone. A new wire protocol is one more branch here and
one more front end module beside the three below.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import _frontend_socks4 as socks4
from . import _frontend_socks5 as socks5
from ._connection import ClientConnection
from ._http import METHOD_START
from ._protocol import Greeting, Request, Socks4Request

if TYPE_CHECKING:
    from ._frontend_http import HttpStart

__all__ = ["serve_client"]


async def serve_client(conn: ClientConnection) -> None:
    """Serve one accepted connection from its first byte to its tunnel or refusal."""
    request = await conn.within_handshake_timeout(_negotiate(conn))
    if request is None:
        return
    if isinstance(request, Socks4Request):
        await socks4.serve_request(conn, request)
    elif isinstance(request, Request):
        await socks5.serve_request(conn, request)
    else:
        from . import _frontend_http as http

        await http.serve_request(conn, request)


async def _negotiate(conn: ClientConnection) -> Request | Socks4Request | HttpStart | None:
    if await _speaks_http(conn):
        # h11 and the HTTP front end load with the first HTTP client (a SOCKS-only run,
        # the usual one, never pays for them).
        from . import _frontend_http as http

        return await http.negotiate(conn)
    first = await conn.next_message()
    if isinstance(first, Socks4Request):
        conn.record.note_request(first)
        return first
    assert isinstance(first, Greeting)
    return await socks5.negotiate(conn, first)


async def _speaks_http(conn: ClientConnection) -> bool:
    """Whether the first byte starts an HTTP method (waiting for it; not consumed)."""
    while not conn.conn.buffered and not conn.client_eof:
        if conn.lost:
            raise ConnectionResetError("the client connection was lost")
        await conn.wakeup()
    first = conn.conn.buffered_data[:1]
    return bool(first) and first[0] in METHOD_START
