"""Throughput workloads: one-way, echo both ways, and one-way over 1, 10 and 100 tunnels.

Strategy: each round sends the same random bytes directly and through the proxy process,
alternating, and keeps the best of ``rounds``; the clock stops when the sink has seen EOF,
and SHA-256 over what arrived (taken afterwards) proves every byte came through.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import socket
import threading
import time
from typing import Any

from .client import open_conn, send_repeated
from .measure import Meter, cpu_info, modes, prefaulted, sha256_of, sha256_repeated, verdict
from .processes import ProxyProcess
from .settings import CHUNK, IO_TIMEOUT, PARALLEL, MiB
from .targets import EchoTarget, MultiSink, SinkTarget, recv_all_into


def bench_oneway(cfg: argparse.Namespace) -> dict[str, Any]:
    size = cfg.oneway_mib * MiB
    block = os.urandom(MiB)
    expected = sha256_repeated(block, cfg.oneway_mib)
    capture = prefaulted(size + CHUNK)
    best: dict[str, Meter] = {}
    with ProxyProcess() as proxy:
        for _ in range(cfg.rounds):
            for mode, proxied in modes():
                target = SinkTarget(capture, size)
                sock = open_conn(target.addr, proxy.addr if proxied else None)
                with sock:
                    if not target.accepted.wait(IO_TIMEOUT):
                        raise TimeoutError("the sink did not accept")
                    meter = Meter(proxy)
                    with meter:
                        send_repeated(sock, block, cfg.oneway_mib)
                        sock.shutdown(socket.SHUT_WR)
                        target.join()
                    meter.stop(target.t_end)
                if target.received != size or sha256_of(capture, size) != expected:
                    raise RuntimeError(f"{mode}: received {target.received} bytes, hash mismatch")
                if mode not in best or meter.wall < best[mode].wall:
                    best[mode] = meter
    direct, proxied_m = size / best["direct"].wall / 1e6, size / best["proxied"].wall / 1e6
    ratio = proxied_m / direct
    return {
        "mib": cfg.oneway_mib,
        "direct_mb_s": round(direct, 1),
        "proxied_mb_s": round(proxied_m, 1),
        "ratio": round(ratio, 3),
        "hash_ok": True,
        "cpu": cpu_info(best),
        **verdict("oneway", ratio),
    }


def bench_echo(cfg: argparse.Namespace) -> dict[str, Any]:
    size = cfg.echo_mib * MiB
    block = os.urandom(MiB)
    expected = sha256_repeated(block, cfg.echo_mib)
    at_target, at_client = prefaulted(size + CHUNK), prefaulted(size + CHUNK)
    best: dict[str, Meter] = {}
    with ProxyProcess() as proxy:
        for _ in range(cfg.rounds):
            for mode, proxied in modes():
                target = EchoTarget(at_target, size)
                sock = open_conn(target.addr, proxy.addr if proxied else None)
                errors: list[BaseException] = []

                def write(
                    sock: socket.socket = sock, errors: list[BaseException] = errors
                ) -> None:
                    try:
                        send_repeated(sock, block, cfg.echo_mib)
                        sock.shutdown(socket.SHUT_WR)
                    except BaseException as exc:
                        errors.append(exc)

                with sock:
                    if not target.accepted.wait(IO_TIMEOUT):
                        raise TimeoutError("the echo target did not accept")
                    writer = threading.Thread(target=write, name="writer", daemon=True)
                    with Meter(proxy) as meter:
                        writer.start()
                        got = recv_all_into(sock, at_client, size)
                    writer.join(IO_TIMEOUT)
                    target.join()
                if errors:
                    raise errors[0]
                ok = got == size == target.received
                if not ok or sha256_of(at_target, size) != expected:
                    raise RuntimeError(f"{mode}: client→target bytes differ")
                if sha256_of(at_client, size) != expected:
                    raise RuntimeError(f"{mode}: target→client bytes differ")
                if mode not in best or meter.wall < best[mode].wall:
                    best[mode] = meter
    direct, proxied_m = size / best["direct"].wall / 1e6, size / best["proxied"].wall / 1e6
    ratio = proxied_m / direct
    return {
        "mib": cfg.echo_mib,
        "direct_mb_s": round(direct, 1),
        "proxied_mb_s": round(proxied_m, 1),
        "ratio": round(ratio, 3),
        "hash_ok": True,
        "cpu": cpu_info(best),
        **verdict("echo", ratio),
    }


def tunnel_data(block: bytes, j: int, per: int) -> list[memoryview]:
    """The chunks that tunnel ``j`` sends: ``per`` bytes, different for every tunnel."""
    view = memoryview(block)[j * 16 : j * 16 + CHUNK]
    full, rest = divmod(per, CHUNK)
    return [view] * full + ([view[:rest]] if rest else [])


def bench_parallel(cfg: argparse.Namespace) -> dict[str, Any]:
    total = cfg.parallel_mib * MiB
    block = os.urandom(CHUNK + 16 * max(PARALLEL))
    capture = prefaulted(total)
    plans: dict[int, tuple[int, list[list[memoryview]], list[str]]] = {}
    for k in PARALLEL:
        per = total // k
        chunks = [tunnel_data(block, j, per) for j in range(k)]
        expected = []
        for parts in chunks:
            h = hashlib.sha256()
            for part in parts:
                h.update(part)
            expected.append(h.hexdigest())
        plans[k] = (per, chunks, sorted(expected))
    best: dict[int, dict[str, Meter]] = {k: {} for k in PARALLEL}
    with ProxyProcess() as proxy:
        for _ in range(cfg.rounds):
            for k, (per, chunks, expected) in plans.items():
                for mode, proxied in modes():
                    sink_hashes, meter = _parallel_round(proxy, proxied, per, chunks, capture)
                    if sink_hashes != expected:
                        raise RuntimeError(f"{mode}, {k} tunnels: hash mismatch")
                    if mode not in best[k] or meter.wall < best[k][mode].wall:
                        best[k][mode] = meter
    out: dict[str, Any] = {"mib": cfg.parallel_mib, "hash_ok": True, "tunnels": {}}
    for k, (per, _, _) in plans.items():
        size = per * k
        direct = size / best[k]["direct"].wall / 1e6
        via = size / best[k]["proxied"].wall / 1e6
        out["tunnels"][str(k)] = {
            "direct_mb_s": round(direct, 1),
            "proxied_mb_s": round(via, 1),
            "ratio": round(via / direct, 3),
            "cpu": cpu_info(best[k]),
        }
    return out


def _parallel_round(
    proxy: ProxyProcess,
    proxied: bool,
    per: int,
    chunks: list[list[memoryview]],
    capture: bytearray,
) -> tuple[list[str], Meter]:
    k = len(chunks)
    sink = MultiSink(capture, per, k)
    socks: list[socket.socket] = []
    go = threading.Event()
    errors: list[BaseException] = []

    def send(sock: socket.socket, parts: list[memoryview]) -> None:
        try:
            if not go.wait(IO_TIMEOUT):
                raise TimeoutError("no start signal")
            for part in parts:
                sock.sendall(part)
            sock.shutdown(socket.SHUT_WR)
        except BaseException as exc:
            errors.append(exc)

    try:
        for _ in range(k):
            socks.append(open_conn(sink.addr, proxy.addr if proxied else None))
        deadline = time.monotonic() + IO_TIMEOUT
        while len(sink.threads) < k and not sink.errors:
            if time.monotonic() > deadline:
                raise TimeoutError("the sink did not accept every tunnel")
            time.sleep(0.001)
        senders = [
            threading.Thread(target=send, args=(s, p), daemon=True)
            for s, p in zip(socks, chunks, strict=True)
        ]
        for t in senders:
            t.start()
        meter = Meter(proxy)
        with meter:
            go.set()
            sink.join()
        meter.stop(max(sink.t_end))
        for t in senders:
            t.join(IO_TIMEOUT)
        if errors:
            raise errors[0]
    finally:
        go.set()
        for sock in socks:
            sock.close()
    if sink.received != [per] * k:
        raise RuntimeError(f"{k} tunnels: received {sum(sink.received)} of {per * k} bytes")
    return sink.hashes(), meter
