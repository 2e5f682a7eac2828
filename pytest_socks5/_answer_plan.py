"""What the faults at one decision point do to the server's answer, decided without I/O.

Strategy: the handshake faults are plain values; applying them is two steps. This module
is the first, pure step: given the faults that hit a connection at a phase and the bytes
the server would send, :func:`plan_answer` says what to do instead — wait, end the
connection without answering (close, reset, stall), send other bytes, send them in
slices, then close or stall. The I/O layer (``_answers.py``) only carries the plan out,
so a fault's effect can be checked offline, byte for byte.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from ._fault_types import (
    Close,
    Delay,
    Fault,
    Fragment,
    RawAnswer,
    Stall,
    Truncate,
    WrongVersion,
)

__all__ = ["AnswerPlan", "plan_answer"]

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
    #: Send ``data`` in slices of this many bytes, this many seconds apart.
    fragment: tuple[int, float] | None = None
    #: After sending: close, or say nothing more (``then=`` of ``RawAnswer``/``Truncate``).
    then: str | None = None


def plan_answer(faults: Sequence[Fault], data: bytes) -> AnswerPlan:
    """The plan for answering ``data`` through ``faults`` (in the order they were added)."""
    delay = sum(f.seconds for f in faults if isinstance(f, Delay))
    then: str | None = None
    for fault in faults:
        if isinstance(fault, Close):
            ending: Ending = "reset" if fault.reset else "close"
            return AnswerPlan(delay=delay, instead=ending, reason=fault.describe())
        if isinstance(fault, Stall):
            return AnswerPlan(delay=delay, instead="stall", reason=fault.describe())
        if isinstance(fault, WrongVersion):
            data = bytes((fault.version,)) + data[1:]
        elif isinstance(fault, RawAnswer):
            data, then = fault.data, fault.then
        elif isinstance(fault, Truncate):
            data, then = data[: fault.length], fault.then
    fragment = next((f for f in faults if isinstance(f, Fragment)), None)
    sliced = None if fragment is None else (max(1, fragment.size), fragment.delay)
    return AnswerPlan(delay=delay, data=data, fragment=sliced, then=then)
