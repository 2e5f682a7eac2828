"""Measuring: wall and CPU time over a block, percentiles, pinning, hashing, verdicts.

Strategy: a :class:`Meter` brackets only the timed part (this process's ``getrusage`` and
the proxy process's own CPU clock); garbage collection and CPU migration are kept out of
latency loops with :func:`no_gc` and :func:`pinned`; a verdict compares a figure with its
target from ``settings.TARGETS`` and never fails the run.
"""

from __future__ import annotations

import contextlib
import gc
import hashlib
import os
import resource
import time
from collections.abc import Iterator
from typing import Any

from .processes import ProxyProcess
from .settings import TARGETS


def own_cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


class Meter:
    """Wall time, this process's CPU and the proxy process's CPU over a block."""

    def __init__(self, proxy: ProxyProcess | None) -> None:
        self.proxy = proxy

    def __enter__(self) -> Meter:
        self.cpu0 = own_cpu()
        self.pcpu0 = self.proxy.cpu() if self.proxy else 0.0
        self.t0 = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop(time.perf_counter())

    def stop(self, t_end: float) -> None:
        self.wall = t_end - self.t0
        self.cpu = own_cpu() - self.cpu0
        self.pcpu = (self.proxy.cpu() - self.pcpu0) if self.proxy else 0.0


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, round(q * (len(s) - 1)))]


def median(values: list[float]) -> float:
    return pct(values, 0.5)


@contextlib.contextmanager
def no_gc() -> Iterator[None]:
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


@contextlib.contextmanager
def pinned(enabled: bool) -> Iterator[int | None]:
    """Run this thread, the threads it starts and the proxy it spawns on one CPU.

    For the sequential latency benchmarks only one party runs at a time, so sharing a CPU
    costs nothing, while a wake-up on another (idle) virtual CPU adds tens of µs of noise
    that differs from run to run."""
    if not enabled or not hasattr(os, "sched_setaffinity"):
        yield None
        return
    before = os.sched_getaffinity(0)
    cpu = max(before)
    os.sched_setaffinity(0, {cpu})
    try:
        yield cpu
    finally:
        os.sched_setaffinity(0, before)


def prefaulted(size: int) -> bytearray:
    """A buffer whose pages are already mapped, so page faults stay out of timings."""
    buf = bytearray(size)
    buf[:: resource.getpagesize()] = bytes(len(range(0, size, resource.getpagesize())))
    return buf


def sha256_repeated(block: bytes, count: int) -> str:
    h = hashlib.sha256()
    for _ in range(count):
        h.update(block)
    return h.hexdigest()


def sha256_of(buf: bytearray, n: int) -> str:
    return hashlib.sha256(memoryview(buf)[:n]).hexdigest()


def cpu_info(best: dict[str, Meter]) -> dict[str, float]:
    """CPU cores busy during the timed part: client+target process, proxy process."""
    return {
        "client_target_direct": round(best["direct"].cpu / best["direct"].wall, 2),
        "client_target_proxied": round(best["proxied"].cpu / best["proxied"].wall, 2),
        "proxy": round(best["proxied"].pcpu / best["proxied"].wall, 2),
    }


def verdict(key: str, value: float) -> dict[str, Any]:
    target, op = TARGETS[key]
    met = value >= target if op == ">=" else value <= target
    return {"target": f"{op}{target:g}", "met": met}


def modes() -> list[tuple[str, bool]]:
    return [("direct", False), ("proxied", True)]
