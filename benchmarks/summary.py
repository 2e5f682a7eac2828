"""The rows of issue #13's table, one column per event loop of the proxy, each with its goal.

Strategy: every row is read from the per-loop results (the dicts the JSON line carries)
by a fixed recipe — benchmark, figure, unit, and the keys of its goal and verdict — so the
summary can never say something the detailed table does not. A missing figure (a
benchmark not selected, or failed) is shown as ``-``.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from .settings import TARGETS


class Row(NamedTuple):
    label: str
    bench: str
    value: str
    unit: str
    goal: str  # its key in settings.TARGETS
    met: str = "met"


ROWS = (
    Row("one-way throughput", "oneway", "ratio", "x", "oneway"),
    Row("echo both ways", "echo", "ratio", "x", "echo"),
    Row("handshakes/s, sequential", "handshake", "ratio", "x", "handshake"),
    Row(
        "server CPU per handshake",
        "handshake",
        "proxy_cpu_per_handshake_ms",
        " ms",
        "handshake_cpu",
        "cpu_met",
    ),
    Row("handshake p50", "handshake", "p50_ratio", "x", "handshake_p50", "p50_met"),
    Row("ping-pong p50", "pingpong", "ratio", "x", "pingpong"),
    Row("{n} tunnels: all up", "at_once", "ratio", "x", "at_once"),
    Row(
        "server PSS with 1,000 tunnels",
        "at_once",
        "pss_1000_mib",
        " MiB",
        "at_once_pss",
        "pss_met",
    ),
    Row("idle PSS", "startup", "idle_pss_mib", " MiB", "idle_pss", "pss_met"),
    Row("start -> listening", "startup", "start_ms", " ms", "cli_start", "start_met"),
)


def _text(value: float, unit: str) -> str:
    if unit == "x":
        return f"{value:.2f}x"
    return f"{value:.3f}{unit}" if value < 1 else f"{value:.1f}{unit}"


def goal_rows(per_loop: dict[str, dict[str, dict[str, Any]]]) -> list[dict[str, Any]]:
    """For each row: its label, its goal, and per loop the figure, its text and met."""
    out = []
    for row in ROWS:
        label, cells = row.label.replace("{n}", "1,000"), {}
        for loop, results in per_loop.items():
            r = results.get(row.bench)
            if r is None:
                continue
            if row.bench == "at_once" and r["count"] != 1000:
                if row.value == "ratio":
                    label = row.label.replace("{n}", f"{r['count']:,}")
                else:
                    label = f"{row.label} (from {r['count']:,})"
            value = r[row.value]
            cells[loop] = {"value": value, "text": _text(value, row.unit), "met": r[row.met]}
        target, op = TARGETS[row.goal]
        out.append({"row": label, "goal": f"{op}{target:g}{row.unit}", "loops": cells})
    return out


def print_goals(per_loop: dict[str, dict[str, dict[str, Any]]]) -> None:
    loops = list(per_loop)
    header = ["issue #13 row", *(f"proxy on {loop}" for loop in loops), "goal"]
    table = [header]
    for row in goal_rows(per_loop):
        cells = []
        for loop in loops:
            c = row["loops"].get(loop)
            cells.append(f"{c['text']} {'met' if c['met'] else 'gap'}" if c else "-")
        table.append([row["row"], *cells, row["goal"]])
    widths = [max(len(r[i]) for r in table) for i in range(len(header))]
    line = "  ".join("-" * w for w in widths)
    print(line)
    for i, cells in enumerate(table):
        print("  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip())
        if i == 0:
            print(line)
    print(line)
