"""``await server.wait_for_connections_async(…)`` and ``await gate.wait_async(…)``: wait
for records without blocking the event loop, under asyncio or trio (directly or through
anyio).

Strategy: the thing waited on calls a waker after every change (the recorder after each
new or ended record, a gate after each arrival), on whatever thread made the change (the
server's own thread, or this very loop under ``async with``); the waker sets an event of
the running library's own through its thread-safe entry point (``call_soon_threadsafe``
on asyncio, the trio token's ``run_sync_soon`` on trio), and the waiter checks again. No
thread is parked and nothing polls, so a cancelled wait leaves nothing behind. Trio is
never imported here: it is used only when it is the library running this very task (it is
then in ``sys.modules``), so it is no dependency. The arguments, the result and the
failure are those of the blocking waits.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import Callable
from typing import Any, TypeVar

from ._criteria import check_criteria
from ._recorder import Recorder, check_wait
from ._records import ConnectionRecord

__all__ = ["wait_for_connections", "wait_until"]

T = TypeVar("T")


class _AsyncioEvent:
    """An event of the running asyncio loop, set from any thread."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._event = asyncio.Event()

    def now(self) -> float:
        return self._loop.time()

    def set(self) -> None:
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits
            self._loop.call_soon_threadsafe(self._event.set)

    def clear(self) -> None:
        self._event.clear()

    async def wait(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._event.wait(), seconds)


class _TrioEvent:
    """An event of the running trio run, set from any thread (a trio event cannot be
    cleared: clearing makes a new one, and a wake sets whichever is current)."""

    def __init__(self, trio: Any, token: Any) -> None:
        self._trio = trio
        self._token = token
        self._event = trio.Event()

    def now(self) -> float:
        return float(self._trio.current_time())

    def set(self) -> None:
        with contextlib.suppress(self._trio.RunFinishedError):  # nobody waits
            self._token.run_sync_soon(self._set)

    def _set(self) -> None:
        self._event.set()

    def clear(self) -> None:
        self._event = self._trio.Event()

    async def wait(self, seconds: float) -> None:
        with self._trio.move_on_after(seconds):
            await self._event.wait()


def _event(what: str) -> _AsyncioEvent | _TrioEvent:
    """An event of the library running the calling task."""
    trio = sys.modules.get("trio")
    if trio is not None:
        try:
            token = trio.lowlevel.current_trio_token()
        except RuntimeError:  # trio is imported, but not what runs this task
            pass
        else:
            return _TrioEvent(trio, token)
    try:
        return _AsyncioEvent(asyncio.get_running_loop())
    except RuntimeError:
        raise RuntimeError(
            f"{what} must be awaited in a task run by asyncio or trio (directly or through "
            "anyio); under any other library, call the blocking form in a worker thread"
        ) from None


async def wait_until(
    what: str,
    ready: Callable[[], T | None],
    subscribe: Callable[[Callable[[], None]], Callable[[], None]],
    timeout: float,
    timed_out: Callable[[], BaseException],
) -> T:
    """``ready()``'s first answer that is not ``None``, checking again each time the waker
    given to ``subscribe`` is called (it returns the function that unsubscribes); after
    ``timeout`` seconds, ``timed_out()`` is raised. ``what`` names the call in errors."""
    __tracebackhide__ = True  # the failure points at the test's line
    changed = _event(what)
    forget = subscribe(changed.set)
    deadline = changed.now() + timeout
    try:
        while True:
            changed.clear()
            found = ready()
            if found is not None:
                return found
            left = deadline - changed.now()
            if left <= 0:
                raise timed_out()
            await changed.wait(left)
    finally:
        forget()


async def wait_for_connections(
    recorder: Recorder, count: int, *, timeout: float, ended: bool, criteria: dict[str, Any]
) -> list[ConnectionRecord]:
    __tracebackhide__ = True  # pytest shows the test's line, as for the blocking wait
    check_wait(count, timeout, ended)
    check_criteria(criteria, ConnectionRecord)
    return await wait_until(
        "wait_for_connections_async()",
        lambda: recorder.poll(count, timeout, criteria, ended=ended),
        recorder.on_change,
        timeout,
        lambda: recorder.waited_in_vain(count, timeout, criteria, ended=ended),
    )
