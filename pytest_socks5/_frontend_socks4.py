"""The SOCKS 4 and 4a front end: one request, answered with CD 0x5A or a refusal.

Strategy: SOCKS 4 has no greeting and no password, only a USERID, which the policy
checks (``socks4_user_ids``) before anything else. Then the request runs through the
same decision points and the same CONNECT and BIND as SOCKS5, phrased with SOCKS 4's
replies, so every request and reply fault that SOCKS 4 can express acts the same way.
"""

from __future__ import annotations

from ._answers import answer
from ._bind import serve_bind
from ._connection import ClientConnection
from ._protocol import Socks4Command, Socks4Reply, Socks4Request, Socks4Response
from ._records import Outcome
from ._replies import Socks4Replies
from ._requests import refused, request_phase, serve_connect

__all__ = ["serve_request"]

REPLIES = Socks4Replies()
REJECTED = Socks4Response(status=Socks4Reply.REJECTED)


async def serve_request(conn: ClientConnection, request: Socks4Request) -> None:
    """Serve a SOCKS 4/4a request: USERID, its decision points, then its command."""
    record, config = conn.record, conn.config
    authenticated, error = conn.policy.socks4_user(request.user_id)
    if authenticated is not None:
        record.authenticated_as(authenticated)
    if error is not None:
        refused_id = config.socks4_user_ids is not None  # else: a password is required
        code = config.socks4_user_id_reply if refused_id else Socks4Reply.REJECTED
        record.replied(code)
        conn.reject(Outcome.AUTH_FAILED, Socks4Response(status=code), error=error)
        return
    if request.command not in (Socks4Command.CONNECT, Socks4Command.BIND):
        record.replied(Socks4Reply.REJECTED)
        error = f"SOCKS4 command 0x{request.command:02x} is not supported"
        await answer(conn, [], REJECTED, outcome=Outcome.REJECTED, error=error)
        return
    if not await request_phase(conn, REPLIES):
        return
    if refused(conn, REPLIES, request.command, request.host, request.port):
        return
    if request.command == Socks4Command.BIND:
        await serve_bind(conn, REPLIES, request)
        return
    await serve_connect(conn, REPLIES, request.host, request.port)
