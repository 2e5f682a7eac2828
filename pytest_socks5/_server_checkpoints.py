"""``socks5_server.hold(…)`` and ``socks5_server.on(…)``: the server's methods for gates
and hooks.

Strategy: a mixin of :class:`~pytest_socks5.SOCKS5Server` (as the record queries are),
so the server module stays about the server's lifecycle. The work is done by the
engine's :class:`~pytest_socks5._checkpoints.Checkpoints`, which every connection visits
at its decision points; here the arguments are checked where the test gives them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, overload

from ._checkpoints import Checkpoints, Gate
from ._engine import Engine

__all__ = ["CheckpointMethods"]

F = TypeVar("F", bound=Callable[..., Any])


class CheckpointMethods:
    """Gates (:meth:`hold`) and hooks (:meth:`on`) at the decision points."""

    _engine: Engine

    @property
    def _checkpoints(self) -> Checkpoints:
        return self._engine.context.checkpoints

    def hold(self, at: str, **selection: Any) -> Gate:
        """Hold the connections that reach ``at`` and match ``selection`` until released.

        :param at: ``"greeting"``, ``"auth"``, ``"request"`` (before the dial) or
            ``"reply"`` (after the dial, before answering).
        :param selection: the faults' selection keywords (``host``, ``port``,
            ``command``, ``username``, ``client``, ``when``, ``times``, ``nth``, …).

        Returns a :class:`~pytest_socks5.Gate`: ``gate.wait()`` returns each arrival's record,
        ``gate.release()`` lets them go on, ``gate.release(fault)`` answers them with a
        fault (it acts at ``at``; one that cannot is a :class:`ValueError`). Every gate
        goes at the end of the test (the server's reset), which ends a connection held
        then (never lets it go on); a connection held when the server stops is closed.
        """
        return self._checkpoints.hold(at, selection)

    @overload
    def on(self, phase: str) -> Callable[[F], F]: ...
    @overload
    def on(self, phase: str, fn: F) -> F: ...
    def on(self, phase: str, fn: F | None = None) -> F | Callable[[F], F]:
        """Call ``fn`` at the decision point ``phase``, for every connection.

        At ``"greeting"``, ``"auth"``, ``"request"`` or ``"reply"``, ``fn(record)``
        (plain or ``async``) gets a :class:`~pytest_socks5.ConnectionRecord`
        snapshot and returns ``None`` to go on or a fault to answer with (it acts at
        ``phase``; one that cannot is the hook's ``ValueError``, as below). At
        ``"data"``, ``fn(direction, data)`` (plain) sees each relayed chunk and
        returns ``None`` or the bytes to pass on instead. An exception in a hook
        ends the connection as ``USER_CODE_ERROR`` and fails the test with that
        exception (noted as the hook's: not an error of pytest-socks5). Hooks are
        removed at the server's reset. Also a decorator: ``@socks5_server.on("request")``.
        """
        if fn is None:

            def decorate(fn: F) -> F:
                self._checkpoints.on(phase, fn)
                return fn

            self._checkpoints.on_check(phase)
            return decorate
        self._checkpoints.on(phase, fn)
        return fn
