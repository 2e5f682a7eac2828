"""Constants, sizes and targets of the benchmarks, the run's settings and its log.

Strategy: everything the other modules read and nothing they compute: sizes (full and
``--quick``), the goals of issue #13 (and of issue #6 where #13 sets none), and the few
settings ``main`` fills in (``QUIET``, ``PROXY_ARGS``, ``NOFILE_NOTE``, and ``LOOP``, the
proxy's event loop for the run in progress; read them as ``settings.NAME``, not imported
by value, where ``main`` rebinds them).
"""

from __future__ import annotations

import contextlib
import os
import resource
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

LOOPBACK = "127.0.0.1"

MiB = 1 << 20

#: Any single blocking socket operation; anything slower is a failure, not a result.
IO_TIMEOUT = 30.0

#: Largest recv/send chunk used by clients and targets.
CHUNK = 1 * MiB

CLK_TCK = os.sysconf("SC_CLK_TCK")

NAMES = (
    "oneway",
    "echo",
    "parallel",
    "handshake",
    "at_once",
    "scale",
    "pingpong",
    "startup",
    "bytecodes",
    "fixture",
    "request",
    "startstop",
    "audit",
    "plugin_load",
)

#: The benchmarks that run the proxy as a separate process.
NETWORK = ("oneway", "echo", "parallel", "handshake", "at_once", "scale", "pingpong")

#: The benchmarks run once per event loop of the proxy (``--loops``).
PER_LOOP = (*NETWORK, "startup", "bytecodes")

#: The benchmarks a plain ``--quick`` run leaves out (``--quick --only NAME`` runs them):
#: ``plugin_load``'s 20-odd whole pytest runs take longer than CI's smoke check should.
FULL_ONLY = ("plugin_load",)

#: The proxy's event loops (``python -m pytest_socks5 --loop NAME``).
LOOP_NAMES = ("asyncio", "uvloop")

#: The RLIMIT_NOFILE that ``scale`` asks for (soft and hard), inherited by the children.
WANT_NOFILE = 65536

#: Tunnels that ``scale`` has connecting or handshaking at once (the proxy's backlog is 1024).
SCALE_WINDOW = 1000

#: Tunnel counts of ``parallel``.
PARALLEL = (1, 10, 100)

#: Asks the scale target to close first: TIME_WAIT then stays on the listening sides and
#: does not hold ~20,000 ephemeral ports of this shared machine for a minute.
SCALE_BYE = b"BYE!BYE!"

#: The goals: name -> (value, comparison). Issue #13's table first (proxied ÷ direct for
#: the ratios; the proxy's CPU per handshake in ms; PSS in MiB; start to listening in ms),
#: then issue #6's for what #13 does not cover.
TARGETS: dict[str, tuple[float, str]] = {
    "oneway": (0.90, ">="),
    "echo": (0.80, ">="),
    "handshake": (0.35, ">="),
    "handshake_cpu": (0.25, "<="),
    "handshake_p50": (4.0, "<="),
    "pingpong": (1.5, "<="),
    "at_once": (3.0, "<="),
    "at_once_pss": (16.0, "<="),
    "idle_pss": (12.0, "<="),
    "cli_start": (120.0, "<="),
    # issue #6
    "at_once_mem": (16.0, "<="),
    "fixture": (0.05, "<="),
    "request": (0.3, "<="),
    "start": (10.0, "<="),
    "stop": (50.0, "<="),
}

SIZES = {
    # name: (full, quick)
    "oneway_mib": (512, 32),
    "echo_mib": (256, 16),
    "parallel_mib": (512, 32),
    "handshakes": (3000, 300),
    "at_once": (1000, 100),
    "scale": (10000, 500),
    "pingpong": (20000, 2000),
    "startups": (9, 3),
    "bytecode_handshakes": (1000, 200),
    "fixture_tests": (300, 300),
    "fixture_runs": (7, 5),
    "requests": (300, 300),
    "startstop": (50, 50),
    "audit_calls": (20000, 5000),
    "plugin_load_runs": (15, 5),
}

QUIET = False

#: Extra command-line arguments for the proxy process (``--proxy-arg=--splice``).
PROXY_ARGS: list[str] = []

#: The event loop of the proxy process in the run in progress (``--loop NAME``); None:
#: the CLI's default.
LOOP: str | None = None

#: Why RLIMIT_NOFILE is lower than WANT_NOFILE, if it is.
NOFILE_NOTE = ""


def log(msg: str) -> None:
    if not QUIET:
        print(f"[bench] {msg}", file=sys.stderr, flush=True)


#: Where the child processes keep their bytecode: a user's installed package has its
#: ``.pyc`` files, so a start-up measured without them (``PYTHONDONTWRITEBYTECODE`` in
#: this environment, say) would time the compiler. Outside the source tree.
PYCACHE = Path(tempfile.gettempdir()) / "pytest-socks5-bench-pycache"


def clean_env(**extra: str) -> dict[str, str]:
    """The environment without proxy settings (so nothing leaves loopback), with bytecode
    cached as an installed package has it (:data:`PYCACHE`)."""
    env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
    env.pop("PYTEST_ADDOPTS", None)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = str(PYCACHE)
    env.update(extra)
    return env


def raise_nofile() -> int:
    """RLIMIT_NOFILE to WANT_NOFILE, soft and hard (raising the hard limit needs
    CAP_SYS_RESOURCE), else the soft limit to the hard one. The children inherit it."""
    global NOFILE_NOTE
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < WANT_NOFILE:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (WANT_NOFILE, WANT_NOFILE))
        except (ValueError, OSError) as exc:
            NOFILE_NOTE = f"raising the hard limit {hard} to {WANT_NOFILE} failed: {exc}"
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard > soft:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]
