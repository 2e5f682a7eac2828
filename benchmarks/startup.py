"""The command-line server's start-up: spawn to listening, and its memory when idle.

Strategy: each start spawns ``python -m pytest_socks5 --port 0 --quiet --loop NAME``
(:class:`ProxyProcess`), times spawn to the listening banner on its stdout, waits for the
event-loop line on its stderr (and checks it names the loop asked for), lets it settle and
reads its PSS; Ctrl-C (SIGINT) stops it. The baseline ("direct") is a bare interpreter that
prints a line and sleeps, measured the same way: what Python's own start and footprint
cost on this machine. Starts alternate with the baseline after one warm-up of each (so
both find the bytecode caches and the page cache warm); the median and best are reported.
"""

from __future__ import annotations

import argparse
import contextlib
import subprocess
import sys
import time
from typing import Any

from . import settings
from .measure import median, verdict
from .processes import CHILDREN, ProxyProcess, pss_kib, read_line, spawn

#: The baseline child: a line on stdout once it runs, then nothing.
BARE = "import time; print('ready', flush=True); time.sleep(60)"

#: Seconds between the first line and reading PSS.
SETTLE = 0.2


def _bare() -> tuple[float, int]:
    t0 = time.perf_counter()
    proc = spawn([sys.executable, "-c", BARE], stdout=subprocess.PIPE)
    try:
        assert proc.stdout is not None
        read_line(proc.stdout.fileno(), bytearray(), 15.0, "python -c", lambda: "")
        elapsed = time.perf_counter() - t0
        time.sleep(SETTLE)
        return elapsed, pss_kib(proc.pid)
    finally:
        proc.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(5)
        if proc.stdout is not None:
            proc.stdout.close()
        CHILDREN.discard(proc)


def _proxy() -> tuple[float, int, str]:
    with ProxyProcess() as proxy:
        loop = proxy.loop_name()
        time.sleep(SETTLE)
        return proxy.start_s, proxy.pss_kib(), loop


def bench_startup(cfg: argparse.Namespace) -> dict[str, Any]:
    _bare()
    _proxy()
    start: dict[str, list[float]] = {"direct": [], "proxied": []}
    pss: dict[str, list[float]] = {"direct": [], "proxied": []}
    loops = set()
    for _ in range(cfg.startups):
        for mode in ("direct", "proxied"):
            if mode == "direct":
                elapsed, kib = _bare()
            else:
                elapsed, kib, loop = _proxy()
                loops.add(loop)
            start[mode].append(elapsed * 1e3)
            pss[mode].append(kib / 1024)
    if settings.LOOP and loops != {settings.LOOP}:
        raise RuntimeError(f"asked for --loop {settings.LOOP}, the proxy ran {sorted(loops)}")
    start_ms, idle_pss = median(start["proxied"]), median(pss["proxied"])
    start_v, pss_v = verdict("cli_start", start_ms), verdict("idle_pss", idle_pss)
    return {
        "count": cfg.startups,
        "loop": ",".join(sorted(loops)),
        "direct_start_ms": round(median(start["direct"]), 1),
        "direct_start_best_ms": round(min(start["direct"]), 1),
        "start_ms": round(start_ms, 1),
        "start_best_ms": round(min(start["proxied"]), 1),
        "start_ratio": round(start_ms / median(start["direct"]), 3),
        "start_target": start_v["target"],
        "start_met": start_v["met"],
        "direct_pss_mib": round(median(pss["direct"]), 2),
        "idle_pss_mib": round(idle_pss, 2),
        "idle_pss_best_mib": round(min(pss["proxied"]), 2),
        "pss_target": pss_v["target"],
        "pss_met": pss_v["met"],
    }
