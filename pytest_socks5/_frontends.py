"""Which front end serves a connection: the first client message decides.

Strategy: the sans-I/O parser tells SOCKS5 (a greeting) from SOCKS 4/4a (a request) by
the version byte. The negotiation — everything up to a complete request — runs under the
server's ``handshake_timeout``; the request is served after it, so a slow dial is bounded
by ``connect_timeout`` alone. A new wire protocol is one more branch here and one more
front end module beside the two below.
"""

from __future__ import annotations

from . import _frontend_socks4 as socks4
from . import _frontend_socks5 as socks5
from ._connection import ClientConnection
from ._protocol import Greeting, Request, Socks4Request

__all__ = ["serve_client"]


async def serve_client(conn: ClientConnection) -> None:
    """Serve one accepted connection from its first byte to its tunnel or refusal."""
    request = await conn.within_handshake_timeout(_negotiate(conn))
    if request is None:
        return
    if isinstance(request, Socks4Request):
        await socks4.serve_request(conn, request)
    else:
        await socks5.serve_request(conn, request)


async def _negotiate(conn: ClientConnection) -> Request | Socks4Request | None:
    first = await conn.next_message()
    if isinstance(first, Socks4Request):
        conn.record.note_request(first)
        return first
    assert isinstance(first, Greeting)
    return await socks5.negotiate(conn, first)
