"""A private event loop on a daemon thread, for a server that must not share (or block) the
caller's loop.

Strategy: the loop is made by the factory ``loop=`` names (stdlib asyncio, or uvloop when
installed), started on a daemon thread that runs it forever, and given coroutines with
:func:`asyncio.run_coroutine_threadsafe`; an exception that reaches the loop's own
handler goes to the server's errors, never only to a log. The thread is marked as the
server's own: a :exc:`KeyboardInterrupt` from the user's code called there is the user's
error, as any other, not the loop's end (``_user_code.py``). Stopping drains async
generators and the default executor (a name lookup still running there is not worth
failing a stop over), stops the loop, which its thread then closes, and joins the thread:
a stop that cannot finish raises instead of hanging. The default executor's threads carry
the loop thread's name (``pytest-socks5 …``), by which the leak hook knows the proxy's
own lookups.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar, cast

from ._option_parsers import resolve_loop
from ._selector_paths import new_selector_loop
from ._user_code import on_servers_thread

__all__ = ["LoopThread", "loop_factory"]

T = TypeVar("T")


def loop_factory(name: str) -> Callable[[], asyncio.AbstractEventLoop]:
    """The event loop constructor for ``loop=`` (``"auto"``, ``"asyncio"`` or
    ``"uvloop"``, as the option table checked): asyncio's own selector loop, whatever
    the event-loop policy (:func:`~._selector_paths.new_selector_loop`), or uvloop."""
    if resolve_loop(name) != "uvloop":
        return new_selector_loop
    try:
        import uvloop
    except ImportError:
        raise ImportError(
            "loop='uvloop' needs uvloop: pip install 'pytest-socks5[fast]'"
        ) from None
    return cast(Callable[[], asyncio.AbstractEventLoop], uvloop.new_event_loop)


def _handler(
    on_error: Callable[[Exception], None],
) -> Callable[[asyncio.AbstractEventLoop, dict[str, Any]], None]:
    """The private loop's exception handler: an exception that reaches the loop itself
    (outside every guarded callback: a loop's own failure, such as uvloop giving up a
    watcher, or a socket ``accept`` out of descriptors) goes to ``on_error``, which fails
    the test with it; a message without one is logged as by default."""

    def handle(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        exc = context.get("exception")
        if isinstance(exc, Exception):
            on_error(exc)
        else:
            loop.default_exception_handler(context)

    return handle


class LoopThread:
    """An event loop running forever on a daemon thread of its own."""

    def __init__(
        self,
        factory: Callable[[], asyncio.AbstractEventLoop],
        name: str,
        on_error: Callable[[Exception], None] | None = None,
    ) -> None:
        self.loop = factory()
        self.loop.set_default_executor(
            concurrent.futures.ThreadPoolExecutor(thread_name_prefix=name)
        )
        if on_error is not None:
            self.loop.set_exception_handler(_handler(on_error))
        ready = threading.Event()

        def run() -> None:
            on_servers_thread()  # the user's KeyboardInterrupt must not leave this loop
            asyncio.set_event_loop(self.loop)
            self.loop.call_soon(ready.set)
            self.loop.run_forever()
            # Closed here, not by stop()'s caller: should a close never finish (uvloop's
            # waits for every handle, and a leaked one would hold it forever), this daemon
            # thread waits, and stop() reports it instead of hanging the test run.
            self.loop.close()

        self.thread = threading.Thread(target=run, name=name, daemon=True)
        self.thread.start()
        self._ready = ready

    def wait_ready(self, timeout: float) -> None:
        self._ready.wait(timeout)

    def run(self, coro: Coroutine[Any, Any, T], timeout: float) -> T:
        """Run ``coro`` on the loop and wait up to ``timeout`` seconds for its result."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def stop(self, timeout: float = 5.0) -> None:
        """Drain, stop and close the loop, waiting up to ``timeout`` seconds for each of
        the drain and the thread; raise if the thread is still running then."""
        loop = self.loop

        async def drain() -> None:
            await loop.shutdown_asyncgens()
            await loop.shutdown_default_executor()

        drained = asyncio.run_coroutine_threadsafe(drain(), loop)
        try:
            # A name lookup still running in the executor is not worth failing a stop
            # over; the thread ends on its own when the lookup does.
            with contextlib.suppress(TimeoutError):
                drained.result(timeout)
        finally:
            loop.call_soon_threadsafe(loop.stop)
            self.thread.join(timeout)
        if self.thread.is_alive():
            raise RuntimeError(
                f"pytest-socks5's event loop did not stop and close within {timeout:g} s "
                "(a transport left open?); its thread is left behind"
            )
