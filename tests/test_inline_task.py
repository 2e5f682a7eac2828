"""InlineTask: a connection's conversation run from the callbacks that wake it, with a
task's contract for what it awaits, on both loops."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import inspect
from collections.abc import Callable, Coroutine
from typing import Any

import pytest

from pytest_socks5 import Outcome, SOCKS5Server
from pytest_socks5._connection import ClientConnection
from pytest_socks5._deadline import Deadline
from pytest_socks5._inline_task import InlineTask
from pytest_socks5._runner import loop_factory

from .helpers import recv_exactly, socks5_tunnel

LOOPS = ["asyncio", "uvloop"]


def run(loop: str, main: Callable[[], Coroutine[Any, Any, None]]) -> None:
    with asyncio.Runner(loop_factory=loop_factory(loop)) as runner:
        runner.run(main())


async def settled(task: InlineTask) -> None:
    """Wait (a loop turn at a time, bounded) until ``task`` has ended."""
    for _ in range(1000):
        if task.done():
            return
        await asyncio.sleep(0.001)
    raise AssertionError("the inline task did not end")


async def in_callback(action: Callable[[], None]) -> None:
    """Run ``action`` as a loop callback, as the protocol callbacks that start and wake a
    connection's conversation run (outside every task)."""
    ran = asyncio.get_running_loop().create_future()

    def callback() -> None:
        action()
        ran.set_result(None)

    asyncio.get_running_loop().call_soon(callback)
    await ran


def fail(exc: Exception) -> None:
    raise AssertionError(f"unexpected error: {exc!r}")


@pytest.mark.parametrize("loop", LOOPS)
def test_it_runs_up_to_its_first_await_at_start_and_resumes_in_the_waking_call(
    loop: str,
) -> None:
    async def main() -> None:
        steps: list[str] = []
        waiter = asyncio.get_running_loop().create_future()

        async def conversation() -> None:
            steps.append("started")
            task.wait_directly(waiter)
            await waiter
            steps.append("woken")

        task = InlineTask(conversation(), fail, asyncio.get_running_loop())
        assert steps == []  # nothing runs before start()
        await in_callback(task.start)
        assert steps == ["started"]

        def bytes_arrive() -> None:
            waiter.set_result(None)
            task.wake(waiter)
            assert steps == ["started", "woken"]  # in this call, not a loop turn later
            assert task.done()

        await in_callback(bytes_arrive)

    run(loop, main)


@pytest.mark.parametrize("loop", LOOPS)
def test_other_awaits_resume_it_as_a_task_and_it_is_the_current_task(loop: str) -> None:
    async def main() -> None:
        seen: list[object] = []

        async def conversation() -> None:
            seen.append(asyncio.current_task())
            await asyncio.sleep(0)  # a bare yield
            await asyncio.sleep(0.001)  # a future
            future = asyncio.get_running_loop().create_future()
            asyncio.get_running_loop().call_soon(future.set_result, "value")
            seen.append(await future)
            seen.append(asyncio.current_task())

        task = InlineTask(conversation(), fail, asyncio.get_running_loop())
        await in_callback(task.start)
        assert asyncio.current_task() is not task  # left behind after each step
        await settled(task)
        assert seen == [task, "value", task]

    run(loop, main)


@pytest.mark.parametrize("loop", LOOPS)
def test_timeouts_work_inside_it(loop: str) -> None:
    async def main() -> None:
        outcomes: list[str] = []

        async def conversation() -> None:
            never = asyncio.get_running_loop().create_future()
            try:
                async with asyncio.timeout(0.01):
                    await never
            except TimeoutError:
                outcomes.append("asyncio.timeout")
            try:
                with Deadline(0.01):
                    await asyncio.get_running_loop().create_future()
            except TimeoutError:
                outcomes.append("Deadline")
            assert task.cancelling() == 0

        task = InlineTask(conversation(), fail, asyncio.get_running_loop())
        await in_callback(task.start)
        await settled(task)
        assert outcomes == ["asyncio.timeout", "Deadline"]

    run(loop, main)


@pytest.mark.parametrize("loop", LOOPS)
def test_a_cancellation_is_raised_where_it_waits_and_cancels_what_it_waits_on(
    loop: str,
) -> None:
    async def main() -> None:
        caught: list[str] = []
        future = asyncio.get_running_loop().create_future()

        async def conversation() -> None:
            try:
                await future
            except asyncio.CancelledError:
                caught.append("cancelled")
                raise

        task = InlineTask(conversation(), fail, asyncio.get_running_loop())
        await in_callback(task.start)
        assert task.cancel()
        await settled(task)
        assert caught == ["cancelled"]
        assert future.cancelled()  # as a task's cancel does: the dial is abandoned
        assert not task.cancel()  # nothing left to cancel

    run(loop, main)


@pytest.mark.parametrize("loop", LOOPS)
def test_a_cancellation_of_a_direct_wait_comes_next_turn_and_a_late_wake_is_ignored(
    loop: str,
) -> None:
    async def main() -> None:
        caught: list[str] = []
        waiter = asyncio.get_running_loop().create_future()

        async def conversation() -> None:
            task.wait_directly(waiter)
            try:
                await waiter
            except asyncio.CancelledError:
                caught.append("cancelled")

        task = InlineTask(conversation(), fail, asyncio.get_running_loop())
        await in_callback(task.start)

        def cancelled_then_woken() -> None:
            task.cancel()
            waiter.set_result(None)  # the client's bytes arrive in the same turn
            task.wake(waiter)
            assert caught == []  # the cancellation wins, a turn later

        await in_callback(cancelled_then_woken)
        await settled(task)
        assert caught == ["cancelled"]

    run(loop, main)


@pytest.mark.parametrize("loop", LOOPS)
def test_a_cancellation_during_a_step_cancels_the_next_await(loop: str) -> None:
    async def main() -> None:
        caught: list[str] = []

        async def conversation() -> None:
            task.cancel()  # e.g. a deadline that fires while the step runs
            try:
                await asyncio.sleep(5)
            except asyncio.CancelledError:
                caught.append("cancelled")

        task = InlineTask(conversation(), fail, asyncio.get_running_loop())
        await in_callback(task.start)
        await settled(task)
        assert caught == ["cancelled"]

    run(loop, main)


@pytest.mark.parametrize("loop", LOOPS)
def test_a_step_never_runs_inside_another_task(loop: str) -> None:
    """Woken from inside a task (a server stop's), it runs on the next turn, as itself."""

    async def main() -> None:
        seen: list[object] = []
        waiter = asyncio.get_running_loop().create_future()

        async def conversation() -> None:
            task.wait_directly(waiter)
            await waiter
            seen.append(asyncio.current_task())

        task = InlineTask(conversation(), fail, asyncio.get_running_loop())
        await in_callback(task.start)

        async def waker() -> None:
            waiter.set_result(None)
            task.wake(waiter)
            assert seen == []

        await asyncio.get_running_loop().create_task(waker())
        await settled(task)
        assert seen == [task]

    run(loop, main)


@pytest.mark.parametrize("loop", LOOPS)
def test_an_exception_that_ends_it_goes_to_on_error(loop: str) -> None:
    async def main() -> None:
        errors: list[Exception] = []

        async def conversation() -> None:
            await asyncio.sleep(0)
            raise LookupError("a bug in the conversation")

        task = InlineTask(conversation(), errors.append, asyncio.get_running_loop())
        await in_callback(task.start)
        await settled(task)
        assert [type(e) for e in errors] == [LookupError]

    run(loop, main)


@pytest.mark.parametrize("loop", LOOPS)
def test_a_cancellation_during_a_step_cancels_a_direct_wait_too(loop: str) -> None:
    async def main() -> None:
        caught: list[str] = []
        waiter = asyncio.get_running_loop().create_future()

        async def conversation() -> None:
            task.cancel()  # a server stop, while the step runs
            task.wait_directly(waiter)
            try:
                await waiter
            except asyncio.CancelledError:
                caught.append("cancelled")

        task = InlineTask(conversation(), fail, asyncio.get_running_loop())
        await in_callback(task.start)
        await settled(task)
        assert caught == ["cancelled"]
        assert waiter.cancelled()

    run(loop, main)


@pytest.mark.parametrize("loop", LOOPS)
def test_a_cancellation_after_the_awaited_future_is_done_still_cancels(loop: str) -> None:
    """As for a task: the result that arrived in the same turn is dropped."""

    async def main() -> None:
        caught: list[str] = []
        future = asyncio.get_running_loop().create_future()

        async def conversation() -> None:
            try:
                await future
            except asyncio.CancelledError:
                caught.append("cancelled")
            assert task.uncancel() == 0
            assert task.uncancel() == 0  # never below zero

        task = InlineTask(conversation(), fail, asyncio.get_running_loop())
        await in_callback(task.start)

        def done_then_cancelled() -> None:
            future.set_result("dropped")
            assert task.cancel()

        await in_callback(done_then_cancelled)
        await settled(task)
        assert caught == ["cancelled"]

    run(loop, main)


@pytest.mark.parametrize("loop", LOOPS)
def test_an_interpreter_exit_is_not_kept_as_an_error(loop: str) -> None:
    async def main() -> None:
        async def conversation() -> None:
            await asyncio.sleep(0)
            raise SystemExit(3)

        task = InlineTask(conversation(), fail, asyncio.get_running_loop())
        await in_callback(task.start)
        await asyncio.sleep(5)  # ended by the SystemExit, which leaves the loop

    with pytest.raises(SystemExit):
        run(loop, main)


def test_an_open_tunnel_holds_no_conversation(
    make_server: Callable[..., SOCKS5Server], echo_server: tuple[str, int]
) -> None:
    """Memory per tunnel: once the relay carries a tunnel, its conversation (the task,
    the coroutine, its last wake-up future) is freed, on every variant."""
    server = make_server()
    with contextlib.ExitStack() as stack:
        for _ in range(5):
            sock, _ = stack.enter_context(socks5_tunnel(server.address, *echo_server))
            sock.sendall(b"ping")
            assert recv_exactly(sock, 4) == b"ping"
        assert server.wait_for_connections(5, timeout=5)
        gc.collect()
        conversations = [
            o
            for o in gc.get_objects()
            if inspect.iscoroutine(o) and o.cr_code is ClientConnection._run.__code__
        ]
        assert conversations == []
        assert [r.outcome for r in server.connections] == [Outcome.OPEN] * 5  # still open
