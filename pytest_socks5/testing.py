"""Unit-test your own faults and hooks offline: no server, no socket, no event loop.

Strategy: a fault's effect on an answer is decided by the pure answer plan that the
server itself carries out (``_answer_plan.py``), the message by the same calls as the
server's front ends make (``Policy.method_for`` and ``Policy.credentials`` of a server
with the defaults, and ``_replies.reply_answer`` with the SOCKS5 replies), and a hook is
a function of a record, so all run here exactly as the server runs them:
:func:`answer` gives the plan for a server answer at a phase (by default, the sans-I/O
core's own encoding of a typical answer), :func:`run_hook` and :func:`run_data_hook` call
a hook and check what it returns the way the server does, and :func:`record` builds the
:class:`~pytest_socks5.ConnectionRecord` a hook or a selection sees.
"""

from __future__ import annotations

import asyncio
import dataclasses
import inspect
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from ._answer_plan import AnswerPlan, forced_reply, plan_answer, plan_without_answer
from ._checkpoints import check_hook_result, data_rewriter, hold_phase
from ._checks import optional, raw_bytes
from ._config import EngineConfig
from ._conversation import ServerMessage
from ._criteria import check_fields
from ._fault_set import FaultSet
from ._fault_types import Direction, Fault, Phase, to_direction
from ._policy import Policy
from ._protocol import AddressType, AuthMethod, AuthReply, Command, MethodSelection
from ._records import ConnectionRecord
from ._replies import Socks5Replies, reply_answer

__all__ = [
    "TYPICAL_ANSWERS",
    "AnswerPlan",
    "answer",
    "record",
    "run_data_hook",
    "run_hook",
    "selects",
]

#: The server the answers are the answers of: the default configuration (no
#: authentication), no faults of its own; its SOCKS5 front end's wording.
_POLICY = Policy(EngineConfig(), FaultSet())
_REPLIES = Socks5Replies()
#: What a typical client offers in its greeting.
_OFFERED = (AuthMethod.NO_AUTHENTICATION_REQUIRED,)
#: Where a typical reply says the server bound its side of the connection.
_BOUND = ("127.0.0.1", 8080)


def _message(phase: Phase, faults: list[Fault]) -> tuple[ServerMessage, Sequence[Fault]]:
    """The server's answer at ``phase`` (not the request) as the faults there that choose
    the message make it, and those faults: picked by the same calls as the front end's."""
    if phase is Phase.GREETING:
        method, shaped = _POLICY.method_for(_OFFERED, faults)
        return MethodSelection(method=method), shaped
    if phase is Phase.AUTH:  # (the typical server checks no password)
        status, _, shaped = _POLICY.credentials(b"", b"", faults)
        return AuthReply(status=status), shaped
    message, shaped, _ = reply_answer(_REPLIES, faults, _BOUND)
    return message, shaped


#: What the server answers at each phase when all goes well (SOCKS5), in the sans-I/O
#: core's encoding: the method selection (no authentication), the RFC 1929 success, and
#: a success reply bound to ``127.0.0.1:8080``. At the request the server sends nothing
#: of its own (the reply answers it).
TYPICAL_ANSWERS = {
    Phase.GREETING: _message(Phase.GREETING, [])[0].to_bytes(),
    Phase.AUTH: _message(Phase.AUTH, [])[0].to_bytes(),
    Phase.REQUEST: b"",
    Phase.REPLY: _message(Phase.REPLY, [])[0].to_bytes(),
}


def answer(
    faults: Fault | list[Fault] | tuple[Fault, ...],
    data: bytes | None = None,
    *,
    at: str | None = None,
) -> AnswerPlan:
    """What the SOCKS5 server answers at ``at`` through ``faults``.

    ``at`` defaults to the first fault's phase; as on the server, only the faults of that
    phase act there (and, at the request, a ``ReplyWith`` answers with the reply, through
    the faults given for the reply). The answer is :data:`TYPICAL_ANSWERS`' for ``at`` as
    the faults that choose the message make it (``ForceMethod``, ``FailAuth``,
    ``ReplyWith``, ``BoundAddress``), or ``data``: other bytes for the faults that change
    bytes to act on (not with the faults that choose the message). The plan says:
    ``delay``, ``instead`` (``"close"``, ``"reset"``, ``"stall"``: no answer), ``data``
    (the bytes sent), ``fragment``, ``then`` and ``acted`` (the faults the record would
    list). After a refusal (a ``FailAuth``, a ``ReplyWith``, a method it cannot speak)
    the server closes, as it does after any refusal.
    """
    given = [faults] if isinstance(faults, Fault) else list(faults)
    for fault in given:
        if not isinstance(fault, Fault):
            raise TypeError(f"answer(): faults: expected Fault values, got {fault!r}")
    data = optional(raw_bytes)("answer(): data", data)
    phase = Phase(hold_phase("answer(): at", at)) if at is not None else None
    phase = phase or next((f.phase for f in given if f.phase is not None), Phase.REPLY)
    here = [f for f in given if f.phase is phase]  # as FaultSet.pick chooses them
    if phase is Phase.REQUEST:
        return _request_answer(here, [f for f in given if f.phase is Phase.REPLY], data)
    message, shaped = _message(phase, here)
    return plan_answer(here, _bytes(message, shaped, data), shaped=shaped, offline=True)


def _request_answer(here: list[Fault], later: list[Fault], data: bytes | None) -> AnswerPlan:
    """At the request, as ``_requests.request_phase`` answers: its ``Delay``, ``Stall``
    and ``Close``, then a ``ReplyWith``'s reply through the reply's faults ``later``."""
    before = plan_without_answer(here)
    forced = forced_reply(here)
    if forced is None and data is not None:
        raise ValueError(
            f"answer(): data: at 'request' the server sends no answer of its own (a "
            f"ReplyWith answers with the reply); give no data, got {data!r}"
        )
    if forced is None or before.instead is not None:
        return before
    message, shaped, _ = reply_answer(_REPLIES, later, forced.reply, forced)
    after = plan_answer(later, _bytes(message, shaped, data), shaped=shaped, offline=True)
    return dataclasses.replace(
        after, delay=before.delay + after.delay, acted=(*before.acted, *after.acted)
    )


def _bytes(message: ServerMessage, shaped: Sequence[Fault], data: bytes | None) -> bytes:
    """The bytes of ``message``, or ``data`` if no fault chose the message."""
    if data is None:
        return message.to_bytes()
    if shaped:
        names = ", ".join(f.describe() for f in shaped)
        raise ValueError(
            f"answer(): data: {names} makes the answer itself; give no data to see the "
            f"answer it makes, got {data!r}"
        )
    return data


def record(**fields: Any) -> ConnectionRecord:
    """A record as a hook or a selection sees it at the reply: a SOCKS5 CONNECT from
    ``127.0.0.1:40000`` to ``example.test:80`` unless ``fields`` say otherwise. A name
    that is no field, or a value of a type the field never holds, is a :exc:`TypeError`."""
    check_fields(fields, ConnectionRecord, "record()")
    values: dict[str, Any] = {
        "id": 1,
        "client_address": ("127.0.0.1", 40000),
        "version": 5,
        "offered_methods": (AuthMethod.NO_AUTHENTICATION_REQUIRED,),
        "chosen_method": AuthMethod.NO_AUTHENTICATION_REQUIRED,
        "command": Command.CONNECT,
        "address_type": AddressType.DOMAIN,
        "host": "example.test",
        "port": 80,
    }
    values.update(fields)
    return ConnectionRecord(**values)


def selects(fault: Fault, rec: ConnectionRecord) -> bool:
    """Whether ``fault``'s selection (not counting ``times``/``nth``) matches ``rec``."""
    return fault.selects(rec)


def run_hook(
    fn: Callable[[ConnectionRecord], Any],
    rec: ConnectionRecord | None = None,
    *,
    at: str = "reply",
) -> Fault | None:
    """Call the hook ``fn`` (plain or ``async``) as the server would at ``at``: its fault,
    or ``None``; anything else is the server's ``TypeError``, and a fault that cannot act
    at ``at`` (or on ``rec``: a transfer fault for a UDP association) its ``ValueError``.

    Works in sync and async tests alike. An async hook runs to its end on an event loop
    of its own, as on the server (whose loop is not the test's): in an async test, on a
    thread of its own, the test's loop waiting meanwhile; so a hook that waits for
    something only the test's loop serves (a server the test runs itself) cannot finish.
    """
    phase = hold_phase("run_hook(): at", at)
    rec = record() if rec is None else rec
    result = fn(rec)
    if inspect.isawaitable(result):
        result = _finish(result)
    known = phase in ("request", "reply")  # the command is the server's to know from then
    return check_hook_result(result, phase, rec.command if known else None)


def _finish(awaitable: Awaitable[Any]) -> Any:
    """``awaitable``'s result, awaited on a private event loop (in a thread of its own if
    this one runs a loop already: ``asyncio.run`` refuses to start a second)."""

    async def finish() -> Any:
        return await awaitable

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(finish())
    with ThreadPoolExecutor(1, thread_name_prefix="pytest-socks5-run_hook") as worker:
        return worker.submit(asyncio.run, finish()).result()


def run_data_hook(
    fn: Callable[[Direction, bytes], bytes | None], direction: Direction | str, data: bytes
) -> bytes:
    """The bytes the relay passes on after the data hook ``fn`` saw ``data`` going
    ``direction`` (``"from_client"`` or ``"to_client"``)."""
    return data_rewriter((fn,), to_direction(direction), offline=True)(data)
