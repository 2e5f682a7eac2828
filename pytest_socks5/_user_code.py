"""The user's own code that the proxy calls: how its exception travels.

Strategy: where the proxy calls a test's code (a hook, a data hook, a custom fault's
``rewrite``, a ``when=`` predicate, a ``validator``, ``on_connection_end``) it catches any
:exc:`Exception` and raises :class:`UserCodeError` from it, naming the code. That private
type passes every handler of the proxy's (a hook's own ``ConnectionError`` is not a
client's close, its ``TimeoutError`` not the handshake's) to the connection's
``on_error``, which reports the original exception as the user's (``_guard.py``,
``_context.py``). Pure: a leaf the policy modules can import.
"""

from __future__ import annotations

__all__ = ["UserCodeError", "callable_name"]


class UserCodeError(Exception):
    """Your own code that the proxy called raised ``exception``: ``source`` names it (``the
    on('request') hook f``). It travels to the connection's ``on_error`` as this private
    type, which no handler of the proxy's takes for a network error (a hook's own
    ``ConnectionError`` is not a client's close), and is reported as ``exception``."""

    def __init__(self, source: str, exception: Exception) -> None:
        super().__init__(source, exception)
        self.source = source
        self.exception = exception


def callable_name(fn: object) -> str:
    """How a message names a user's function: its qualified name, else its ``repr``."""
    return str(getattr(fn, "__qualname__", None) or repr(fn))
