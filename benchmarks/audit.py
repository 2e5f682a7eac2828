"""The leak guard's audit hooks in a test that uses no proxy fixture: what they cost on
every audit event, as a ratio (never a pass or a fail).

Strategy: an audit hook cannot be removed, so a child process times the same socket
calls first without the hooks and then with them installed but idle (no log current, as
in an unguarded test that uses no proxy fixture): ``socket.getaddrinfo`` of an address
literal (an event the hooks keep, so one Python-level check; a fast call, the worst case
for a fixed cost) and a loopback ``socket.socket()`` made and closed (an event they do
not keep: no Python). Each figure is the best of several rounds.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from .processes import run_child
from .settings import IO_TIMEOUT, clean_env

_CHILD = """
import json, socket, sys, time
from pytest_socks5 import _leak_hook

def best(call, n):
    rounds = []
    for _ in range(7):
        t0 = time.perf_counter()
        for _ in range(n):
            call()
        rounds.append((time.perf_counter() - t0) / n)
    return min(rounds)

def lookup():
    socket.getaddrinfo("127.0.0.1", 80, type=socket.SOCK_STREAM)

def make():
    socket.socket().close()

n = int(sys.argv[1])
before = {"lookup": best(lookup, n), "socket": best(make, n)}
_leak_hook.install()
assert _leak_hook.current() is None
after = {"lookup": best(lookup, n), "socket": best(make, n)}
print(json.dumps({"before": before, "after": after}))
"""


def bench_audit(cfg: argparse.Namespace) -> dict[str, Any]:
    out = run_child(
        [sys.executable, "-c", _CHILD, str(cfg.audit_calls)],
        timeout=IO_TIMEOUT * 10,
        env=clean_env(),
        cwd=".",
    )
    figures = json.loads(out.strip().splitlines()[-1])
    result: dict[str, Any] = {"calls": cfg.audit_calls}
    for what in ("lookup", "socket"):
        before, after = figures["before"][what] * 1e6, figures["after"][what] * 1e6
        result[f"{what}_without_us"] = round(before, 3)
        result[f"{what}_with_us"] = round(after, 3)
        result[f"{what}_ratio"] = round(after / before, 3)
    return result
