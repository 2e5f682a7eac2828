"""InlineTask: a connection's conversation run from the callbacks that wake it, with a
task's contract for what it awaits, on both loops."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import inspect
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from typing import Any

import pytest

from pytest_socks5 import Outcome, SOCKS5Server
from pytest_socks5._connection import ClientConnection
from pytest_socks5._deadline import Deadline
from pytest_socks5._inline_task import InlineTask
from pytest_socks5._runner import loop_factory

from .helpers import recv_exactly, socks5_tunnel

#: A conversation to run, given the task that runs it.
Conversation = Callable[[InlineTask], Coroutine[Any, Any, None]]


@pytest.fixture(params=["asyncio", "uvloop"])
def runner(request: pytest.FixtureRequest) -> Iterator[asyncio.Runner]:
    with asyncio.Runner(loop_factory=loop_factory(request.param)) as runner:
        yield runner


def fail(exc: Exception) -> None:
    raise AssertionError(f"unexpected error: {exc!r}")


async def in_callback(action: Callable[[], None]) -> None:
    """Run ``action`` as a loop callback, as the protocol callbacks that start and wake a
    connection's conversation run (outside every task)."""
    ran = asyncio.get_running_loop().create_future()

    def callback() -> None:
        try:
            action()
        except BaseException as exc:  # fail the test, not the loop's handler
            ran.set_exception(exc)
        else:
            ran.set_result(None)

    asyncio.get_running_loop().call_soon(callback)
    await ran


async def started(
    conversation: Conversation, on_error: Callable[[Exception], None] = fail
) -> InlineTask:
    """An InlineTask running ``conversation``, started from a loop callback."""
    holder: list[InlineTask] = []

    async def run() -> None:
        await conversation(holder[0])

    task = InlineTask(run(), on_error, asyncio.get_running_loop())
    holder.append(task)
    await in_callback(task.start)
    return task


async def outcome_of(awaited: Awaitable[Any]) -> str:
    """``"cancelled"`` if a cancellation ends the wait for ``awaited``, else ``"done"``."""
    try:
        await awaited
    except asyncio.CancelledError:
        return "cancelled"
    return "done"


async def ended(task: InlineTask) -> None:
    """Wait (a loop turn at a time, bounded) until ``task`` has ended."""
    for _ in range(1000):
        if task.done():
            return
        await asyncio.sleep(0.001)
    raise AssertionError("the inline task did not end")


def test_it_runs_up_to_its_first_await_at_start_and_resumes_in_the_waking_call(
    runner: asyncio.Runner,
) -> None:
    async def main() -> None:
        steps: list[str] = []
        waiter = asyncio.get_running_loop().create_future()

        async def conversation(task: InlineTask) -> None:
            steps.append("started")
            task.wait_directly(waiter)
            await waiter
            steps.append("woken")

        task = await started(conversation)
        assert steps == ["started"]  # started by the callback, up to its first await

        def bytes_arrive() -> None:
            waiter.set_result(None)
            task.wake(waiter)
            assert steps == ["started", "woken"]  # in this call, not a loop turn later
            assert task.done()

        await in_callback(bytes_arrive)

    runner.run(main())


def test_other_awaits_resume_it_as_a_task_and_it_is_the_current_task(
    runner: asyncio.Runner,
) -> None:
    async def main() -> None:
        seen: list[object] = []

        async def conversation(task: InlineTask) -> None:
            seen.append(asyncio.current_task() is task)
            await asyncio.sleep(0)  # a bare yield
            await asyncio.sleep(0.001)  # a future
            future = asyncio.get_running_loop().create_future()
            asyncio.get_running_loop().call_soon(future.set_result, "value")
            seen.append(await future)
            seen.append(asyncio.current_task() is task)

        task = await started(conversation)
        assert asyncio.current_task() is not task  # left behind after each step
        await ended(task)
        assert seen == [True, "value", True]

    runner.run(main())


def test_timeouts_work_inside_it(runner: asyncio.Runner) -> None:
    async def main() -> None:
        outcomes: list[str] = []

        async def conversation(task: InlineTask) -> None:
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

        await ended(await started(conversation))
        assert outcomes == ["asyncio.timeout", "Deadline"]

    runner.run(main())


def test_a_cancellation_is_raised_where_it_waits_and_cancels_what_it_waits_on(
    runner: asyncio.Runner,
) -> None:
    async def main() -> None:
        caught: list[str] = []
        future = asyncio.get_running_loop().create_future()

        async def conversation(task: InlineTask) -> None:
            caught.append(await outcome_of(future))

        task = await started(conversation)
        assert task.cancel()
        await ended(task)
        assert caught == ["cancelled"]
        assert future.cancelled()  # as a task's cancel does: the dial is abandoned
        assert not task.cancel()  # nothing left to cancel

    runner.run(main())


@pytest.mark.parametrize("direct", [True, False], ids=["direct wait", "future"])
def test_a_cancellation_wins_over_a_result_of_the_same_turn(
    runner: asyncio.Runner, direct: bool
) -> None:
    """As for a task, the wait ends by the cancellation, a turn later, and the result
    that arrived in the same turn is dropped: for a direct wait (the client's bytes, woken
    by the owner) and for any other future."""

    async def main() -> None:
        caught: list[str] = []
        waiter = asyncio.get_running_loop().create_future()

        async def conversation(task: InlineTask) -> None:
            if direct:
                task.wait_directly(waiter)
            caught.append(await outcome_of(waiter))
            assert task.uncancel() == 0
            assert task.uncancel() == 0  # never below zero

        task = await started(conversation)

        def in_one_turn() -> None:
            if direct:
                assert task.cancel()
                waiter.set_result(None)  # the client's bytes arrive in the same turn
                task.wake(waiter)
            else:
                waiter.set_result("dropped")
                assert task.cancel()
            assert caught == []  # a turn later

        await in_callback(in_one_turn)
        await ended(task)
        assert caught == ["cancelled"]

    runner.run(main())


def test_a_cancellation_during_a_step_cancels_a_direct_wait_too(runner: asyncio.Runner) -> None:
    async def main() -> None:
        caught: list[str] = []
        waiter = asyncio.get_running_loop().create_future()

        async def conversation(task: InlineTask) -> None:
            task.cancel()  # a server stop, while the step runs
            task.wait_directly(waiter)
            caught.append(await outcome_of(waiter))

        await ended(await started(conversation))
        assert caught == ["cancelled"]
        assert waiter.cancelled()

    runner.run(main())


def test_a_cancellation_during_a_step_cancels_the_next_await(runner: asyncio.Runner) -> None:
    async def main() -> None:
        caught: list[str] = []

        async def conversation(task: InlineTask) -> None:
            task.cancel()  # e.g. a deadline that fires while the step runs
            caught.append(await outcome_of(asyncio.sleep(5)))

        await ended(await started(conversation))
        assert caught == ["cancelled"]

    runner.run(main())


def test_a_step_never_runs_inside_another_task(runner: asyncio.Runner) -> None:
    """Woken from inside a task (a server stop's), it runs on the next turn, as itself."""

    async def main() -> None:
        seen: list[bool] = []
        waiter = asyncio.get_running_loop().create_future()

        async def conversation(task: InlineTask) -> None:
            task.wait_directly(waiter)
            await waiter
            seen.append(asyncio.current_task() is task)

        task = await started(conversation)

        async def waker() -> None:
            waiter.set_result(None)
            task.wake(waiter)
            assert seen == []

        await asyncio.get_running_loop().create_task(waker())
        await ended(task)
        assert seen == [True]

    runner.run(main())


def test_a_cancellation_that_ends_it_is_not_an_error(runner: asyncio.Runner) -> None:
    async def main() -> None:
        async def conversation(task: InlineTask) -> None:
            await asyncio.get_running_loop().create_future()  # never caught: ends it

        task = await started(conversation)  # on_error fails the test
        task.cancel()
        await ended(task)

    runner.run(main())


def test_an_exception_that_ends_it_goes_to_on_error(runner: asyncio.Runner) -> None:
    async def main() -> None:
        errors: list[Exception] = []

        async def conversation(task: InlineTask) -> None:
            await asyncio.sleep(0)
            raise LookupError("a bug in the conversation")

        await ended(await started(conversation, errors.append))
        assert [type(e) for e in errors] == [LookupError]

    runner.run(main())


def test_an_interpreter_exit_is_not_kept_as_an_error(runner: asyncio.Runner) -> None:
    async def main() -> None:
        async def conversation(task: InlineTask) -> None:
            await asyncio.sleep(0)
            raise SystemExit(3)

        await started(conversation)
        await asyncio.sleep(5)  # ended by the SystemExit, which leaves the loop

    with pytest.raises(SystemExit):
        runner.run(main())


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
