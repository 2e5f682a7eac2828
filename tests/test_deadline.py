"""Deadline: asyncio.timeout's contract for one connection's steps, on both loops."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

import pytest

from pytest_socks5._deadline import Deadline
from pytest_socks5._runner import loop_factory

LOOPS = ["asyncio", "uvloop"]


def run(loop: str, main: Callable[[], Coroutine[Any, Any, None]]) -> None:
    runner = asyncio.Runner(loop_factory=loop_factory(loop))
    with runner:
        runner.run(main())


@pytest.mark.parametrize("loop", LOOPS)
def test_a_block_still_running_leaves_by_timeout_error(loop: str) -> None:
    async def main() -> None:
        never = asyncio.get_running_loop().create_future()
        with pytest.raises(TimeoutError), Deadline(0.01) as deadline:
            await never
        assert deadline.expired
        task = asyncio.current_task()
        assert task is not None
        assert task.cancelling() == 0  # the task can go on
        await asyncio.sleep(0)

    run(loop, main)


@pytest.mark.parametrize("loop", LOOPS)
def test_a_block_that_finishes_in_time_or_is_lifted_is_left_alone(loop: str) -> None:
    async def main() -> None:
        with Deadline(5) as deadline:
            await asyncio.sleep(0)
        assert not deadline.expired
        with Deadline(0.01) as deadline:
            deadline.lift()  # a fault owns the timing now
            await asyncio.sleep(0.05)
        assert not deadline.expired
        with Deadline(None) as deadline:
            await asyncio.sleep(0.02)
        assert not deadline.expired

    run(loop, main)


@pytest.mark.parametrize("loop", LOOPS)
def test_another_cancellation_is_not_turned_into_a_timeout(loop: str) -> None:
    """A server stop cancels the task too: if it does so as the deadline runs out, the
    block ends by CancelledError, as with asyncio.timeout, not by a timeout."""

    async def step() -> None:
        never = asyncio.get_running_loop().create_future()
        task = asyncio.current_task()
        assert task is not None
        with Deadline(60) as deadline:
            deadline._expire()  # the time runs out ...
            task.cancel()  # ... as the server stops
            await never

    async def main() -> None:
        task = asyncio.get_running_loop().create_task(step())
        with pytest.raises(asyncio.CancelledError):
            await task

    run(loop, main)
