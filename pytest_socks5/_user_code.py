"""The user's own code that the proxy calls: how its exception travels.

Strategy: where the proxy calls a test's code (a hook, a data hook, a custom fault's
``rewrite``, a ``when=`` predicate, a ``validator``, ``on_connection_end``) it catches any
:exc:`BaseException` and raises :class:`UserCodeError` from it, naming the code. That
private type passes every handler of the proxy's (a hook's own ``ConnectionError`` is not
a client's close, its ``TimeoutError`` not the handshake's) to the connection's
``on_error``, which reports the original exception as the user's (``_guard.py``,
``_context.py``). A :exc:`BaseException` too: ``pytest.fail()`` and ``pytest.skip()``
raise one (pytest's outcome exceptions), as does ``sys.exit()``; let through, it would
end the conversation unreported, the connection left open and the test passing. A plain
call is never interrupted by the proxy, so whatever leaves it is the user's; where the
proxy awaits the user's code (an async hook), the proxy's own cancellation and a
coroutine's :exc:`GeneratorExit` pass (``_checkpoints.py``). Pure: a leaf the policy
modules can import.
"""

from __future__ import annotations

__all__ = ["UserCodeError", "callable_name"]


class UserCodeError(Exception):
    """Your own code that the proxy called raised ``exception``: ``source`` names it (``the
    on('request') hook f``). It travels to the connection's ``on_error`` as this private
    type, which no handler of the proxy's takes for a network error (a hook's own
    ``ConnectionError`` is not a client's close), and is reported as ``exception``."""

    def __init__(self, source: str, exception: BaseException) -> None:
        super().__init__(source, exception)
        self.source = source
        self.exception = exception


def callable_name(fn: object) -> str:
    """How a message names a user's function: its qualified name, else its ``repr``."""
    return str(getattr(fn, "__qualname__", None) or repr(fn))
