"""What the faults at one decision point do to the server's answer, decided without I/O.

Strategy: the handshake faults are plain values; applying them is two steps. This module
is the first, pure step: given the faults that hit a connection at a phase and the bytes
the server would send, :func:`plan_answer` says what to do instead — wait, end the
connection without answering (close, reset, stall), send other bytes, send them in
slices, then close or stall; a custom fault's ``rewrite`` — and which of the faults
acted, so that a record lists exactly those. The faults that choose the message itself
(``ForceMethod``, ``FailAuth``, ``ReplyWith``; ``BoundAddress`` is the protocol's
``Replies.shaping``) are picked here too, and a plan lists them as acting when the
message they made goes out. The I/O layer (``_answers.py``) only carries the plan out,
and the front ends and ``pytest_socks5.testing`` pick from the same functions, so a
fault's effect can be checked offline, byte for byte.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from ._custom_faults import CustomFault
from ._fault_types import (
    Close,
    Delay,
    FailAuth,
    Fault,
    ForceMethod,
    Fragment,
    RawAnswer,
    ReplyWith,
    Stall,
    Truncate,
    WrongVersion,
)
from ._user_code import users_error

__all__ = [
    "ACTS_WITHOUT_ANSWER",
    "AnswerPlan",
    "failed_auth",
    "forced_method",
    "forced_reply",
    "plan_answer",
    "plan_without_answer",
]

Ending = Literal["close", "reset", "stall"]


@dataclass(frozen=True, kw_only=True, slots=True)
class AnswerPlan:
    """How to answer at one phase."""

    #: Seconds to wait before anything else (the sum of the ``Delay`` faults).
    delay: float = 0.0
    #: End the connection instead of answering (``Close``: close or reset; ``Stall``).
    instead: Ending | None = None
    #: The fault that ended it, as records describe it.
    reason: str = ""
    #: The bytes to send (the answer, or what an answer fault made of it).
    data: bytes = b""
    #: Send ``data`` cut at these offsets, the pieces this many seconds apart.
    fragment: tuple[tuple[int, ...], float] | None = None
    #: After sending: close, or say nothing more (``then=`` of ``RawAnswer``/``Truncate``).
    then: str | None = None
    #: The faults that act: those that made the message (if it goes out as made), then
    #: the others in the order given; not one whose effect another undoes (a
    #: ``WrongVersion`` before a ``RawAnswer``; anything but ``Delay`` beside a ``Close``).
    acted: tuple[Fault, ...] = ()
    #: A ``RawAnswer`` replaced the message: what shaped the message did not act either.
    replaced: bool = False
    #: A ``WrongVersion`` or a custom fault's ``rewrite`` changed the bytes (the message's
    #: or a ``RawAnswer``'s): the code the client was sent is read from them.
    rewritten: bool = False


#: The faults that act at a decision point with no answer of its own (a request before
#: the dial; good HTTP credentials), where there is no answer to change: so also the ones
#: a gate or a hook may give at any decision point (``_policy.acting_phases``).
ACTS_WITHOUT_ANSWER = (Delay, Close, Stall)


def forced_method(faults: Sequence[Fault]) -> list[ForceMethod]:
    """The ``ForceMethod`` whose method answers the greeting (the last one wins), as a
    list of one; empty if none."""
    return [f for f in faults if isinstance(f, ForceMethod)][-1:]


def failed_auth(faults: Sequence[Fault]) -> list[FailAuth]:
    """The ``FailAuth`` whose status answers the credentials (the first one wins), as a
    list of one; empty if none."""
    return [f for f in faults if isinstance(f, FailAuth)][:1]


def forced_reply(faults: Sequence[Fault]) -> ReplyWith | None:
    """The ``ReplyWith`` that answers a request instead of the dial (the first one wins)."""
    return next((f for f in faults if isinstance(f, ReplyWith)), None)


def plan_without_answer(faults: Sequence[Fault]) -> AnswerPlan:
    """The plan at a decision point with no answer of its own (a request before the dial;
    good HTTP credentials): only ``Delay``, ``Stall`` and ``Close`` act."""
    return plan_answer([f for f in faults if isinstance(f, ACTS_WITHOUT_ANSWER)], b"")


def plan_answer(
    faults: Sequence[Fault],
    data: bytes,
    *,
    shaped: Sequence[Fault] = (),
    offline: bool = False,
) -> AnswerPlan:
    """The plan for answering ``data`` through ``faults`` (in the order they were added);
    ``shaped``: the faults that made the message ``data`` encodes, which act if it goes
    out (not if a fault ends the connection instead, or a ``RawAnswer`` replaces it).
    A custom fault's ``rewrite`` that raises (or returns no bytes) is a
    :class:`UserCodeError` naming it, unless ``offline`` (``pytest_socks5.testing``)."""
    delays = [f for f in faults if isinstance(f, Delay)]
    delay = sum(f.seconds for f in delays)
    for fault in faults:
        if isinstance(fault, Close | Stall):
            ending: Ending = "stall" if isinstance(fault, Stall) else "close"
            if isinstance(fault, Close) and fault.reset:
                ending = "reset"
            acted = (*[f for f in faults if f in delays], fault)
            return AnswerPlan(delay=delay, instead=ending, reason=fault.describe(), acted=acted)
    then: str | None = None
    changed: list[Fault] = []
    replaced = rewritten = False
    for fault in faults:
        if isinstance(fault, WrongVersion):
            before, data = data, bytes((fault.version,)) + data[1:]
            rewritten = rewritten or data != before  # its code is read from these bytes
        elif isinstance(fault, RawAnswer):
            data, then, replaced = fault.data, fault.then, True
            changed.clear()  # what came before is gone
        elif isinstance(fault, Truncate):
            data, then = data[: fault.length], fault.then
        elif isinstance(fault, CustomFault):
            before, data = data, _rewritten(fault, data, offline)
            rewritten = rewritten or data != before
            then = fault.then if fault.then is not None else then
        else:
            continue
        changed.append(fault)
    # A fragment acts if it cuts the answer somewhere (a split past the end does not).
    fragment = next((f for f in faults if isinstance(f, Fragment)), None)
    cuts = () if fragment is None else _cuts(fragment, len(data))
    sliced = (cuts, fragment.delay) if fragment is not None and cuts else None
    acting = {*delays, *changed, *([fragment] if sliced is not None else [])}
    return AnswerPlan(
        delay=delay,
        data=data,
        fragment=sliced,
        then=then,
        acted=(*([] if replaced else shaped), *(f for f in faults if f in acting)),
        replaced=replaced,
        rewritten=rewritten,
    )


def _rewritten(fault: CustomFault, data: bytes, offline: bool) -> bytes:
    try:
        result = fault.rewrite(data)
        if not isinstance(result, bytes | bytearray):
            name = type(fault).__name__
            raise TypeError(f"{name}.rewrite() returned {result!r}; it returns the bytes to send")
    except BaseException as exc:
        source = f"custom fault {type(fault).__name__}.rewrite()"
        raise users_error(exc, source, offline=offline) from exc
    return bytes(result)


def _cuts(fragment: Fragment, length: int) -> tuple[int, ...]:
    """Where ``fragment`` cuts an answer of ``length`` bytes (offsets inside it)."""
    if fragment.split is not None:
        return (fragment.split,) if 0 < fragment.split < length else ()
    size = fragment.size or 1  # set unless split is
    return tuple(range(size, length, size))
