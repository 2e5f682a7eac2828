"""Gates and hooks: what a test adds at the decision points every front end reaches.

Strategy: a front end asks its connection for the faults at each decision point
(``ClientConnection.faults_at``); that one call also visits the server's
:class:`Checkpoints`, so gates and hooks work the same on SOCKS5 and SOCKS 4 with no
special case per protocol. A :class:`Gate` selects connections with the faults' own
selection code (a private ``Hold`` fault in a :class:`FaultSet` of its own, so ``times``,
``nth`` and ``when`` count as they do for faults); a held connection awaits a future on
the server's loop, which :meth:`Gate.release` resolves from any thread. The test side
waits on a condition (or, async, on an event woken through the loop). A hook is called
with a record snapshot and may return a fault, which joins the faults of that point (a
transfer fault is kept for the tunnel); a fault given where it cannot act is refused as
it is given (``_policy.acting_phases``: ``release()`` raises, a hook's is its error). A
data hook is wired into the ordinary relay by ``_tunnel.py``, and into the writes of
forwarded HTTP requests by ``_forward_wire.py``. With nothing added, the visit costs one
``if``.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from ._async_wait import wait_until
from ._checks import callable_value, choice, did_you_mean, fail_type, number
from ._fault_set import FaultSet
from ._fault_types import _SELECTION, Direction, Fault, Phase, _PhaseFault
from ._policy import check_acts_at
from ._public import public
from ._recorder import LiveRecord
from ._records import ConnectionRecord
from ._user_code import UserCodeError, callable_name, users_error

__all__ = [
    "HOLD_PHASES",
    "HOOK_PHASES",
    "Checkpoints",
    "DataHook",
    "Gate",
    "Hook",
    "check_hook_result",
    "data_rewriter",
    "hold_phase",
]

HOLD_PHASES = tuple(p.value for p in Phase)
HOOK_PHASES = (*HOLD_PHASES, "data")
hold_phase = choice(*HOLD_PHASES)
_hook_phase = choice(*HOOK_PHASES)
_timeout = number(low=0)

#: ``fn(record) -> Fault | None`` (or a coroutine function returning that).
Hook = Callable[[ConnectionRecord], "Fault | Awaitable[Fault | None] | None"]
#: ``fn(direction, data) -> bytes | None``: replacement bytes, or ``None`` to keep them.
DataHook = Callable[[Direction, bytes], "bytes | None"]


@dataclass(frozen=True, kw_only=True, repr=False, eq=False)
class Hold(_PhaseFault):
    """Where a gate holds and which connections: a fault that only selects."""


def _selection(at: str, selection: dict[str, Any]) -> Hold:
    unknown = [k for k in selection if k not in _SELECTION]
    if unknown:
        raise TypeError(
            f"hold(): unknown selection keyword {unknown[0]!r}"
            f"{did_you_mean(unknown[0], _SELECTION)}; valid: {', '.join(_SELECTION)}"
        )
    phase = hold_phase("hold(): at", at)
    try:
        return Hold(at=phase, **selection)
    except (TypeError, ValueError) as exc:  # the fault's own check: named for hold()
        message = str(exc)
        if not message.startswith("Hold"):
            raise
        raise type(exc)("hold()" + message.removeprefix("Hold")) from None


class _Held:
    """One connection waiting at a gate."""

    __slots__ = ("future", "loop", "record", "since", "snapshot")

    def __init__(self, record: LiveRecord) -> None:
        self.record = record
        self.snapshot = record.freeze()
        self.loop = asyncio.get_running_loop()
        self.future: asyncio.Future[tuple[Fault | None, str]] = self.loop.create_future()
        self.since = time.monotonic()


@public
class Gate:
    """Connections that reach ``at`` and match the selection wait here until released.

    Made by ``socks5_server.hold(at, **selection)``; thread-safe.
    """

    def __init__(self, at: str, selection: dict[str, Any]) -> None:
        self._hold = _selection(at, selection)
        self._faults = FaultSet()
        self._faults.add(self._hold)
        self._cond = threading.Condition()
        self._held: list[_Held] = []
        self._arrived: list[ConnectionRecord] = []
        self._taken = 0
        self._open = False  # released: connections arriving later go on
        self._closed = False
        #: How the record of a held connection that ends (is closed) says it ended.
        self._ended_how = "ended while held"
        self._wakers: list[Callable[[], None]] = []

    @property
    def phase(self) -> Phase:
        return self._hold.phase

    def __repr__(self) -> str:
        given = [f"{k}={getattr(self._hold, k)!r}" for k in _SELECTION]
        given = [g for g in given if not g.endswith("=None")]
        return f"hold({', '.join([repr(self.phase.value), *given])})"

    # -- the test's side ---------------------------------------------------------------

    @property
    def held(self) -> list[ConnectionRecord]:
        """The records (snapshots at arrival) of the connections waiting now."""
        with self._cond:
            return [h.snapshot for h in self._held]

    def wait(self, timeout: float = 5.0) -> ConnectionRecord:
        """Block until the next connection arrives (one not returned before); its record."""
        timeout = _timeout("wait(): timeout", timeout)
        with self._cond:
            if not self._cond.wait_for(self._ready, timeout):
                raise self._timed_out(timeout)
            return self._take()

    async def wait_async(self, timeout: float = 5.0) -> ConnectionRecord:
        """:meth:`wait` without blocking the event loop (asyncio or trio, directly or
        through anyio)."""
        timeout = _timeout("wait_async(): timeout", timeout)

        def ready() -> ConnectionRecord | None:
            with self._cond:
                return self._take() if self._ready() else None

        return await wait_until(
            "wait_async()", ready, self._on_arrival, timeout, lambda: self._timed_out(timeout)
        )

    def release(self, fault: Fault | None = None) -> None:
        """Let every held connection go on, or answer them with ``fault``; later arrivals
        go on at once (use a new gate to hold again). ``fault`` acts at the gate's phase,
        whatever its own ``at`` (a transfer fault: on the tunnel that opens); one that
        cannot act there, or on a connection it holds (a transfer fault for a UDP
        association), is a :class:`ValueError` that says where it can."""
        if fault is not None and not isinstance(fault, Fault):
            raise fail_type("release(): fault", "a pytest_socks5.faults.Fault or None", fault)
        if fault is not None:
            with self._cond:
                commands = {held.snapshot.command for held in self._held}
            for command in commands or {None}:
                check_acts_at(fault, self.phase, f"{self!r}.release() got", command)
        how = "released" if fault is None else f"released with {fault.describe()}"
        self._release(fault, how, open_after=True)

    def __enter__(self) -> Gate:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()

    # -- the server's side -------------------------------------------------------------

    def matches(self, phase: Phase, record: LiveRecord) -> bool:
        with self._cond:
            if self._open or self._closed:
                return False
        try:
            return bool(self._faults.pick(phase, record.freeze()))
        except UserCodeError as exc:  # its when= predicate: named as the gate's
            raise UserCodeError(f"when= predicate of {self!r}", exc.exception) from exc.exception

    async def hold(
        self, record: LiveRecord, add_cleanup: Callable[[Callable[[], None]], None]
    ) -> Fault | None:
        """Wait here until released: the fault to answer with, or ``None`` to go on. If
        the connection ends while held, its cleanup (run before the record is final)
        notes how."""
        held = _Held(record)
        noted = False

        def note(how: str) -> None:
            nonlocal noted
            with self._cond:
                if held in self._held:
                    self._held.remove(held)
            if not noted:
                noted = True
                seconds = time.monotonic() - held.since
                record.held(f"at {self.phase.value} by {self!r} for {seconds:.3f}s, {how}")

        def ended() -> None:
            note(self._ended_how)

        with self._cond:
            self._held.append(held)
            self._arrived.append(held.snapshot)
            self._cond.notify_all()
            wakers = list(self._wakers)
        add_cleanup(ended)
        for wake in wakers:
            wake()
        fault, how = await held.future
        note(how)
        return fault

    def _release(self, fault: Fault | None, how: str, *, open_after: bool) -> None:
        with self._cond:
            held, self._held = self._held, []
            self._open = self._open or open_after
        for one in held:
            with contextlib.suppress(RuntimeError):  # its loop is closed: nothing waits
                one.loop.call_soon_threadsafe(_resolve, one.future, (fault, how))

    def end(self, how: str) -> None:
        """At reset, after :meth:`close`: release what is held still (none of an earlier
        test: the reset ended those); no more holding."""
        with self._cond:
            self._closed = True
        self._release(None, how, open_after=True)

    def close(self, how: str = "closed: the server stopped") -> None:
        """At stop or reset: hold no more; the server closes the connections held now,
        whose records say ``how`` they ended."""
        with self._cond:
            self._closed = self._open = True
            self._ended_how = how
            self._cond.notify_all()

    # -- waiting -------------------------------------------------------------------------

    def _on_arrival(self, wake: Callable[[], None]) -> Callable[[], None]:
        """Call ``wake`` (on the server's thread) after each arrival, until the returned
        function is called."""
        with self._cond:
            self._wakers.append(wake)

        def forget() -> None:
            with self._cond:
                self._wakers.remove(wake)

        return forget

    def _ready(self) -> bool:
        return len(self._arrived) > self._taken

    def _take(self) -> ConnectionRecord:
        record = self._arrived[self._taken]
        self._taken += 1
        return record

    def _timed_out(self, timeout: float) -> TimeoutError:
        arrived = self._arrived[: self._taken]
        seen = "; ".join(f"#{r.id} {r.target}" for r in arrived) if arrived else "no connection"
        return TimeoutError(
            f"{self!r}: no connection arrived within {timeout:g}s "
            f"(returned before: {seen}; held now: {len(self._held)})"
        )


def _resolve(future: asyncio.Future[Any], value: Any) -> None:
    if not future.done():
        future.set_result(value)


def check_hook_result(result: object, phase: str, command: int | None = None) -> Fault | None:
    """A hook's answer: ``None`` or a fault that can act at ``phase`` (for a request of
    ``command``, once it is known); anything else is a bug in the hook."""
    if result is None:
        return None
    if isinstance(result, Fault):
        given = f"the on({phase!r}) hook returned"
        return check_acts_at(result, Phase(phase), given, command)
    raise TypeError(
        f"the on({phase!r}) hook returned {result!r}; "
        "a hook returns None (go on) or a pytest_socks5.faults.Fault (answer with it)"
    )


def data_rewriter(
    hooks: tuple[DataHook, ...], direction: Direction, *, offline: bool = False
) -> Callable[[bytes], bytes]:
    """What the relay calls on each chunk going ``direction``: every data hook in turn.
    A hook's exception (or wrong answer) is a :class:`UserCodeError` naming it, unless
    ``offline`` (``pytest_socks5.testing``: raised as it is)."""

    def rewrite(data: bytes) -> bytes:
        for hook in hooks:
            try:
                result = hook(direction, data)
                if result is None:
                    continue
                if not isinstance(result, bytes | bytearray | memoryview):
                    raise TypeError(
                        f"the on('data') hook returned {result!r}; a data hook returns "
                        "None (pass the chunk on) or the bytes to pass on instead"
                    )
            except BaseException as exc:
                source = f"on('data') hook {callable_name(hook)} ({direction.value})"
                raise users_error(exc, source, offline=offline) from exc
            data = bytes(result)
        return data

    return rewrite


class Checkpoints:
    """A server's gates and hooks; thread-safe, empty (and free) unless a test adds some."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.gates: tuple[Gate, ...] = ()
        self.hooks: dict[Phase, tuple[Hook, ...]] = {}
        self.data_hooks: tuple[DataHook, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.gates or self.hooks)

    def hold(self, at: str, selection: dict[str, Any]) -> Gate:
        gate = Gate(at, selection)
        with self._lock:
            self.gates = (*self.gates, gate)
        return gate

    @staticmethod
    def on_check(phase: str) -> str:
        return str(_hook_phase("on(): phase", phase))

    def on(self, phase: str, fn: Any) -> None:
        phase = self.on_check(phase)
        callable_value("on(): fn", fn)
        if phase == "data":
            if inspect.iscoroutinefunction(fn):
                raise fail_type(
                    "on(): fn", "a plain function for 'data' (called for each chunk)", fn
                )
            with self._lock:
                self.data_hooks = (*self.data_hooks, fn)
            return
        key = Phase(phase)
        with self._lock:
            self.hooks = {**self.hooks, key: (*self.hooks.get(key, ()), fn)}

    def close(self, how: str = "closed: the server stopped") -> None:
        """The server stops or resets: its gates hold no more; the server closes the
        connections they hold (``how`` goes in their records)."""
        for gate in self.gates:
            gate.close(how)

    def clear(self, how: str) -> None:
        """Release every gate (``how`` goes in the records) and forget gates and hooks."""
        with self._lock:
            gates, self.gates = self.gates, ()
            self.hooks, self.data_hooks = {}, ()
        for gate in gates:
            gate.end(how)

    async def visit(
        self,
        record: LiveRecord,
        phase: Phase,
        holding: Callable[[], None],
        add_cleanup: Callable[[Callable[[], None]], None],
    ) -> list[Fault]:
        """Hold at the gates that select this connection (``holding`` is called first;
        ``add_cleanup`` notes a hold the connection's end cut short), then call the
        hooks; the faults they answer with."""
        faults: list[Fault] = []
        for gate in self.gates:
            if gate.matches(phase, record):
                holding()
                fault = await gate.hold(record, add_cleanup)
                if fault is not None:
                    faults.append(fault)
        for hook in self.hooks.get(phase, ()):
            awaited = False
            try:
                result = hook(record.freeze())
                if inspect.isawaitable(result):
                    awaited = True
                    result = await result
                fault = check_hook_result(result, phase.value, record.command)
            except BaseException as exc:
                source = f"on({phase.value!r}) hook {callable_name(hook)}"
                raise users_error(exc, source, proxys=awaited and _proxys(exc)) from exc
            if fault is not None:
                faults.append(fault)
        return faults


def _proxys(exc: BaseException) -> bool:
    """Whether ``exc``, out of an awaited hook, is the proxy's own end of it: the
    coroutine closed (:exc:`GeneratorExit`), or the connection's task cancelling (a stop,
    the client's close, the handshake's deadline). A ``CancelledError`` nothing asked for
    is the hook's."""
    if isinstance(exc, GeneratorExit):
        return True
    task = asyncio.current_task() if isinstance(exc, asyncio.CancelledError) else None
    return task is not None and task.cancelling() > 0
