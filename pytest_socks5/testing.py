"""Unit-test your own faults and hooks offline: no server, no socket, no event loop.

Strategy: a fault's effect on an answer is decided by the pure answer plan that the
server itself carries out (``_answer_plan.py``), and a hook is a function of a record, so
both run here exactly as the server runs them: :func:`answer` gives the plan for a
server answer at a phase (by default, the sans-I/O core's own encoding of a typical
answer), :func:`run_hook` and :func:`run_data_hook` call a hook and check what it returns
the way the server does, and :func:`record` builds the
:class:`~pytest_socks5.ConnectionRecord` a hook
or a selection sees.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable
from typing import Any

from ._answer_plan import AnswerPlan, plan_answer
from ._checkpoints import check_hook_result, data_rewriter, hold_phase
from ._fault_types import Direction, Fault, Phase, to_direction
from ._protocol import AddressType, AuthMethod, AuthStatus, Command, Reply
from ._records import ConnectionRecord

__all__ = ["AnswerPlan", "answer", "record", "run_data_hook", "run_hook", "selects"]

#: What the server answers at each phase when all goes well (SOCKS5): the method
#: selection (no authentication), the RFC 1929 success, and a success reply bound to
#: ``127.0.0.1:8080``.
TYPICAL_ANSWERS = {
    Phase.GREETING: bytes((5, AuthMethod.NO_AUTHENTICATION_REQUIRED)),
    Phase.AUTH: bytes((1, AuthStatus.SUCCESS)),
    Phase.REQUEST: b"",
    Phase.REPLY: bytes((5, Reply.SUCCEEDED, 0, AddressType.IPV4, 127, 0, 0, 1, 0x1F, 0x90)),
}


def answer(
    faults: Fault | list[Fault] | tuple[Fault, ...],
    data: bytes | None = None,
    *,
    at: str | None = None,
) -> AnswerPlan:
    """What the server does with its answer ``data`` at ``at`` through ``faults``.

    ``at`` defaults to the first fault's phase, ``data`` to :data:`TYPICAL_ANSWERS` for
    it. The plan says: ``delay``, ``instead`` (``"close"``, ``"reset"``, ``"stall"``: no
    answer), ``data`` (the bytes sent), ``fragment``, ``then`` and ``acted`` (the faults
    the record would list).
    """
    given = [faults] if isinstance(faults, Fault) else list(faults)
    for fault in given:
        if not isinstance(fault, Fault):
            raise TypeError(f"answer(): faults: expected Fault values, got {fault!r}")
    phase = Phase(hold_phase("answer(): at", at)) if at is not None else None
    phase = phase or next((f.phase for f in given if f.phase is not None), Phase.REPLY)
    return plan_answer(given, TYPICAL_ANSWERS[phase] if data is None else data, offline=True)


def record(**fields: Any) -> ConnectionRecord:
    """A record as a hook or a selection sees it at the reply: a SOCKS5 CONNECT from
    ``127.0.0.1:40000`` to ``example.test:80`` unless ``fields`` say otherwise."""
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
    at ``at`` its ``ValueError``."""
    phase = hold_phase("run_hook(): at", at)
    result = fn(record() if rec is None else rec)
    if inspect.isawaitable(result):
        awaited = result

        async def finish() -> Any:
            return await awaited

        result = asyncio.run(finish())
    return check_hook_result(result, phase)


def run_data_hook(
    fn: Callable[[Direction, bytes], bytes | None], direction: Direction | str, data: bytes
) -> bytes:
    """The bytes the relay passes on after the data hook ``fn`` saw ``data`` going
    ``direction`` (``"from_client"`` or ``"to_client"``)."""
    return data_rewriter((fn,), to_direction(direction), offline=True)(data)
