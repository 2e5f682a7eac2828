"""Chaos mode's settings, read when the plugin loads: the rate from the flag, the ini or
a marker, the session's seed and each test's, and the lines the reports print.

Strategy: plain values and words only. The catalogue of faults and the per-connection
draw live in :mod:`._chaos`, which loads with the first test that chaos hits; a suite
without chaos never imports the fault types.
"""

from __future__ import annotations

import os
import random
import shlex
from collections.abc import Sequence
from typing import Any

from ._checks import SWITCH_OFF, SWITCH_ON

__all__ = [
    "DEFAULT_RATE",
    "PLAN_PROPERTY",
    "ChaosPlan",
    "bare_flag_hint",
    "header",
    "marker_chaos",
    "plan_lines",
    "rate_for_test",
    "seed_for_test",
    "session_seed",
    "text_chaos",
]

#: ``--socks5-chaos`` without a value.
DEFAULT_RATE = 0.1
_FLAG = "--socks5-chaos"


def seed_for_test(session_seed: int, test_id: str, server: int = 0) -> int:
    """The seed of one test's ``server``-th proxy: stable across processes and orders."""
    import hashlib  # loaded by chaos runs only (~2 ms of a proxy process's start-up)

    text = f"{session_seed}\0{test_id}\0{server}".encode()
    return int.from_bytes(hashlib.sha256(text).digest()[:8], "big")


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
        raise ValueError(f"{_NOT_A_RATE}, got {value!r}") from None
    if not 0 <= rate <= 1:
        raise ValueError(f"{_NOT_A_RATE}, got {value!r}")
    return rate


def bare_flag_hint(value: object, addopts: Sequence[str], config: Any) -> str:
    """For a word the flag took where a rate belongs: ``pytest --socks5-chaos tests/``
    takes the next argument, a test path, as its rate, because the rate may be left out.
    The run's arguments are read in pytest's order: ini ``addopts``, ``PYTEST_ADDOPTS``,
    the command line (``config.invocation_params.args``); the hint only when the flag's
    last mention there is bare (not ``--socks5-chaos=…``) and the word is no number."""
    env = shlex.split(os.environ.get("PYTEST_ADDOPTS", ""))
    args = [*addopts, *env, *config.invocation_params.args]
    given = [a for a in args if a == _FLAG or a.startswith(f"{_FLAG}=")]
    word = str(value).strip().lower()
    if not given or given[-1] != _FLAG:
        return ""
    try:
        float(word)
    except ValueError:
        pass
    else:
        return ""  # a number out of range: the flag took what was meant as a rate
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


def plan_lines(plan: dict[str, list[str]]) -> list[str]:
    """The session's fault plan: one line per test that chaos hit, by test id."""
    return [f"{test}: {'; '.join(plan[test])}" for test in sorted(plan) if plan[test]]


#: The user property of a test's teardown report that carries its chaos plan entry
#: (``_chaos.plan_entry``).
PLAN_PROPERTY = "socks5_chaos"


class ChaosPlan:
    """Chaos mode's plan of one session, for the terminal summary: test id -> the faults
    that acted, read from the reports (pytest-xdist's workers' too). The plugin registers
    it with pytest; it reads its own user property and lets any other pass, whatever its
    shape (pytest does not check a suite's properties). A test run again
    (pytest-rerunfailures) has one teardown report per attempt: the last one's plan is
    the test's."""

    def __init__(self, rate: float, seed: int) -> None:
        self.rate, self.seed = rate, seed
        self.plans: dict[str, list[str]] = {}

    def pytest_runtest_logreport(self, report: Any) -> None:
        for entry in report.user_properties:
            if isinstance(entry, tuple | list) and len(entry) == 2:
                name, plan = entry
                if isinstance(name, str) and name == PLAN_PROPERTY and isinstance(plan, list):
                    self.plans[report.nodeid] = list(plan)

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if self.rate or self.plans:
            terminalreporter.write_sep("-", f"socks5 chaos plan (seed {self.seed})")
            for line in plan_lines(self.plans) or ["no chaos fault acted"]:
                terminalreporter.write_line(line)
