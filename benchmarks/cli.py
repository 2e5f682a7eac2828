"""Benchmarks of pytest-socks5 against a direct loopback connection in the same run.

Strategy: ``main`` parses the command line, sets the run up (sizes, RLIMIT_NOFILE, signal
handlers, the watchdog, no proxy variables in the environment), runs each selected
workload (with ``--quick``, all but ``FULL_ONLY`` unless ``--only`` names them) on its
own so one failure is reported and the others still run — the ones with a proxy process
once per event loop of ``--loops``, one loop right after the other, so both see the same
machine — kills every child process after each, then prints the table, issue #13's rows
per loop, and one JSON line (the last line of stdout).
"""

from __future__ import annotations

import argparse
import atexit
import importlib.util
import json
import os
import platform
import resource
import signal
import sys
import time
from collections.abc import Callable
from typing import Any

from . import settings
from .audit import bench_audit
from .bytecodes import bench_bytecodes
from .connections import bench_handshake, bench_pingpong
from .inprocess import bench_fixture, bench_request, bench_startstop
from .plugin_load import bench_plugin_load
from .processes import FINISHED, kill_children, on_signal, start_watchdog
from .report import print_table
from .settings import (
    FULL_ONLY,
    LOOP_NAMES,
    NAMES,
    NETWORK,
    PER_LOOP,
    PROXY_ARGS,
    SIZES,
    log,
    raise_nofile,
)
from .startup import bench_startup
from .summary import goal_rows, print_goals
from .targets import serve_echo_target
from .throughput import bench_echo, bench_oneway, bench_parallel
from .tunnels import bench_at_once, bench_scale

BENCHES: dict[str, Callable[[argparse.Namespace], dict[str, Any]]] = {
    "oneway": bench_oneway,
    "echo": bench_echo,
    "parallel": bench_parallel,
    "handshake": bench_handshake,
    "at_once": bench_at_once,
    "scale": bench_scale,
    "pingpong": bench_pingpong,
    "startup": bench_startup,
    "bytecodes": bench_bytecodes,
    "fixture": bench_fixture,
    "request": bench_request,
    "startstop": bench_startstop,
    "audit": bench_audit,
    "plugin_load": bench_plugin_load,
}


def parse_loops(text: str) -> list[str]:
    loops = [name.strip() for name in text.split(",") if name.strip()]
    for name in loops:
        if name not in LOOP_NAMES:
            raise argparse.ArgumentTypeError(f"{name!r}: not one of {', '.join(LOOP_NAMES)}")
    if not loops:
        raise argparse.ArgumentTypeError("no loop named")
    return list(dict.fromkeys(loops))


def default_loops() -> list[str]:
    return ["asyncio", "uvloop"] if importlib.util.find_spec("uvloop") else ["asyncio"]


def count_met(results: dict[str, Any]) -> list[bool]:
    """Every verdict of one result (``met``, ``cpu_met``, …; a ``met`` that sums up
    ``start_met`` and ``stop_met`` is not counted again)."""
    return [
        bool(v)
        for k, v in results.items()
        if k.endswith("_met") or (k == "met" and "start_met" not in results)
    ]


def run_one(
    name: str, args: argparse.Namespace, loop: str | None, errors: dict[str, str]
) -> dict[str, Any] | None:
    """One workload, its failure recorded in ``errors`` instead of raised."""
    key = f"{name} ({loop})" if loop else name
    settings.LOOP = loop
    log(f"{key} …")
    t0 = time.perf_counter()
    try:
        return BENCHES[name](args)
    except Exception as exc:
        errors[key] = f"{type(exc).__name__}: {exc}"
        log(f"{key} FAILED: {errors[key]}")
        return None
    finally:
        kill_children()
        settings.LOOP = None
        log(f"{key} done in {time.perf_counter() - t0:.1f}s")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (CI smoke check)")
    parser.add_argument(
        "--proxy-arg",
        action="append",
        default=[],
        metavar="ARG",
        help="extra argument for the proxy process, e.g. --proxy-arg=--splice",
    )
    parser.add_argument(
        "--loops",
        type=parse_loops,
        default=default_loops(),
        metavar="NAME,...",
        help="the proxy process's event loops, each a run of the benchmarks with a proxy "
        f"process (default: {','.join(default_loops())})",
    )
    parser.add_argument("--json-only", action="store_true", help="print only the JSON line")
    parser.add_argument("--only", nargs="+", choices=NAMES, metavar="NAME", help=str(NAMES))
    parser.add_argument(
        "--no-pin",
        dest="pin",
        action="store_false",
        help="do not pin handshake and ping-pong (client, target, proxy) to one CPU",
    )
    parser.add_argument("--echo-target", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.echo_target:  # the child process of the scale benchmark
        return serve_echo_target()
    if any(a.startswith(("--loop", "--uvloop")) for a in args.proxy_arg):
        parser.error("choose the proxy's event loop with --loops, not --proxy-arg")
    PROXY_ARGS.extend(args.proxy_arg)
    settings.QUIET = args.json_only
    for key, (full, quick) in SIZES.items():
        setattr(args, key, quick if args.quick else full)
    args.rounds = 3
    args.scale_rounds = 2
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)
    atexit.register(kill_children)
    for key in list(os.environ):
        if key.lower().endswith("_proxy"):
            del os.environ[key]
    start_watchdog(240 if args.quick else 900)
    nofile = raise_nofile()
    if args.at_once * 2 + 100 > nofile:
        print(f"RLIMIT_NOFILE is {nofile}: too low for {args.at_once} tunnels", file=sys.stderr)
        return 2

    selected = args.only or [n for n in NAMES if not (args.quick and n in FULL_ONLY)]
    if not args.only and args.quick:
        log(f"--quick leaves out {', '.join(FULL_ONLY)} (--quick --only NAME runs it)")
    if "fixture" in selected and "request" not in selected:
        selected.append("request")  # item 6 of the issue covers both
    per_loop: dict[str, dict[str, dict[str, Any]]] = {loop: {} for loop in args.loops}
    results: dict[str, dict[str, Any]] = {}  # the in-process ones, once
    errors: dict[str, str] = {}
    load_before = os.getloadavg()[0]
    if load_before > 0.5:
        log(f"warning: load average is {load_before:.2f}: other work may disturb the results")
    started = time.perf_counter()
    try:
        for name in NAMES:
            if name not in selected:
                continue
            for loop in args.loops if name in PER_LOOP else [None]:
                r = run_one(name, args, loop, errors)
                if r is not None:
                    (per_loop[loop] if loop else results)[name] = r
    finally:
        kill_children()
        FINISHED.set()

    elapsed = time.perf_counter() - started
    all_results = [*results.values(), *(r for rs in per_loop.values() for r in rs.values())]
    checks = [met for r in all_results for met in count_met(r)]
    if not args.json_only:
        sections = {f"proxy on {loop}": rs for loop, rs in per_loop.items()}
        print_table({**sections, "in this process": results}, errors)
        if any(per_loop.values()):
            print_goals(per_loop)
        print(
            f"targets met: {sum(checks)}/{len(checks)}; {elapsed:.1f}s; "
            f"{'quick' if args.quick else 'full'} run; "
            f"{os.cpu_count()} CPUs; load average {load_before:.2f} before, "
            f"{os.getloadavg()[0]:.2f} after; Python {platform.python_version()}"
        )
    summary = {
        "benchmark": "pytest-socks5",
        "quick": args.quick,
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "loadavg_before": round(load_before, 2),
        "loadavg_after": round(os.getloadavg()[0], 2),
        "proxy_args": PROXY_ARGS,
        "loops": args.loops,
        "nofile": list(resource.getrlimit(resource.RLIMIT_NOFILE)),
        "proxy_mode": {
            ",".join(NETWORK): "subprocess (python -m pytest_socks5 --port 0 --quiet --loop NAME)",
            "startup": "subprocess (python -m pytest_socks5 --port 0 --quiet --loop NAME), alone",
            "scale target": "subprocess (bench.py --echo-target)",
            "fixture,request,startstop": "in-process SOCKS5Server thread",
        },
        "per_loop": per_loop,
        "results": results,
        "issue_13": goal_rows(per_loop),
        "errors": errors,
        "targets_met": sum(checks),
        "targets_total": len(checks),
        "elapsed_s": round(elapsed, 1),
    }
    print(json.dumps(summary, ensure_ascii=False), flush=True)
    return 1 if errors else 0
