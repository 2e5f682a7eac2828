"""``await server.wait_for_connections_async(…)``: wait for records without blocking the
event loop.

Strategy: the recorder calls a waker after every new or ended record, on whatever thread
recorded it (the server's own thread, or this very loop under ``async with``); the waker
sets an :class:`asyncio.Event` through ``call_soon_threadsafe``, and the waiter checks
again. No thread is parked and nothing polls, so a cancelled wait leaves nothing behind.
The arguments, the result and the failure are those of the blocking
``wait_for_connections``.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from ._criteria import check_criteria
from ._recorder import Recorder, check_wait
from ._records import ConnectionRecord

__all__ = ["wait_for_connections"]


async def wait_for_connections(
    recorder: Recorder, count: int, *, timeout: float, ended: bool, criteria: dict[str, Any]
) -> list[ConnectionRecord]:
    __tracebackhide__ = True  # pytest shows the test's line, as for the blocking wait
    check_wait(count, timeout, ended)
    check_criteria(criteria)
    loop = asyncio.get_running_loop()
    changed = asyncio.Event()

    def wake() -> None:
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits
            loop.call_soon_threadsafe(changed.set)

    forget = recorder.on_change(wake)
    deadline = loop.time() + timeout
    try:
        while True:
            changed.clear()
            found = recorder.ready(count, criteria, ended=ended)
            if found is not None:
                return found
            left = deadline - loop.time()
            if left <= 0:
                raise recorder.waited_in_vain(count, timeout, criteria, ended=ended)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), left)
    finally:
        forget()
