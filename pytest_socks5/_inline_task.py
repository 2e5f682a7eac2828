"""A connection's conversation, run from the callbacks that wake it.

Strategy: an :class:`asyncio.Task` starts its coroutine one loop turn after it is made,
and resumes it one turn after each future it waits on is done. A handshake waits for the
client's bytes twice or more, and on asyncio's own loop each of those turns is another
poll of the selector (two of the eleven ``epoll_wait`` calls of a CONNECT; uvloop runs
the callbacks in the same iteration, so there it saves no system call).
:class:`InlineTask` runs the same coroutine, with the same contract for what it awaits,
without them: it starts the coroutine at once, and its owner resumes it in the very
callback that brings what it waits for (:meth:`InlineTask.wake`: the client's bytes in
``data_received``), so a greeting is answered in the callback that read it, and a greeting
and request sent in one segment are both answered there. Any other future it waits on (a
dial, a sleep, a gate) resumes it as a task would, from the future's done callback.

While it runs a step it is the loop's current task (:func:`asyncio.current_task`), and
it keeps a task's cancellation contract (:meth:`cancel`, :meth:`cancelling`,
:meth:`uncancel`), so :func:`asyncio.timeout`, :class:`~._deadline.Deadline` and every
asyncio coroutine behave in it as in a task. A step never runs inside another task's
step: if one is current (a server stop cancelling from its own task), the step waits for
the next loop turn. An exception that ends the coroutine goes to ``on_error``.
"""

from __future__ import annotations

import asyncio
from asyncio.tasks import _enter_task, _leave_task  # the current-task bookkeeping
from collections.abc import Callable, Coroutine
from typing import Any

__all__ = ["InlineTask"]


class InlineTask:
    """Runs ``coro`` from :meth:`start` on and resumes it from the callbacks that wake
    it."""

    __slots__ = (
        "_cancel_requests",
        "_coro",
        "_direct",
        "_done",
        "_loop",
        "_must_cancel",
        "_on_error",
        "_waiting",
    )

    def __init__(
        self,
        coro: Coroutine[Any, Any, None],
        on_error: Callable[[Exception], None],
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        self._coro = coro
        self._on_error = on_error
        self._loop = loop
        self._done = False
        self._must_cancel = False
        self._cancel_requests = 0
        #: The future the coroutine waits on (``None``: running, or ready to run).
        self._waiting: asyncio.Future[Any] | None = None
        #: A future the owner resumes the coroutine for itself (:meth:`wake`).
        self._direct: asyncio.Future[Any] | None = None

    def start(self) -> None:
        """Run the coroutine up to its first await (once, after the owner holds this)."""
        self._step()

    # -- what a task offers ------------------------------------------------------------

    def get_loop(self) -> asyncio.AbstractEventLoop:
        """The loop it runs on."""
        return self._loop

    def done(self) -> bool:
        """Whether the coroutine has ended."""
        return self._done

    def cancel(self, msg: Any = None) -> bool:
        """Request that :exc:`asyncio.CancelledError` be raised in the coroutine at the
        await it waits at (as :meth:`asyncio.Task.cancel`)."""
        if self._done:
            return False
        self._cancel_requests += 1
        waiting = self._waiting
        if waiting is not None and waiting is not self._direct and waiting.cancel(msg):
            return True  # its done callback resumes the coroutine with the cancellation
        self._must_cancel = True
        if waiting is not None:  # done, or resumed by its owner: resume it next turn
            self._waiting = None
            self._loop.call_soon(self._step)
        return True

    def cancelling(self) -> int:
        """How many cancellations are pending (as :meth:`asyncio.Task.cancelling`)."""
        return self._cancel_requests

    def uncancel(self) -> int:
        """One cancellation fewer pending (as :meth:`asyncio.Task.uncancel`)."""
        if self._cancel_requests > 0:
            self._cancel_requests -= 1
        return self._cancel_requests

    # -- being woken -------------------------------------------------------------------

    def wait_directly(self, future: asyncio.Future[Any]) -> None:
        """The owner will resume the coroutine when ``future`` is done (:meth:`wake`), in
        its own callback, rather than from the future's done callback a turn later."""
        self._direct = future

    def wake(self, future: asyncio.Future[Any]) -> None:
        """``future``, given to :meth:`wait_directly`, is done: resume the coroutine now
        if it waits on it (while a step runs it waits on nothing)."""
        if self._waiting is future:
            self._waiting = None
            self._step()

    def _wakeup(self, future: asyncio.Future[Any]) -> None:
        if self._waiting is not future:
            return  # stale: the coroutine was resumed otherwise (a cancellation)
        self._waiting = None
        try:
            future.result()
        except BaseException as exc:
            self._step(exc)
        else:
            self._step()
        # An exception's traceback holds this frame: without this, the frame would hold
        # the future and the future its exception, a reference cycle (asyncio's tasks
        # break it the same way).
        del future, self

    # -- a step ------------------------------------------------------------------------

    def _step(self, exc: BaseException | None = None) -> None:
        # One step is pending at a time: every path here first clears ``_waiting``.
        loop = self._loop
        try:
            _enter_task(loop, self)  # type: ignore[arg-type]  # a task's stand-in
        except RuntimeError:  # called from inside another task: run on the next turn
            loop.call_soon(self._step, exc)
            return
        if self._must_cancel:
            self._must_cancel = False
            exc = asyncio.CancelledError()
        waited: asyncio.Future[Any] | None
        try:
            waited = self._coro.send(None) if exc is None else self._coro.throw(exc)
        except StopIteration:
            self._done = True
            return
        except (KeyboardInterrupt, SystemExit):
            self._done = True
            raise
        except BaseException as error:
            self._done = True
            if isinstance(error, Exception):
                self._on_error(error)
            return
        finally:
            _leave_task(loop, self)  # type: ignore[arg-type]
            # An exception thrown in keeps this frame in its traceback on Python 3.12
            # and later: without this, the two would hold each other in a cycle.
            exc = None
        if waited is None:  # a bare yield (``asyncio.sleep(0)``): the next turn
            loop.call_soon(self._step)
            return
        # A future, as a task accepts it (``await`` on anything else is a bug here).
        waited._asyncio_future_blocking = False
        cancelled = self._must_cancel and waited.cancel()  # cancelled during the step
        if cancelled:
            self._must_cancel = False
        if waited is not self._direct:
            self._waiting = waited
            waited.add_done_callback(self._wakeup)  # a cancelled one calls it next turn
        elif cancelled:  # nobody will wake a cancelled direct wait: resume next turn
            loop.call_soon(self._step, asyncio.CancelledError())
        else:
            self._waiting = waited
