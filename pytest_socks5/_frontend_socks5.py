"""The SOCKS5 front end (RFC 1928, RFC 1929): greeting, authentication, request.

Strategy: the conversation reads as the RFC does. Each client message is a decision
point: the policy says which method to choose, whether the credentials pass, whether the
destination is allowed; the faults that hit there change or replace the answer. Then
the command is served: CONNECT by the shared steps of ``_requests.py``, BIND and UDP
ASSOCIATE by their own modules, anything else with REP 0x07.
"""

from __future__ import annotations

import functools

from ._answers import answer
from ._bind import serve_bind
from ._connection import ClientConnection
from ._fault_types import Phase
from ._protocol import (
    AuthMethod,
    AuthReply,
    AuthRequest,
    AuthStatus,
    Command,
    Greeting,
    MethodSelection,
    Reply,
    Request,
)
from ._records import Outcome
from ._replies import Socks5Replies
from ._requests import answer_request, refused, request_phase, serve_connect
from ._udp import serve_udp_associate

__all__ = ["negotiate", "serve_request"]

REPLIES = Socks5Replies()


@functools.cache
def _selection(method: int) -> MethodSelection:
    """One value per METHOD (256 at most), shared by every connection that chooses it."""
    return MethodSelection(method=method)


async def negotiate(conn: ClientConnection, greeting: Greeting) -> Request | None:
    """Method selection, the RFC 1929 sub-negotiation, then the request (``None`` when
    the conversation ended before it)."""
    record, policy = conn.record, conn.policy
    record.greeted(greeting.methods)
    faults = await conn.faults_at(Phase.GREETING)
    method, forced = policy.method_for(greeting.methods, faults)
    record.chose_method(method)
    selection = _selection(method)
    refusal = policy.refusal_of(greeting.methods, method)
    if refusal is not None:
        outcome = (
            Outcome.NO_ACCEPTABLE_METHOD
            if method == AuthMethod.NO_ACCEPTABLE_METHODS
            else Outcome.FAULT
        )
        await answer(conn, faults, selection, shaped=forced, outcome=outcome, error=refusal)
        return None
    if not await answer(conn, faults, selection, shaped=forced):
        return None
    if method == AuthMethod.USERNAME_PASSWORD:
        credentials = await conn.next_message()
        assert isinstance(credentials, AuthRequest)
        record.gave_credentials(credentials.username, credentials.password)
        faults = await conn.faults_at(Phase.AUTH)
        status, error, failed = policy.credentials(
            credentials.username, credentials.password, faults
        )
        record.authenticated_as(status == AuthStatus.SUCCESS)
        if status != AuthStatus.SUCCESS:
            refusal_reply = AuthReply(status=status)
            await answer(
                conn,
                faults,
                refusal_reply,
                shaped=failed,
                outcome=Outcome.AUTH_FAILED,
                error=error,
            )
            return None
        if not await answer(conn, faults, AuthReply(status=AuthStatus.SUCCESS)):
            return None
    request = await conn.next_message()
    assert isinstance(request, Request)
    record.note_request(request)
    return request


async def serve_request(conn: ClientConnection, request: Request) -> None:
    """Serve a SOCKS5 request: its decision points, then its command."""
    command = request.command
    if command not in (Command.CONNECT, Command.BIND, Command.UDP_ASSOCIATE):
        conn.record.replied(Reply.COMMAND_NOT_SUPPORTED)
        error = f"command 0x{command:02x} is not supported"
        faults = await conn.faults_at(Phase.REPLY)  # a gate's or hook's ReplyWith answers
        refusal = Reply.COMMAND_NOT_SUPPORTED
        instead = "instead of REP 0x07 (command not supported)"
        await answer_request(conn, REPLIES, faults, refusal, error=error, instead=instead)
        return
    if not await request_phase(conn, REPLIES):
        return
    if command == Command.UDP_ASSOCIATE:
        # The request names the client's own UDP address; each datagram's destination
        # is checked by the relay.
        if not refused(conn, REPLIES, command, None, None):
            await serve_udp_associate(conn, request)
        return
    if refused(conn, REPLIES, command, request.host, request.port):
        return
    if command == Command.BIND:
        await serve_bind(conn, REPLIES, request)
        return
    await serve_connect(conn, REPLIES, request.host, request.port)
