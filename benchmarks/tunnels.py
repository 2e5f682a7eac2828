"""Many-tunnel workloads: N handshakes at once (``at_once``) and ``scale`` tunnels.

Strategy: both open many tunnels from one ``selectors`` loop (thousands of threads would
measure the scheduler instead of the proxy) and read the proxy process's memory before
and with them open: RSS, and for ``at_once`` also PSS, the figure issue #13 compares.
"""

from __future__ import annotations

import argparse
import resource
import time
from typing import Any

from pytest_socks5 import rawclient

from . import settings
from .client import ScaleRun, open_conn, open_many
from .measure import Meter, cpu_info, modes, verdict
from .processes import EchoTargetProcess, ProxyProcess
from .settings import IO_TIMEOUT, SCALE_WINDOW, log
from .targets import HoldTarget


def bench_at_once(cfg: argparse.Namespace) -> dict[str, Any]:
    n = cfg.at_once
    target = HoldTarget()
    times: dict[str, list[float]] = {"direct": [], "proxied": []}
    meters: dict[str, Meter] = {}
    try:
        with ProxyProcess() as proxy:
            # Warm the proxy up (imports, first-connection allocations) before "before".
            for _ in range(20):
                open_conn(target.addr, proxy.addr).close()
            target.wait_idle()
            time.sleep(0.2)
            rss_before, pss_before = proxy.rss_kib(), proxy.pss_kib()
            rss_after = rss_closed = pss_after = 0
            for rnd in range(cfg.rounds):
                for mode, proxied in modes():
                    with Meter(proxy) as meter:
                        elapsed, socks = open_many(n, target.addr, proxy.addr if proxied else None)
                    if proxied and rnd == 0:
                        time.sleep(0.2)
                        rss_after, pss_after = proxy.rss_kib(), proxy.pss_kib()
                    for sock in socks:
                        sock.close()
                    target.wait_idle()
                    if proxied and rnd == 0:
                        time.sleep(0.2)
                        rss_closed = proxy.rss_kib()
                    times[mode].append(elapsed)
                    if mode not in meters or elapsed <= min(times[mode]):
                        meters[mode] = meter
    finally:
        target.close()
    direct, proxied_t = min(times["direct"]), min(times["proxied"])
    ratio = proxied_t / direct
    mem_mib = (rss_after - rss_before) / 1024
    mem_1000 = mem_mib * 1000 / n
    mem_verdict = verdict("at_once_mem", mem_1000)
    # Issue #13's row is the whole process's PSS with 1000 tunnels open; with fewer
    # (--quick) the increase is scaled to 1000.
    pss_1000 = (pss_before + (pss_after - pss_before) * 1000 / n) / 1024
    pss_verdict = verdict("at_once_pss", pss_1000)
    return {
        "count": n,
        "direct_ms": round(direct * 1e3, 1),
        "proxied_ms": round(proxied_t * 1e3, 1),
        "ratio": round(ratio, 3),
        "rss_before_mib": round(rss_before / 1024, 1),
        "rss_with_tunnels_mib": round(rss_after / 1024, 1),
        "rss_after_close_mib": round(rss_closed / 1024, 1),
        "rss_increase_mib": round(mem_mib, 2),
        "rss_increase_per_1000_mib": round(mem_1000, 2),
        "rss_per_tunnel_kib": round((rss_after - rss_before) / n, 1),
        "mem_target": mem_verdict["target"],
        "mem_met": mem_verdict["met"],
        "pss_before_mib": round(pss_before / 1024, 2),
        "pss_with_tunnels_mib": round(pss_after / 1024, 2),
        "pss_1000_mib": round(pss_1000, 2),
        "pss_1000_estimated": n != 1000,
        "pss_target": pss_verdict["target"],
        "pss_met": pss_verdict["met"],
        "cpu": cpu_info(meters),
        **verdict("at_once", ratio),
    }


def scale_limit(requested: int, proxy_fds: int) -> int:
    """The most tunnels that fit the proxy's RLIMIT_NOFILE (2 descriptors per tunnel)."""
    nofile = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    return max(0, min(requested, (nofile - proxy_fds - 32) // 2))


def bench_scale(cfg: argparse.Namespace) -> dict[str, Any]:
    requested = cfg.scale
    timeout = 2 * IO_TIMEOUT
    times: dict[str, list[float]] = {"direct": [], "proxied": []}
    errors: dict[str, list[str]] = {"direct": [], "proxied": []}
    meters: dict[str, Meter] = {}
    with EchoTargetProcess() as target, ProxyProcess() as proxy:
        for _ in range(20):  # warm-up, as in at_once
            with open_conn(target.addr, proxy.addr) as sock:
                sock.sendall(b"warm-up!")
                rawclient.recv_exactly(sock, 8)
        target.wait_idle()
        time.sleep(0.2)
        base_fds = proxy.fds()
        n = scale_limit(requested, base_fds)
        if n < 1:
            raise RuntimeError("RLIMIT_NOFILE leaves no room for tunnels")
        rss_before = proxy.rss_kib()
        rss_after = rss_closed = peak_fds = 0
        for rnd in range(cfg.scale_rounds):
            for mode, proxied in modes():
                log(f"scale: {n} {mode} …")
                run = ScaleRun(n, target.addr, proxy.addr if proxied else None)
                try:
                    with Meter(proxy) as meter:
                        run.open(SCALE_WINDOW, timeout)
                    run.echo_all(timeout)
                    if proxied and rnd == 0:
                        time.sleep(0.2)
                        rss_after, peak_fds = proxy.rss_kib(), proxy.fds()
                    held = len(run.held)
                finally:
                    run.close()
                target.wait_idle()
                if proxied and rnd == 0:
                    time.sleep(0.2)
                    rss_closed = proxy.rss_kib()
                times[mode].append(run.elapsed)
                errors[mode].extend(run.errors)
                if held + len(run.errors) < n:
                    errors[mode].append(f"{n - held - len(run.errors)} tunnels unaccounted for")
                if mode not in meters or run.elapsed <= min(times[mode]):
                    meters[mode] = meter
        proxy_log = proxy.stderr().strip()
    direct, proxied_t = min(times["direct"]), min(times["proxied"])
    per_tunnel_kib = (rss_after - rss_before) / n
    mem_1000 = per_tunnel_kib * 1000 / 1024
    mem_verdict = verdict("at_once_mem", mem_1000)
    nerr = len(errors["proxied"])
    met = nerr == 0 and n == requested
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)

    def sample(msgs: list[str]) -> list[str]:
        return sorted(set(msgs))[:5]

    return {
        "requested": requested,
        "count": n,
        "rounds": cfg.scale_rounds,
        "window": SCALE_WINDOW,
        "nofile": [soft, hard],
        "nofile_note": settings.NOFILE_NOTE,
        "direct_ms": round(direct * 1e3, 1),
        "proxied_ms": round(proxied_t * 1e3, 1),
        "ratio": round(proxied_t / direct, 3),
        "errors": nerr,
        "direct_errors": len(errors["direct"]),
        "error_samples": sample(errors["proxied"] + errors["direct"]),
        "proxy_stderr": proxy_log[-500:],
        "proxy_fds_idle": base_fds,
        "proxy_fds_with_tunnels": peak_fds,
        "rss_before_mib": round(rss_before / 1024, 1),
        "rss_with_tunnels_mib": round(rss_after / 1024, 1),
        "rss_after_close_mib": round(rss_closed / 1024, 1),
        "rss_increase_mib": round((rss_after - rss_before) / 1024, 2),
        "rss_per_tunnel_kib": round(per_tunnel_kib, 2),
        "rss_increase_per_1000_mib": round(mem_1000, 2),
        "mem_target": mem_verdict["target"],
        "mem_met": mem_verdict["met"],
        "cpu": cpu_info(meters),
        "target": f"0 errors at {requested}",
        "met": met,
    }
