"""Chaos mode: a faithful fault, now and then, on any connection of any proxy of a suite.

Strategy: a :class:`Chaos` is a per-server source of extra faults that
:class:`~pytest_socks5._policy.Policy` consults at every decision point, beside the
server's :class:`~pytest_socks5._fault_set.FaultSet`. Each connection draws once, at its
first decision point, from a ``random.Random`` seeded per test (:func:`seed_for_test`: the
session seed and the test id through SHA-256, never Python's salted ``hash``): with
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
from typing import Any

from ._checks import SWITCH_OFF, SWITCH_ON
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
    "DEFAULT_RATE",
    "PLAN_PROPERTY",
    "Chaos",
    "ChaosPlan",
    "constructor",
    "header",
    "marker_chaos",
    "plan_entry",
    "plan_lines",
    "rate_for_test",
    "replay_line",
    "report_lines",
    "seed_for_test",
    "session_seed",
    "text_chaos",
]

#: ``--socks5-chaos`` without a value.
DEFAULT_RATE = 0.1

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


def seed_for_test(session_seed: int, test_id: str, server: int = 0) -> int:
    """The seed of one test's ``server``-th proxy: stable across processes and orders."""
    import hashlib  # loaded by chaos runs only (~2 ms of a proxy process's start-up)

    text = f"{session_seed}\0{test_id}\0{server}".encode()
    return int.from_bytes(hashlib.sha256(text).digest()[:8], "big")


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


# -- the option's forms ----------------------------------------------------------------


def marker_chaos(name: str, value: object) -> bool | float:
    """The marker's ``chaos=``: ``False`` (off for this test), ``True`` (on, at the
    suite's rate or the default one) or a rate from 0 to 1."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float) and 0 <= value <= 1:
        return float(value)
    raise ValueError(f"{name} must be True, False or a rate from 0 to 1, got {value!r}")


_NOT_A_RATE = f"socks5_chaos must be a rate from 0 to 1 (or true: {DEFAULT_RATE:g}, false: off)"


def text_chaos(value: str) -> float:
    """``--socks5-chaos[=RATE]`` and ini ``socks5_chaos``: a rate (``""``/false: off)."""
    word = str(value).strip().lower()
    if word == "" or word in SWITCH_OFF:
        return 0.0
    if word in SWITCH_ON:
        return DEFAULT_RATE
    try:
        rate = float(word)
    except ValueError:
        raise ValueError(f"{_NOT_A_RATE}, got {value!r}{_argument_hint(word)}") from None
    if not 0 <= rate <= 1:
        raise ValueError(f"{_NOT_A_RATE}, got {value!r}")
    return rate


def _argument_hint(word: str) -> str:
    """For a word where a rate belongs: the flag's value may be left out, so ``pytest
    --socks5-chaos tests/`` takes the next argument, a test path, as its rate."""
    path = any(mark in word for mark in ("/", "\\", "::")) or word.endswith(".py")
    what = ", which looks like a test path" if path else ""
    return (
        f"{what}: a bare --socks5-chaos takes the next argument as its RATE; write "
        f"--socks5-chaos={DEFAULT_RATE:g} (or any RATE) with '=', or put it after the test paths"
    )


def rate_for_test(suite_rate: float, marker: bool | float | None) -> float:
    """One test's rate: the suite's, unless its marker says otherwise."""
    if marker is None:
        return suite_rate
    if isinstance(marker, bool):
        return (suite_rate or DEFAULT_RATE) if marker else 0.0
    return marker


# -- what the reports say --------------------------------------------------------------


def header(rate: float, seed: int) -> str:
    return (
        f"pytest-socks5 chaos: rate {rate:g}, seed {seed} "
        f"(replay: --socks5-chaos={rate:g} --socks5-seed {seed})"
    )


def session_seed(worker: dict[str, object], given: int | None, randomly: object) -> int:
    """The session's seed: the xdist controller's (in a worker), else the one given
    (``--socks5-seed``, ini ``socks5_seed``), else pytest-randomly's, else a fresh one."""
    if "socks5_chaos_seed" in worker:
        return int(str(worker["socks5_chaos_seed"]))
    if given is not None:
        return given
    if isinstance(randomly, int):
        return randomly
    return random.SystemRandom().randrange(10**9)


#: The user property of a test's teardown report that carries its :func:`plan_entry`.
PLAN_PROPERTY = "socks5_chaos"


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


def plan_lines(plan: dict[str, list[str]]) -> list[str]:
    """The session's fault plan: one line per test that chaos hit, by test id."""
    return [f"{test}: {'; '.join(plan[test])}" for test in sorted(plan) if plan[test]]


class ChaosPlan:
    """Chaos mode's plan of one session, for the terminal summary: test id -> the faults
    that acted, read from the reports (pytest-xdist's workers' too). The plugin registers
    it with pytest; it reads its own user property and lets any other pass, whatever its
    shape (pytest does not check a suite's properties)."""

    def __init__(self, rate: float, seed: int) -> None:
        self.rate, self.seed = rate, seed
        self.plans: dict[str, list[str]] = {}

    def pytest_runtest_logreport(self, report: Any) -> None:
        for entry in report.user_properties:
            if isinstance(entry, tuple | list) and len(entry) == 2:
                name, plan = entry
                if isinstance(name, str) and name == PLAN_PROPERTY and isinstance(plan, list):
                    self.plans.setdefault(report.nodeid, []).extend(plan)

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if self.rate or self.plans:
            terminalreporter.write_sep("-", f"socks5 chaos plan (seed {self.seed})")
            for line in plan_lines(self.plans) or ["no chaos fault acted"]:
                terminalreporter.write_line(line)
