"""Answering through faults: carry out an :class:`~pytest_socks5._answer_plan.AnswerPlan`.

Strategy: a front end hands over the message it would send at a decision point, the
faults that hit there, and — for a failure — the outcome to record. With no fault the
message goes out as it is (or as the RFC's refusal and close). With faults, the pure
plan says what to do instead and this module does it on the connection: wait, end
without answering, send other bytes or the same bytes in slices, then close or stall.
Every front end answers through here, so a fault means the same on every protocol, and
here a fault is noted in the record: when it acts, not when it is picked. A fault that
shaped the message itself (``ForceMethod``, ``FailAuth``, ``ReplyWith``, ``BoundAddress``)
is passed as ``shaped`` and acts if that message goes out. Bytes another party wrote (a
forwarded HTTP response head) go through the same plan (:func:`answer_head`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Sequence

from ._answer_plan import AnswerPlan, plan_answer, plan_without_answer
from ._connection import ClientConnection
from ._conversation import MESSAGE_NAMES, ServerMessage
from ._fault_types import Fault
from ._records import Outcome
from ._sockets import reset_transport

__all__ = ["answer", "answer_head", "delay_or_end"]


async def answer(
    conn: ClientConnection,
    faults: list[Fault],
    message: ServerMessage,
    *,
    shaped: Sequence[Fault] = (),
    outcome: Outcome | None = None,
    error: str | None = None,
) -> bool:
    """Send ``message`` (made by the ``shaped`` faults) through ``faults``; then close if
    ``outcome`` is given.

    Returns ``False`` when the conversation is over (a failure answer, or a fault that
    closed or stalled the connection).
    """
    if not faults:
        _note(conn, shaped)
        if outcome is None:
            conn.send(message)
            return True
        conn.reject(outcome, message, error=error)
        return False
    plan = plan_answer(faults, conn.encode(message), shaped=shaped)
    name = MESSAGE_NAMES[type(message)]
    return await _carry_out(conn, plan, name, outcome=outcome, error=error)


async def answer_head(
    conn: ClientConnection,
    faults: list[Fault],
    name: str,
    data: bytes,
    on_sent: Callable[[bytes], None],
    write: Callable[[bytes], None],
    flushed: Callable[[], Awaitable[None]],
) -> bool:
    """Send ``data`` that another party wrote (a forwarded response head, recorded as
    ``name``) through ``faults``, as :func:`answer` sends the server's own answer;
    ``on_sent`` gets the bytes that go out, if any (not when a fault closes or stalls),
    and ``write`` writes them (the forwarder's wire); a fault that closes or stalls after
    them waits for ``flushed`` first (what ``write`` holds back). Returns ``False`` when
    a fault ended the conversation (what follows is not sent)."""
    if not faults:
        on_sent(data)
        if data:
            conn.record.sent(name, data)
            write(data)
        return True
    plan = plan_answer(faults, data)
    return await _carry_out(conn, plan, name, on_sent=on_sent, write=write, flushed=flushed)


async def _carry_out(
    conn: ClientConnection,
    plan: AnswerPlan,
    name: str,
    *,
    outcome: Outcome | None = None,
    error: str | None = None,
    on_sent: Callable[[bytes], None] | None = None,
    write: Callable[[bytes], None] | None = None,
    flushed: Callable[[], Awaitable[None]] | None = None,
) -> bool:
    assert conn.transport is not None
    write = write or conn.transport.write
    if not await _wait_or_end(conn, plan):
        return False
    _note(conn, plan.acted)
    data = plan.data
    if data:  # what the client is sent, after the faults (all of it, if fragmented)
        if on_sent is not None:
            on_sent(data)
        if plan.replaced or plan.rewritten:  # the code sent is the one in these bytes
            conn.record.sent_instead(name, data)
        else:
            conn.record.sent(name, data)
    if outcome is not None:
        conn.record.end(outcome, closed_by="server", error=error)
    if plan.fragment is None:
        write(data)
    else:
        await _write_sliced(write, data, *plan.fragment)
    if plan.then is not None and flushed is not None:
        await flushed()
    if plan.then == "stall":
        conn.record.failed(f"{_what_was_sent(plan, len(data))}, then stalled by a fault")
        await _stall(conn)
        return False
    if plan.then == "close":
        _close_for_fault(conn, f"{_what_was_sent(plan, len(data))}, then closed")
        return False
    if outcome is not None:
        conn.reject(outcome, b"", error=error)
        return False
    return True


def _what_was_sent(plan: AnswerPlan, length: int) -> str:
    """What a fault sent before it closed or stalled: ``a raw answer of 10 bytes``."""
    size = f"{length} byte" + ("" if length == 1 else "s")
    if plan.replaced:
        return f"{'a rewritten' if plan.rewritten else 'a'} raw answer of {size}"
    if plan.rewritten:
        return f"a rewritten answer of {size}"
    return f"the answer was cut short ({size} sent)"


async def delay_or_end(conn: ClientConnection, faults: list[Fault]) -> bool:
    """The faults at a decision point with no answer of its own (a request, before the
    destination is dialled; good HTTP credentials, which the request's answer follows):
    ``Delay``, ``Stall`` and ``Close`` act, nothing else has an answer to change.
    Returns ``False`` when a fault ended the conversation."""
    if not faults:  # (most connections have none: no plan made for them)
        return True
    plan = plan_without_answer(faults)
    if not await _wait_or_end(conn, plan):
        return False
    _note(conn, plan.acted)
    return True


async def _wait_or_end(conn: ClientConnection, plan: AnswerPlan) -> bool:
    """The plan's delay, then its ending instead of an answer; ``False`` if it ended
    (the faults that ended it noted)."""
    if plan.delay:
        await asyncio.sleep(plan.delay)
    if plan.instead is not None:
        _note(conn, plan.acted)
    if plan.instead == "stall":
        await _stall(conn)
        return False
    if plan.instead is not None:
        _close_for_fault(conn, plan.reason, reset=plan.instead == "reset")
        return False
    return True


def _note(conn: ClientConnection, faults: Iterable[Fault]) -> None:
    """Note in the record that ``faults`` acted, with where."""
    for fault in faults:
        conn.policy.note(conn.record, fault, conn.acts_at(fault))


# -- what a fault does instead of an ordinary answer ------------------------------------


async def _write_sliced(
    write: Callable[[bytes], None], data: bytes, cuts: tuple[int, ...], delay: float
) -> None:
    """Write ``data`` cut at the offsets ``cuts``, the pieces ``delay`` seconds apart."""
    for start, end in zip((0, *cuts), (*cuts, len(data)), strict=True):
        if start:
            await asyncio.sleep(delay)
        write(data[start:end])


async def _stall(conn: ClientConnection) -> None:
    """Say nothing until the client gives up (EOF or reset) or the server stops."""
    while not (conn.client_eof or conn.lost):
        await conn.wakeup()
    conn.conn.close()
    if conn.transport is not None:
        conn.transport.close()
    conn.close_upstream()


def _close_for_fault(conn: ClientConnection, what: str, *, reset: bool = False) -> None:
    """End the connection because a fault said so (FIN, or RST with ``reset``)."""
    assert conn.transport is not None
    conn.record.end(
        Outcome.FAULT,
        closed_by="server",
        how="rst" if reset else "fin",
        error=f"closed by a fault: {what}",
    )
    conn.conn.close()
    if reset:
        reset_transport(conn.transport)
    else:
        conn.transport.close()
    conn.close_upstream()
