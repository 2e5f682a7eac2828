"""The protocol core is sans-I/O: importing it pulls in no asyncio, sockets, threads or pytest."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest_socks5._protocol

FORBIDDEN = ("asyncio", "socket", "selectors", "threading", "pytest")

PACKAGE_DIR = Path(pytest_socks5._protocol.__file__).resolve().parent.parent

REPORT = f"""
forbidden = {FORBIDDEN!r}
print(json.dumps(sorted(
    m for m in sys.modules
    if m.split(".")[0] in forbidden or (
        m.startswith("pytest_socks5.") and not m.startswith("pytest_socks5._protocol")
    )
)))
"""


def imported_modules(prelude: str) -> list[str]:
    code = f"import json, sys\n{prelude}\nimport pytest_socks5._protocol\n{REPORT}"
    # Without coverage's subprocess measurement, whose own imports (threading, socket…)
    # would be counted as the core's.
    env = {k: v for k, v in os.environ.items() if not k.startswith("COVERAGE_")}
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
        env=env,
    )
    imported: list[str] = json.loads(result.stdout)
    return imported


def test_the_core_alone_imports_nothing_with_io() -> None:
    """The parent package's ``__init__`` is stubbed out: this is the core's own imports."""
    stub = (
        "import types\n"
        "parent = types.ModuleType('pytest_socks5')\n"
        f"parent.__path__ = [{str(PACKAGE_DIR)!r}]\n"
        "sys.modules['pytest_socks5'] = parent"
    )
    assert imported_modules(stub) == []
