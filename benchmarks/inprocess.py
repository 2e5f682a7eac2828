"""In-process workloads: the fixture's cost per test, ``requests.get`` through the proxy,
and ``SOCKS5Server`` start and stop.

Strategy: these run the proxy the way the fixture does — ``SOCKS5Server`` on its own
thread of this process — and compare with the same work without it; the fixture figure
is the difference of whole pytest runs (min of several), since per-phase durations miss
the session server's start.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from .measure import median, verdict
from .processes import run_child
from .settings import IO_TIMEOUT, LOOPBACK, clean_env

_CONFTEST = """
import json, os

_durations = {}


def pytest_runtest_logreport(report):
    _durations[report.nodeid] = _durations.get(report.nodeid, 0.0) + report.duration


def pytest_sessionfinish(session):
    with open(os.environ["BENCH_DURATIONS"], "w") as f:
        json.dump(_durations, f)
"""


def bench_fixture(cfg: argparse.Namespace) -> dict[str, Any]:
    """Wall time of pytest runs: 300 tests using ``socks5_server`` against 300 using no
    fixture (and, for reference, 300 using a no-op yield fixture)."""
    n = cfg.fixture_tests
    kinds = ("without", "noop", "with")
    walls: dict[str, list[float]] = {k: [] for k in kinds}
    per_test: dict[str, list[float]] = {k: [] for k in kinds}
    with tempfile.TemporaryDirectory(prefix="socks5-bench-") as tmp:
        d = Path(tmp)
        (d / "pytest.ini").write_text("[pytest]\n")
        (d / "conftest.py").write_text(_CONFTEST)
        tests = {
            "with": "".join(f"def test_{i}(socks5_server):\n    pass\n\n\n" for i in range(n)),
            "without": "".join(f"def test_{i}():\n    pass\n\n\n" for i in range(n)),
            "noop": "import pytest\n\n\n@pytest.fixture\ndef noop():\n    yield 1\n\n\n"
            + "".join(f"def test_{i}(noop):\n    pass\n\n\n" for i in range(n)),
        }
        for kind, text in tests.items():
            (d / f"test_{kind}.py").write_text(text)
        durations = d / "durations.json"
        env = clean_env(BENCH_DURATIONS=str(durations))
        cmd = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q"]
        for _ in range(cfg.fixture_runs):
            for kind in kinds:
                t0 = time.perf_counter()
                out = run_child([*cmd, f"test_{kind}.py"], timeout=120, env=env, cwd=tmp)
                walls[kind].append(time.perf_counter() - t0)
                if f"{n} passed" not in out:
                    raise RuntimeError(f"pytest run of test_{kind}.py:\n{out[-2000:]}")
                per_test[kind].append(sum(json.loads(durations.read_text()).values()) / n)
    base = min(walls["without"])
    wall_ms = (min(walls["with"]) - base) / n * 1e3
    noop_ms = (min(walls["noop"]) - base) / n * 1e3
    phases_ms = (min(per_test["with"]) - min(per_test["without"])) * 1e3
    return {
        "tests": n,
        "runs": cfg.fixture_runs,
        "without_s": round(base, 3),
        "with_s": round(min(walls["with"]), 3),
        "noop_fixture_s": round(min(walls["noop"]), 3),
        "ms_per_test": round(wall_ms, 4),
        "ms_per_test_from_phase_durations": round(phases_ms, 4),
        "noop_fixture_ms_per_test": round(noop_ms, 4),
        **verdict("fixture", wall_ms),
    }


def bench_request(cfg: argparse.Namespace) -> dict[str, Any]:
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    import requests

    from pytest_socks5 import SOCKS5Server

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer((LOOPBACK, 0), Handler)
    httpd.daemon_threads = True
    serve = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    serve.start()
    url = f"http://{LOOPBACK}:{httpd.server_address[1]}/"
    lat: dict[str, list[float]] = {"direct": [], "proxied": []}
    try:
        with (
            SOCKS5Server(LOOPBACK) as server,
            requests.Session() as direct,
            requests.Session() as via,
        ):
            direct.trust_env = via.trust_env = False
            via.proxies = {"http": f"socks5://{LOOPBACK}:{server.port}"}
            sessions = {"direct": direct, "proxied": via}
            for i in range(20 + cfg.requests):
                for mode, session in sessions.items():
                    t0 = time.perf_counter()
                    r = session.get(url, timeout=IO_TIMEOUT)
                    dt = time.perf_counter() - t0
                    if r.status_code != 200 or r.content != b"ok":
                        raise RuntimeError(f"{mode} request failed: {r.status_code}")
                    if i >= 20:
                        lat[mode].append(dt)
            if len(server.connections) != 20 + cfg.requests:
                raise RuntimeError(
                    f"expected one proxy connection per request, got {len(server.connections)}"
                )
    finally:
        httpd.shutdown()
        httpd.server_close()
        serve.join(IO_TIMEOUT)
    added = (median(lat["proxied"]) - median(lat["direct"])) * 1e3
    mean_added = (sum(lat["proxied"]) - sum(lat["direct"])) / cfg.requests * 1e3
    return {
        "requests": cfg.requests,
        "direct_median_ms": round(median(lat["direct"]) * 1e3, 3),
        "proxied_median_ms": round(median(lat["proxied"]) * 1e3, 3),
        "ms_added": round(added, 3),
        "ms_added_mean": round(mean_added, 3),
        **verdict("request", added),
    }


def bench_startstop(cfg: argparse.Namespace) -> dict[str, Any]:
    from pytest_socks5 import SOCKS5Server

    SOCKS5Server(LOOPBACK).start().stop()
    starts, stops = [], []
    for _ in range(cfg.startstop):
        t0 = time.perf_counter()
        server = SOCKS5Server(LOOPBACK).start()
        t1 = time.perf_counter()
        server.stop()
        t2 = time.perf_counter()
        starts.append(t1 - t0)
        stops.append(t2 - t1)
    start_ms, stop_ms = median(starts) * 1e3, median(stops) * 1e3
    start_v, stop_v = verdict("start", start_ms), verdict("stop", stop_ms)
    return {
        "count": cfg.startstop,
        "start_ms": round(start_ms, 3),
        "start_max_ms": round(max(starts) * 1e3, 3),
        "stop_ms": round(stop_ms, 3),
        "stop_max_ms": round(max(stops) * 1e3, 3),
        "start_target": start_v["target"],
        "start_met": start_v["met"],
        "stop_target": stop_v["target"],
        "stop_met": stop_v["met"],
        "met": start_v["met"] and stop_v["met"],
    }
