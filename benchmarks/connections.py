"""Sequential connection workloads: handshakes and ping-pong.

Strategy: both are sequential, so they run pinned to one CPU with the garbage collector
off and report percentiles; the handshake benchmark also divides the proxy process's CPU
time by the handshakes it served. The many-tunnel workloads are in ``tunnels``.
"""

from __future__ import annotations

import argparse
import socket
import time
from typing import Any

from pytest_socks5 import rawclient

from .client import open_conn
from .measure import Meter, cpu_info, median, modes, no_gc, pct, pinned, verdict
from .processes import ProxyProcess
from .targets import EchoTarget, HoldTarget


def bench_handshake(cfg: argparse.Namespace) -> dict[str, Any]:
    with pinned(cfg.pin) as cpu:
        return {**_handshake(cfg), "pinned_cpu": cpu}


def _handshake(cfg: argparse.Namespace) -> dict[str, Any]:
    n = cfg.handshakes
    target = HoldTarget()
    lat: dict[str, list[float]] = {"direct": [], "proxied": []}
    meters: dict[str, list[Meter]] = {"direct": [], "proxied": []}
    try:
        with ProxyProcess() as proxy:
            for rnd in range(2):
                for mode, proxied in modes():
                    via = proxy.addr if proxied else None
                    if rnd == 0:
                        for _ in range(min(50, n)):
                            open_conn(target.addr, via).close()
                    times = lat[mode]
                    with no_gc(), Meter(proxy) as meter:
                        for _ in range(n // 2):
                            t0 = time.perf_counter()
                            open_conn(target.addr, via).close()
                            times.append(time.perf_counter() - t0)
                    meters[mode].append(meter)
                    target.wait_idle()
    finally:
        target.close()
    # Rate: the better of the two rounds (less disturbed by other load on the machine).
    best = {m: min(meters[m], key=lambda x: x.wall) for m in meters}
    rate = {m: (n // 2) / best[m].wall for m in best}
    ratio = rate["proxied"] / rate["direct"]
    p50 = {m: median(v) for m, v in lat.items()}
    p50_ratio = p50["proxied"] / p50["direct"]
    # The proxy process's CPU (all its threads) over every timed proxied handshake.
    cpu_ms = sum(m.pcpu for m in meters["proxied"]) / len(lat["proxied"]) * 1e3
    cpu_v, p50_v = verdict("handshake_cpu", cpu_ms), verdict("handshake_p50", p50_ratio)
    return {
        "count": len(lat["proxied"]),
        "direct_per_s": round(rate["direct"]),
        "proxied_per_s": round(rate["proxied"]),
        "direct_p50_us": round(p50["direct"] * 1e6, 1),
        "direct_p99_us": round(pct(lat["direct"], 0.99) * 1e6, 1),
        "proxied_p50_us": round(p50["proxied"] * 1e6, 1),
        "proxied_p99_us": round(pct(lat["proxied"], 0.99) * 1e6, 1),
        "p50_ratio": round(p50_ratio, 3),
        "p50_target": p50_v["target"],
        "p50_met": p50_v["met"],
        "proxy_cpu_per_handshake_ms": round(cpu_ms, 4),
        "cpu_target": cpu_v["target"],
        "cpu_met": cpu_v["met"],
        "ratio": round(ratio, 3),
        "cpu": cpu_info(best),
        **verdict("handshake", ratio),
    }


def bench_pingpong(cfg: argparse.Namespace) -> dict[str, Any]:
    with pinned(cfg.pin) as cpu:
        return {**_pingpong(cfg), "pinned_cpu": cpu}


def _pingpong(cfg: argparse.Namespace) -> dict[str, Any]:
    lat: dict[str, list[float]] = {"direct": [], "proxied": []}
    meters: dict[str, list[Meter]] = {"direct": [], "proxied": []}
    with ProxyProcess() as proxy:
        for _ in range(2):
            for mode, proxied in modes():
                target = EchoTarget()
                with open_conn(target.addr, proxy.addr if proxied else None) as sock:
                    for _ in range(200):
                        sock.sendall(b"x")
                        rawclient.recv_exactly(sock, 1)
                    times = lat[mode]
                    perf, send, recv = time.perf_counter, sock.send, sock.recv
                    with no_gc(), Meter(proxy) as meter:
                        for _ in range(cfg.pingpong // 2):
                            t0 = perf()
                            send(b"x")
                            if recv(1) != b"x":
                                raise RuntimeError("ping-pong: wrong byte or EOF")
                            times.append(perf() - t0)
                    meters[mode].append(meter)
                    sock.shutdown(socket.SHUT_WR)
                    target.join()
    p50 = {m: median(v) for m, v in lat.items()}
    p99 = {m: pct(v, 0.99) for m, v in lat.items()}
    ratio = p50["proxied"] / p50["direct"]

    def cores(m: str, attr: str) -> float:
        return round(sum(getattr(x, attr) for x in meters[m]) / sum(x.wall for x in meters[m]), 2)

    return {
        "round_trips": len(lat["proxied"]),
        "direct_p50_us": round(p50["direct"] * 1e6, 1),
        "direct_p99_us": round(p99["direct"] * 1e6, 1),
        "proxied_p50_us": round(p50["proxied"] * 1e6, 1),
        "proxied_p99_us": round(p99["proxied"] * 1e6, 1),
        "ratio": round(ratio, 3),
        "p99_ratio": round(p99["proxied"] / p99["direct"], 3),
        "cpu": {
            "client_target_direct": cores("direct", "cpu"),
            "client_target_proxied": cores("proxied", "cpu"),
            "proxy": cores("proxied", "pcpu"),
        },
        **verdict("pingpong", ratio),
    }
