"""The request's decision points and CONNECT, the same for every front end.

Strategy: once a front end has a request it calls, in order: :func:`request_phase`
(faults before the dial: delay, stall, close, or a ``ReplyWith`` answer without dialling),
:func:`refused` (the rules and the hermetic default, before any lookup), then the
command. CONNECT is :func:`serve_connect`: dial (``host_map`` first), then the reply
faults, the reply and the tunnel. Every command answers at the reply decision point
through :func:`answer_request` (BIND's first reply and UDP ASSOCIATE's too), so a
``ReplyWith`` from a gate or a hook answers each alike, and one picked at the request
answers there too, through the reply's faults; a forwarded HTTP request answers a failed
dial with its own 502 (``_http_forward``). The protocol's wording comes from a
:class:`~pytest_socks5._replies.Replies`; nothing here asks which protocol it serves.
"""

from __future__ import annotations

from collections.abc import Coroutine
from typing import Any

from ._answer_plan import forced_reply
from ._answers import answer, delay_or_end
from ._connection import ClientConnection
from ._deadline import Deadline
from ._dial_errors import reply_for_dial_error
from ._fault_types import Fault, Phase, ReplyWith
from ._guard import take_over
from ._hosts import Echo, Sink, Unresolvable, describe_target
from ._protocol import Reply
from ._records import Outcome
from ._relay import RelaySide
from ._replies import Replies, reply_answer
from ._sockets import address_of
from ._tunnel import open_tunnel
from ._virtual import open_virtual

__all__ = [
    "answer_request",
    "dial_destination",
    "dial_or_reply_with",
    "record_connected",
    "refused",
    "request_phase",
    "serve_connect",
]


async def request_phase(conn: ClientConnection, replies: Replies) -> bool:
    """The decision point before the dial. ``False``: a fault answered or ended it."""
    faults = await conn.faults_at(Phase.REQUEST)
    if not faults:  # (most connections have none)
        return True
    forced = forced_reply(faults)
    # Delay, Stall and Close act first (delay_or_end takes only them): a delayed
    # ReplyWith is a slow refusal.
    if not await delay_or_end(conn, faults):
        return False
    if forced is None:
        return True
    # The ReplyWith answers at the reply decision point, through the reply's faults.
    later = await conn.faults_at(Phase.REPLY)
    instead = "without dialling"
    await answer_request(conn, replies, later, forced.reply, forced=forced, instead=instead)
    return False


def refused(
    conn: ClientConnection, replies: Replies, command: int, host: str | None, port: int | None
) -> bool:
    """Check the destination against the rules; on a refusal, record why and answer
    REP 0x02 (SOCKS 4: 0x5B) without any lookup or dial."""
    denial = conn.policy.denial(conn.record, command, host, port)
    if denial is None:
        return False
    conn.record.denied(denial.reason)
    conn.record.replied(replies.code(Reply.CONNECTION_NOT_ALLOWED))
    conn.reject(
        Outcome.REJECTED, replies.failure(Reply.CONNECTION_NOT_ALLOWED), error=denial.error
    )
    return True


async def dial_destination(conn: ClientConnection, host: str, port: int) -> RelaySide | Reply:
    """Apply ``host_map`` (an address, a virtual destination, or unresolvable), then dial.
    A failure becomes the REP a faithful server sends. The dialled side becomes the
    connection's ``upstream`` (closed with it), and a bug it had in the dial is raised."""
    record = conn.record
    try:
        target = conn.policy.destination(host, port)
    except Unresolvable as exc:
        record.mapped("unresolvable")
        record.failed(f"dialling {describe_target((host, port))} failed: {exc}")
        return Reply.HOST_UNREACHABLE
    if target != (host, port):
        record.mapped(describe_target(target))
    try:
        with Deadline(conn.config.connect_timeout, conn.task):
            if isinstance(target, Echo | Sink):
                side = await open_virtual(target, record, conn.add_cleanup)
            else:
                side = await conn.dialler.dial(*target, record)
    except (OSError, TimeoutError) as exc:
        record.failed(f"dialling {describe_target((host, port))} failed: {exc!r}")
        return reply_for_dial_error(exc)
    conn.upstream = side  # closed with the connection, even while it is held
    take_over(side, conn.internal_error)  # a bug it had in the dial, with its own type
    return side


def answer_request(
    conn: ClientConnection,
    replies: Replies,
    faults: list[Fault],
    result: tuple[str, int] | int,
    *,
    error: str | None = None,
    instead: str,
    forced: ReplyWith | None = None,
) -> Coroutine[Any, Any, bool]:
    """Answer a request at the reply decision point, the same for every command: the
    success reply naming the bound address ``result``, or the failure REP ``result``
    (recorded with ``error``); a ``ReplyWith`` answers instead (``forced``: the request's,
    else one among ``faults``, added from a gate's release or a hook; see
    :func:`~pytest_socks5._replies.reply_answer`), its error saying what it stood
    ``instead`` of. Awaited, ``False``: the conversation is over (a failure, or a fault
    that ended it). (The answer's own coroutine, returned: one coroutine less per
    connection.)"""
    message, shaped, forced = reply_answer(replies, faults, result, forced)
    if forced is not None:
        result = forced.reply
        error = f"ReplyWith fault: {replies.name(forced.reply, [forced])} {instead}"
    if isinstance(result, int):
        conn.record.replied(replies.code(result))
        return answer(conn, faults, message, shaped=shaped, outcome=Outcome.REJECTED, error=error)
    conn.record.replied(replies.granted)
    return answer(conn, faults, message, shaped=shaped)


def dial_or_reply_with(result: RelaySide | Reply, faults: list[Fault]) -> RelaySide | Reply:
    """The dial's result, unless a ``ReplyWith`` among the reply's faults (a gate's or a
    hook's) answers instead: then the dialled side is closed, and the result is a failure
    in its place (:func:`answer_request` sends the ``ReplyWith``'s reply)."""
    if isinstance(result, RelaySide) and faults and forced_reply(faults) is not None:
        if result.transport is not None:
            result.transport.close()
        return Reply.GENERAL_FAILURE
    return result


def record_connected(conn: ClientConnection, side: RelaySide) -> tuple[str, int]:
    """Record the dialled ``side``'s addresses; its bound address (a virtual destination
    has none: the proxy's own, port 0), which the reply names."""
    assert side.transport is not None
    bound = address_of(side.transport.get_extra_info("sockname")) or (conn.local_ip, 0)
    conn.record.connected(address_of(side.transport.get_extra_info("peername")), bound)
    return bound


async def serve_connect(conn: ClientConnection, replies: Replies, host: str, port: int) -> None:
    """CONNECT, after the request phase and the rules: dial, reply, tunnel."""
    record = conn.record
    result = await dial_destination(conn, host, port)
    faults = await conn.faults_at(Phase.REPLY)
    result = dial_or_reply_with(result, faults)
    granted = record_connected(conn, result) if isinstance(result, RelaySide) else result
    error = record.error
    if await answer_request(conn, replies, faults, granted, error=error, instead="after the dial"):
        assert isinstance(result, RelaySide)
        open_tunnel(conn, result)
