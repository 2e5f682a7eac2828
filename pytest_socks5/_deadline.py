"""The deadline of a step of one connection (the handshake, a dial, a BIND, a lookup).

Strategy: :func:`asyncio.timeout`'s contract — leave the block by :exc:`TimeoutError`
if it has not finished in time — for the one shape this package needs: a block inside a
connection's own task, a delay in seconds or ``None`` for none, and a way to lift it
once a fault or a gate owns the timing. It is one timer and three fields, so a
connection pays for its deadlines what the timer costs and little more; measured with
callgrind, the two :func:`asyncio.timeout` blocks of a CONNECT were about a tenth of the
proxy's instructions per handshake on uvloop. When the timer fires, the task is
cancelled; the block then ends in :exc:`asyncio.CancelledError`, which leaving it turns
into :exc:`TimeoutError`, unless something else cancelled the task too.
"""

from __future__ import annotations

import asyncio
from types import TracebackType
from typing import Protocol

__all__ = ["Deadline"]


class Cancellable(Protocol):
    """What a deadline needs of the task it cancels (an asyncio task, an ``InlineTask``)."""

    def get_loop(self) -> asyncio.AbstractEventLoop: ...
    def cancel(self, msg: object | None = None) -> bool: ...
    def uncancel(self) -> int: ...


class Deadline:
    """``with Deadline(seconds):`` in a task: :exc:`TimeoutError` if the block is still
    running ``seconds`` from now (``None``: never). ``task`` is the task running the
    block, when the caller holds it (a connection its conversation's): looking up the
    current task costs a system call per deadline on Python 3.11."""

    __slots__ = ("_handle", "_task", "expired")

    def __init__(self, seconds: float | None, task: Cancellable | None = None) -> None:
        if task is None:
            task = asyncio.current_task()
            assert task is not None, "a Deadline runs inside a task"
        self._task = task
        #: Whether the time ran out (the task was cancelled for it).
        self.expired = False
        self._handle = (
            None if seconds is None else task.get_loop().call_later(seconds, self._expire)
        )

    def _expire(self) -> None:
        self._handle = None
        self.expired = True
        self._task.cancel()

    def lift(self) -> None:
        """No deadline from now on (a fault or a gate owns the timing)."""
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def __enter__(self) -> Deadline:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.lift()
        if not self.expired:
            return
        others = self._task.uncancel()  # our cancellation is spent either way
        if others == 0 and kind is not None and issubclass(kind, asyncio.CancelledError):
            raise TimeoutError from exc
