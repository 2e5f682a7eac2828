"""The one guard every callback of the I/O layer runs under.

Strategy: asyncio calls protocol methods, reader/writer callbacks and timers from the
loop, and hands an exception raised there to the loop's exception handler, which only
prints it; tasks keep theirs until someone asks. Either way the connection would hang
open and the test would pass. So every protocol class derives from
:class:`GuardedProtocol`, whose subclasses get each asyncio callback they define wrapped
in :func:`guarded` (a subclass overriding one cannot forget it); every other callback
(reader/writer callbacks, timers) is decorated with :func:`guarded`, every background
task is watched with :func:`watch_task`, and a connection's conversation
(``_inline_task.py``) hands what ends it to its owner. An exception (a bug in
pytest-socks5, never a network error, which the callbacks handle themselves) goes to
the owner's ``on_error``, which the connection wires to
:meth:`~pytest_socks5._connection.ClientConnection.internal_error` — the connection
ends as ``INTERNAL_ERROR`` and the exception object is kept for the test to fail with.
An exception of the user's own code the proxy calls (a hook, a custom fault's
``rewrite``, a ``validator``, a ``when=`` predicate) is caught where it is called and
travels as a :class:`UserCodeError`: the connection ends as ``USER_CODE_ERROR`` and the
test fails with that exception itself, noted as the user's. A :exc:`KeyboardInterrupt`
(Ctrl-C) is no error: a guard hands it to the loop (:func:`interrupted`), whose run it
leaves, on uvloop too.
An object whose callbacks can run before a connection owns it (the destination's side
of a dial, a BIND peer) keeps its first bug in a :class:`KeptError`, which
:func:`take_over` raises in the connection's own code when it takes the object; a bug in
``connection_made`` also aborts that transport, which nobody else would close.
"""

from __future__ import annotations

import asyncio
import functools
import sys
import traceback
from collections.abc import Callable
from typing import Concatenate, ParamSpec, Protocol, TypeVar

from ._public import public
from ._user_code import UserCodeError

__all__ = [
    "CALLBACKS",
    "Adoptable",
    "Guarded",
    "GuardedProtocol",
    "InternalError",
    "KeptError",
    "OnError",
    "ServerError",
    "UserError",
    "failure",
    "guarded",
    "ignore",
    "interrupted",
    "reraise",
    "server_error",
    "take_over",
    "user_error",
    "watch_task",
]

P = ParamSpec("P")
R = TypeVar("R")
OnError = Callable[[Exception], None]

#: The methods asyncio calls on a protocol (stream or datagram), with how many
#: arguments it passes each.
_ARGUMENTS = {
    "connection_made": 1,
    "data_received": 1,
    "eof_received": 0,
    "connection_lost": 1,
    "pause_writing": 0,
    "resume_writing": 0,
    "datagram_received": 2,
    "error_received": 1,
    "get_buffer": 1,
    "buffer_updated": 1,
}
CALLBACKS = frozenset(_ARGUMENTS)


class Guarded(Protocol):
    """Anything whose callbacks are guarded: it knows whom to tell about a bug."""

    @property
    def on_error(self) -> OnError: ...


G = TypeVar("G", bound=Guarded)


class InternalError(str):
    """The traceback of a bug, as text (what ``server.errors`` lists), holding the
    exception itself in :attr:`exception` so that a test can fail with its type."""

    exception: Exception

    def __new__(cls, exception: Exception | None = None) -> InternalError:
        """``exception``, by default the one being handled."""
        if exception is None:
            handled = sys.exc_info()[1]
            assert isinstance(handled, Exception)
            exception = handled
        error = super().__new__(cls, "".join(traceback.format_exception(exception)))
        error.exception = exception
        return error


class UserError(str):
    """What ``server.errors`` lists for an exception your own code raised: its traceback,
    with a note (added to the exception itself) naming the code and the connection. Any
    :exc:`BaseException`: ``pytest.fail()`` in a hook raises one."""

    exception: BaseException

    def __new__(cls, error: UserCodeError, connection: str) -> UserError:
        exception = error.exception
        exception.add_note(
            f"pytest-socks5: raised by your {error.source} for {connection} "
            "(an error in your code, not in pytest-socks5)"
        )
        text = super().__new__(cls, "".join(traceback.format_exception(exception)))
        text.exception = exception
        return text


def user_error(errors: list[str]) -> BaseException | None:
    """The first exception your own code raised, to fail the test with (its own type)."""
    return next((e.exception for e in errors if isinstance(e, UserError)), None)


def ignore(*_: object) -> None:
    """A callback that does nothing: what a finished object calls in place of its owner's
    (a relay side or splice tunnel once its tunnel is over, a side before it has one)."""


def reraise(exc: BaseException) -> None:
    """The ``on_error`` of an object not (yet) part of a connection: the loop's
    exception handler gets the exception, as without a guard (and, called soon, a
    :exc:`KeyboardInterrupt` leaves the loop: :func:`interrupted`)."""
    raise exc


class KeptError:
    """The ``on_error`` of an object whose callbacks run before a connection takes it (a
    dialled destination's side runs ``connection_made`` inside the dial): the first bug
    is kept, and :func:`take_over` raises it in the connection's own code."""

    __slots__ = ("error",)

    def __init__(self) -> None:
        self.error: Exception | None = None

    def __call__(self, exc: Exception) -> None:
        if self.error is None:
            self.error = exc


class Adoptable(Protocol):
    """A guarded object whose ``on_error`` a connection sets when it takes it."""

    on_error: OnError


def take_over(owned: Adoptable, on_error: OnError) -> None:
    """``owned`` now reports to ``on_error``; a bug it kept before is raised here, in the
    caller's code, with its own type."""
    kept, owned.on_error = owned.on_error, on_error
    if isinstance(kept, KeptError) and kept.error is not None:
        raise kept.error


def interrupted(exc: KeyboardInterrupt) -> None:
    """``exc`` (Ctrl-C, or the user's code raising it) stopped a callback of the loop's:
    let it leave the loop's run. asyncio's transports let it out of a protocol's callback;
    uvloop's take it, out of a read callback (``data_received``, where a conversation
    runs its next step), for the transport's fatal error (logged, the transport closed,
    the loop running on). Except on asyncio's own loops, then, it is raised from a callback
    of its own, on the loop's next turn."""
    loop: asyncio.AbstractEventLoop | None
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:  # called outside the loop: to the caller
        loop = None
    if loop is None or isinstance(loop, asyncio.BaseEventLoop):
        raise exc
    loop.call_soon(reraise, exc)


def guarded(method: Callable[Concatenate[G, P], R]) -> Callable[Concatenate[G, P], R | None]:
    """``method``, with any :exc:`Exception` it raises passed to ``self.on_error``, and a
    :exc:`KeyboardInterrupt` to :func:`interrupted` (out of the loop, on uvloop too)."""

    @functools.wraps(method)
    def call(self: G, /, *args: P.args, **kwargs: P.kwargs) -> R | None:
        try:
            return method(self, *args, **kwargs)
        except Exception as exc:
            self.on_error(exc)
            return None
        except KeyboardInterrupt as exc:
            interrupted(exc)
            return None

    call.__guarded__ = True  # type: ignore[attr-defined]
    return call


def _guarded_callback(method: Callable[..., R], arguments: int) -> Callable[..., R | None]:
    """:func:`guarded` for an asyncio callback taking no argument or one: called with
    them as they are rather than packed into ``*args, **kwargs``, which was two thirds
    of the wrapper's cost (about 240 ns a call here, ten calls a handshake)."""

    def call0(self: G) -> R | None:
        try:
            return method(self)
        except Exception as exc:
            self.on_error(exc)
            return None
        except KeyboardInterrupt as exc:
            interrupted(exc)
            return None

    def call1(self: G, argument: object) -> R | None:
        try:
            return method(self, argument)
        except Exception as exc:
            self.on_error(exc)
            return None
        except KeyboardInterrupt as exc:
            interrupted(exc)
            return None

    if arguments > 1:
        return guarded(method)
    call = functools.wraps(method)(call1 if arguments else call0)
    call.__guarded__ = True  # type: ignore[attr-defined]
    return call


def _guarded_setup(
    method: Callable[[G, asyncio.BaseTransport], None],
) -> Callable[[G, asyncio.BaseTransport], None]:
    """``connection_made`` under :func:`guarded`; a bug in it also aborts the transport,
    which the protocol may not have kept and cannot serve (left open, it would leak,
    and uvloop's ``close()`` would wait for it forever)."""

    @functools.wraps(method)
    def call(self: G, transport: asyncio.BaseTransport) -> None:
        try:
            method(self, transport)
        except Exception as exc:
            transport.abort()  # type: ignore[attr-defined]  # every asyncio transport has it
            self.on_error(exc)
        except KeyboardInterrupt as exc:
            interrupted(exc)

    call.__guarded__ = True  # type: ignore[attr-defined]
    return call


class GuardedProtocol:
    """A base for protocol classes: the asyncio callbacks (:data:`CALLBACKS`) that a
    subclass defines run under :func:`guarded` (``connection_made`` under a guard that
    also aborts its transport). The subclass provides ``on_error``."""

    __slots__ = ()  # a subclass with slots keeps them

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        for name in CALLBACKS:
            method = cls.__dict__.get(name)
            if method is not None and not getattr(method, "__guarded__", False):
                if name == "connection_made":
                    setattr(cls, name, _guarded_setup(method))
                else:
                    setattr(cls, name, _guarded_callback(method, _ARGUMENTS[name]))


def watch_task(task: asyncio.Task[None], owner: Guarded) -> None:
    """Pass an exception that ends ``task`` to ``owner.on_error`` (read when it ends)."""

    def ended(task: asyncio.Task[None]) -> None:
        if not task.cancelled() and isinstance(exc := task.exception(), Exception):
            owner.on_error(exc)

    task.add_done_callback(ended)


@public
class ServerError(RuntimeError):
    """Raised when the server had an internal error (a bug in pytest-socks5); raised
    *from* the first one, and :attr:`ServerError.exceptions` holds them all."""

    #: The original exceptions, in the order they happened.
    exceptions: tuple[BaseException, ...]

    def __init__(self, message: str, exceptions: tuple[BaseException, ...] = ()) -> None:
        super().__init__(message)
        self.exceptions = exceptions


def server_error(errors: list[str]) -> ServerError | None:
    """The :class:`ServerError` that reports ``errors`` (``None`` when there are none):
    one line naming each original exception, then the tracebacks not shown as its cause.
    An exception your own code raised (:class:`UserError`) is not one of them."""
    errors = [e for e in errors if not isinstance(e, UserError)]
    if not errors:
        return None
    exceptions = tuple(e.exception for e in errors if isinstance(e, InternalError))
    shown = errors[1:] if exceptions else errors  # the first is raised as the cause
    summary = "; ".join(f"{type(e).__name__}: {e}" for e in exceptions)
    count = "an internal error" if len(errors) == 1 else f"{len(errors)} internal errors"
    return ServerError(
        f"pytest-socks5 had {count}: {summary}" + "".join(f"\n{text}" for text in shown),
        exceptions,
    )


def failure(errors: list[str], *, bugs_only: bool = False) -> BaseException | None:
    """What to fail a test with for ``errors``: a :class:`ServerError` (raised from the
    first bug) if pytest-socks5 had a bug, else the first exception the user's own code
    raised, as it is (none with ``bugs_only``)."""
    error = server_error(errors)
    if error is not None:
        error.__cause__ = error.exceptions[0] if error.exceptions else None
        return error
    return None if bugs_only else user_error(errors)
