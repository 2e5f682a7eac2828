"""Chaos mode: a faithful fault, now and then, on any connection of any proxy of a suite.

Strategy: a :class:`Chaos` is a per-server source of extra faults that
:class:`~pytest_socks5._policy.Policy` consults at every decision point, beside the
server's :class:`~pytest_socks5._fault_set.FaultSet`. Each connection draws once, at its
first decision point, from a ``random.Random`` seeded per test (the session seed and the
test id through SHA-256, never Python's salted ``hash``: ``_chaos_settings``): with
probability ``rate`` one fault of :data:`CATALOG`, else none. Chaos counts the
connections that reach each decision point exactly as a ``FaultSet`` counts ``nth``, so
a fault that fires is kept with ``nth=`` set, and the same faults given to the marker
(:func:`replay_line`) hit exactly the same connections. Faults act and are noted in the
records like any other. Pure: no sockets, no pytest.
"""

from __future__ import annotations

import dataclasses
import enum
import random
import threading
from collections.abc import Iterable

from ._fault_types import (
    _CODES,
    _SELECTION,
    CloseAfter,
    Fault,
    Fragment,
    Latency,
    Phase,
    ReplyWith,
    ResetAfter,
    SlowClose,
    Stall,
)
from ._protocol import Reply
from ._recorder import LiveRecord

__all__ = [
    "CATALOG",
    "Chaos",
    "constructor",
    "plan_entry",
    "replay_line",
    "report_lines",
]

#: What real proxies and networks do: one of these, now and then, per connection.
CATALOG: tuple[Fault, ...] = (
    ReplyWith(reply=Reply.CONNECTION_REFUSED),
    ReplyWith(reply=Reply.HOST_UNREACHABLE),
    ReplyWith(reply=Reply.NETWORK_UNREACHABLE),
    ReplyWith(reply=Reply.TTL_EXPIRED),
    ReplyWith(reply=Reply.GENERAL_FAILURE),
    Stall(at=Phase.REPLY),
    Fragment(at=Phase.REPLY, size=1, delay=0.001),
    Latency(seconds=0.05),
    ResetAfter(after=1),
    CloseAfter(after=1),
    SlowClose(seconds=0.2),
)


class Chaos:
    """One test's chaos on one server: draws per connection, counts per decision point."""

    def __init__(self, rate: float, seed: int) -> None:
        self.rate = rate
        self.seed = seed
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self._drawn: dict[int, Fault | None] = {}
        self._records: dict[int, LiveRecord] = {}
        self._reached: dict[Phase | None, int] = {}
        #: ``(record, fault with nth=)``: each fault chaos handed to a connection.
        self.picked: list[tuple[LiveRecord, Fault]] = []

    def pick(self, phase: Phase | None, record: LiveRecord) -> list[Fault]:
        """This connection's fault if it acts at ``phase`` (``None``: the open tunnel)."""
        with self._lock:
            key = id(record)
            if key not in self._drawn:
                self._records[key] = record  # kept alive, so ids stay unique
                hit = self._rng.random() < self.rate
                self._drawn[key] = self._rng.choice(CATALOG) if hit else None
            reached = self._reached[phase] = self._reached.get(phase, 0) + 1
            fault = self._drawn[key]
            if fault is None or fault.phase is not phase:
                return []
            placed = dataclasses.replace(fault, nth=reached)
            self.picked.append((record, placed))
            return [placed]

    def acted(self) -> list[Fault]:
        """The picked faults the records say acted (a picked fault may not)."""
        out = []
        for record, fault in self.picked:
            described = fault.describe()
            if any(note.startswith(described) for note in list(record.faults)):
                out.append(fault)
        return out


def _value(name: str, value: object) -> str:
    if isinstance(value, enum.Enum) and isinstance(value.value, str):
        return repr(value.value)
    if isinstance(value, int) and not isinstance(value, bool) and name in _CODES:
        return f"0x{value:02x}"
    if isinstance(value, int) and not isinstance(value, bool):
        return str(int(value))
    return repr(value)


def constructor(fault: Fault) -> str:
    """``ReplyWith(reply=0x05, nth=2)``: the Python that builds ``fault`` again (its
    arguments that differ from their defaults; ``when=`` cannot be written and is left
    out)."""
    args = []
    fields = dataclasses.fields(fault)
    for field in sorted(fields, key=lambda f: f.name in _SELECTION):  # own arguments first
        value = getattr(fault, field.name)
        if field.name == "when" or value == field.default:
            continue
        args.append(f"{field.name}={_value(field.name, value)}")
    return f"{type(fault).__name__}({', '.join(args)})"


def replay_line(faults: Iterable[Fault]) -> tuple[str, str]:
    """The import and the marker that replay ``faults`` with chaos off."""
    faults = list(faults)
    kinds = sorted({type(f).__name__ for f in faults})
    imports = f"from pytest_socks5.faults import {', '.join(kinds)}"
    shown = ", ".join(constructor(f) for f in faults)
    return imports, f"@pytest.mark.socks5(chaos=False, faults=[{shown}])"


def plan_entry(servers: Iterable[tuple[str, Chaos]]) -> list[str]:
    """One test's plan, for the summary: ``socks5_server: ReplyWith(reply=0x05, nth=1)``."""
    return [
        f"{label.split(' at ')[0]}: {constructor(f)}"
        for label, chaos in servers
        for f in chaos.acted()
    ]


def report_lines(servers: Iterable[tuple[str, Chaos]]) -> list[str]:
    """A failing test's chaos section from ``(label, chaos)`` of each server: the faults
    that fired and the lines that replay them without chaos."""
    lines: list[str] = []
    for label, chaos in servers:
        acted = chaos.acted()
        fixture = label.startswith("socks5_server at")
        if not acted:
            continue
        lines.append(f"chaos faults that fired on {label}:")
        lines += [f"  {f.describe()}" for f in acted]
        imports, marker = replay_line(acted)
        if fixture:
            lines += ["replay them (paste above the test):", f"  {imports}", f"  {marker}"]
        else:
            shown = ", ".join(constructor(f) for f in acted)
            lines += ["replay them: give this server", f"  {imports}", f"  faults=[{shown}]"]
    return lines
