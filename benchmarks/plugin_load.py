"""What installing the plugin costs a pytest run that never uses it: the wall time of a
run of one trivial test with the plugin loaded against the same run with ``-p no:socks5``,
as ms added and a ratio (never a pass or a fail), and the modules the plugin imports.

Strategy: each run is a whole ``python -m pytest`` child process in a temporary directory
(a ``pytest.ini``, one test file with one test that uses no fixture, and a conftest whose
``pytest_sessionfinish`` writes what ``sys.modules`` holds as JSON); the baseline and the
loaded runs alternate and the min (and median) of each is kept. Two environments:
bytecode cached as an installed package has it (:func:`~.settings.clean_env`, after a
warm-up), and ``PYTHONDONTWRITEBYTECODE=1`` (common in Docker and CI images). In the
second, pytest's assertion rewriter finds no cached rewritten module and cannot write
one, so it re-compiles every module of every installed plugin on each run; the ordinary
``.pyc`` files are there, as pip leaves them. It gets its own bytecode cache, warmed up
without the variable and then cleared of pytest's rewritten modules (``*-pytest-*.pyc``),
so the shared cache of the other benchmarks is left as it is.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from .measure import median
from .processes import run_child
from .settings import clean_env

_CONFTEST = """
import json, os, sys


def pytest_sessionfinish(session):
    ours = [m for m in sys.modules if m == "pytest_socks5" or m.startswith("pytest_socks5.")]
    with open(os.environ["BENCH_MODULES"], "w") as f:
        json.dump(
            {
                "pytest_socks5_modules": len(ours),
                "modules": len(sys.modules),
                "server": "pytest_socks5._server" in sys.modules,
                "asyncio": "asyncio" in sys.modules,
            },
            f,
        )
"""

_TEST = "def test_one():\n    pass\n"

#: The two runs: the plugin blocked (the baseline), and loaded as installed.
KINDS = {"baseline": ["-p", "no:socks5"], "loaded": []}

#: The environments: name -> whether PYTHONDONTWRITEBYTECODE is set (the environment then
#: has a bytecode cache of its own).
ENVIRONMENTS = {"cached": False, "no_bytecode": True}


def _env(tmp: Path, name: str, dont_write: bool) -> dict[str, str]:
    extra = {"BENCH_MODULES": str(tmp / "modules.json")}
    if dont_write:
        extra["PYTHONPYCACHEPREFIX"] = str(tmp / f"pycache-{name}")
    env = clean_env(**extra)
    for key in ("PYTEST_PLUGINS", "PYTEST_DISABLE_PLUGIN_AUTOLOAD"):
        env.pop(key, None)  # the plugin must load through its entry point
    return env


def _run(tmp: Path, env: dict[str, str], kind: str) -> tuple[float, dict[str, Any]]:
    """One pytest run: its wall time in s, and what its conftest found in sys.modules."""
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *KINDS[kind]]
    (tmp / "modules.json").unlink(missing_ok=True)
    t0 = time.perf_counter()
    out = run_child([*cmd, "test_one.py"], timeout=120, env=env, cwd=str(tmp))
    wall = time.perf_counter() - t0
    if "1 passed" not in out:
        raise RuntimeError(f"pytest run ({kind}):\n{out[-2000:]}")
    found: dict[str, Any] = json.loads((tmp / "modules.json").read_text())
    return wall, found


def _check(kind: str, found: dict[str, Any]) -> None:
    n = found["pytest_socks5_modules"]
    if kind == "baseline" and n:
        raise RuntimeError(f"-p no:socks5 still imported {n} pytest_socks5 modules")
    if kind == "loaded" and not n:
        raise RuntimeError(
            "pytest did not load the plugin: is pytest-socks5 installed (its pytest11 "
            "entry point), and is plugin autoloading on?"
        )


def _figures(walls: dict[str, list[float]]) -> dict[str, Any]:
    base, loaded = walls["baseline"], walls["loaded"]
    return {
        "baseline_ms": round(min(base) * 1e3, 1),
        "baseline_median_ms": round(median(base) * 1e3, 1),
        "loaded_ms": round(min(loaded) * 1e3, 1),
        "loaded_median_ms": round(median(loaded) * 1e3, 1),
        "ms_added": round((min(loaded) - min(base)) * 1e3, 1),
        "ms_added_median": round((median(loaded) - median(base)) * 1e3, 1),
        "ratio": round(min(loaded) / min(base), 3),
        "ratio_median": round(median(loaded) / median(base), 3),
    }


def bench_plugin_load(cfg: argparse.Namespace) -> dict[str, Any]:
    n = cfg.plugin_load_runs
    result: dict[str, Any] = {"runs": n}
    modules: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="socks5-bench-") as name:
        tmp = Path(name)
        (tmp / "pytest.ini").write_text("[pytest]\n")
        (tmp / "conftest.py").write_text(_CONFTEST)
        (tmp / "test_one.py").write_text(_TEST)
        for env_name, dont_write in ENVIRONMENTS.items():
            env = _env(tmp, env_name, dont_write)
            for kind in KINDS:  # warm-up: every .pyc written, the page cache warm
                _run(tmp, env, kind)
            if dont_write:
                prefix = Path(env["PYTHONPYCACHEPREFIX"])
                for pyc in prefix.rglob("*-pytest-*.pyc"):
                    pyc.unlink()
                env["PYTHONDONTWRITEBYTECODE"] = "1"
            walls: dict[str, list[float]] = {kind: [] for kind in KINDS}
            for _ in range(n):
                for kind in KINDS:
                    wall, found = _run(tmp, env, kind)
                    _check(kind, found)
                    walls[kind].append(wall)
                    modules[kind] = found
            result[env_name] = _figures(walls)
    result["modules"] = modules
    return result
