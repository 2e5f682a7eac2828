"""The user's own code that the proxy calls: how its exception travels.

Strategy: where the proxy calls a test's code (a hook, a data hook, a custom fault's
``rewrite``, a ``when=`` predicate of a fault or a gate, a ``validator``,
``on_connection_end``) it catches any :exc:`BaseException` and hands it to
:func:`users_error`, the one rule for all of them: ``raise users_error(exc, source) from
exc``. What is the user's becomes a :class:`UserCodeError` naming the code. That private
type passes every handler of the proxy's (a hook's own ``ConnectionError`` is not a
client's close, its ``TimeoutError`` not the handshake's) to the connection's
``on_error``, which reports the original exception as the user's (``_guard.py``,
``_context.py``). A :exc:`BaseException` too: ``pytest.fail()`` and ``pytest.skip()``
raise one (pytest's outcome exceptions), as does ``sys.exit()``; let through, it would
end the conversation unreported, the connection left open and the test passing.

What is not the user's error passes as it is:

* :exc:`KeyboardInterrupt` (Ctrl-C): it leaves the loop the user runs
  (``async with SOCKS5Server()`` under ``loop.run_until_complete``), as it does from
  anywhere else in that loop (out of a protocol's callback through
  ``_guard.interrupted``, which uvloop needs). On the server's own thread
  (:func:`on_servers_thread`: ``with SOCKS5Server()``, the fixtures) it cannot: nobody
  runs that loop but the server, which it would kill, its connection left hanging. There
  it is the user's error like any other: the connection ends as ``USER_CODE_ERROR``,
  and ``raise_errors()`` (the plugin: after the test's body, or at teardown) raises it in
  the test's thread, where it stops the run as Ctrl-C does. A real Ctrl-C never lands on
  that thread: Python runs signal handlers in the main thread only.
* Where the proxy awaits the user's code (an async hook): the proxy's own cancellation of
  the connection (a stop, the client's close, the handshake's deadline: the task is
  cancelling) and a coroutine's :exc:`GeneratorExit` (the proxy's coroutine closed): the
  caller, which awaited it, tells (``_checkpoints._proxys``). A plain call is never
  interrupted by the proxy, so whatever else leaves it is the user's.
* Offline (``pytest_socks5.testing``: no proxy, the user's test called it), everything.

Pure: a leaf the policy modules can import.
"""

from __future__ import annotations

import threading

__all__ = ["UserCodeError", "callable_name", "on_servers_thread", "users_error"]

#: Per thread: ``server`` is set on a server's own loop thread (``_runner.py``).
_THREAD = threading.local()


class UserCodeError(Exception):
    """Your own code that the proxy called raised ``exception``: ``source`` names it (``the
    on('request') hook f``). It travels to the connection's ``on_error`` as this private
    type, which no handler of the proxy's takes for a network error (a hook's own
    ``ConnectionError`` is not a client's close), and is reported as ``exception``."""

    def __init__(self, source: str, exception: BaseException) -> None:
        super().__init__(source, exception)
        self.source = source
        self.exception = exception


def on_servers_thread() -> None:
    """Mark the calling thread as a server's own: it runs the server's private loop, which
    a :exc:`KeyboardInterrupt` from the user's code must not leave."""
    _THREAD.server = True


def users_error(
    exc: BaseException, source: str, *, proxys: bool = False, offline: bool = False
) -> UserCodeError:
    """``exc``, which left the user's code ``source``, as the user's error: in the handler
    that caught it, ``raise users_error(exc, source) from exc``. Raises ``exc`` itself if
    it is not the user's to report (the module's rules): a :exc:`KeyboardInterrupt` off
    the server's own thread; with ``proxys``, the proxy's own end of an awaited coroutine
    (its cancellation, :exc:`GeneratorExit`: the caller, which awaited it, tells);
    anything with ``offline``."""
    if offline or proxys or _interrupts(exc):
        raise exc
    return UserCodeError(source, exc)


def _interrupts(exc: BaseException) -> bool:
    return isinstance(exc, KeyboardInterrupt) and not getattr(_THREAD, "server", False)


def callable_name(fn: object) -> str:
    """How a message names a user's function: its qualified name, else its ``repr``."""
    return str(getattr(fn, "__qualname__", None) or repr(fn))
