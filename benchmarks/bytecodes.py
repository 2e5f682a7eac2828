"""The proxy's own Python work per handshake, counted rather than timed.

Strategy: a child process runs ``SOCKS5Server`` on the run's event loop with a tracing
hook on the server's thread only (``threading.settrace`` just before ``start()``, which
creates that thread; the target's thread and the client, the main thread, are not
traced) and counts every bytecode that thread executes while the client makes
sequential no-auth CONNECTs to a loopback target, after a warm-up. The count per
handshake hardly depends on the machine's speed or load (it moves by about 1% between
runs, as the number of loop iterations a handshake takes does), so it shows what a
change did to the proxy's per-connection work where CPU timings here move by 5% between
two runs of the same code. It is split by the module that runs the code (``pytest_socks5``,
``asyncio``, the rest). It counts only Python: the C code of uvloop, of the interpreter
and of the kernel is not in it. A direct connection runs no bytecode of the proxy, so it
is reported alone, not as a ratio, and has no goal.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from . import settings
from .processes import run_child
from .settings import IO_TIMEOUT, LOOPBACK, clean_env

_CHILD = """
import collections, json, socket, sys, threading
from pytest_socks5 import SOCKS5Server, rawclient

n, loop = int(sys.argv[1]), sys.argv[2]
target = socket.create_server((sys.argv[3], 0), backlog=1024)

def accept():
    while True:
        try:
            conn, _ = target.accept()
        except OSError:
            return
        conn.close()

threading.Thread(target=accept, daemon=True).start()  # before the hook: not traced
counts = collections.Counter()
counting = False

def trace(frame, event, arg):
    if not counting:
        return None
    frame.f_trace_opcodes = True
    package = frame.f_globals.get("__name__", "?").partition(".")[0]

    def per_opcode(frame, event, arg):
        if event == "opcode":
            counts[package] += 1
        return per_opcode

    return per_opcode

threading.settrace(trace)
server = SOCKS5Server(sys.argv[3], loop=loop).start()
threading.settrace(None)

def handshakes(count):
    for _ in range(count):
        rawclient.open_tunnel(server.address, *target.getsockname(), timeout=10).close()

handshakes(50)  # warm-up: caches, first-use imports
server.wait_for_connections(50, ended=True, timeout=10)
counting = True
handshakes(n)
server.wait_for_connections(50 + n, ended=True, timeout=10)
counting = False
server.stop()
print(json.dumps({"loop": server.loop_name, "counts": dict(counts)}))
"""


def bench_bytecodes(cfg: argparse.Namespace) -> dict[str, Any]:
    n = cfg.bytecode_handshakes
    loop = settings.LOOP or "auto"
    out = run_child(
        [sys.executable, "-c", _CHILD, str(n), loop, LOOPBACK],
        timeout=IO_TIMEOUT * 4,
        env=clean_env(),
        cwd=".",
    )
    result = json.loads(out.strip().splitlines()[-1])
    if settings.LOOP and result["loop"] != settings.LOOP:
        raise RuntimeError(f"asked for loop {settings.LOOP}, the server ran {result['loop']}")
    counts: dict[str, int] = result["counts"]
    per = {package: count / n for package, count in counts.items()}
    ours = per.pop("pytest_socks5", 0.0)
    loop_code = per.pop("asyncio", 0.0)
    return {
        "count": n,
        "loop": result["loop"],
        "per_handshake": round(ours + loop_code + sum(per.values())),
        "pytest_socks5": round(ours),
        "asyncio": round(loop_code),
        "other": round(sum(per.values())),
    }
