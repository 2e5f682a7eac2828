"""Installing the plugin costs a suite that never asks for a proxy little: loading it reads
the option table and the settings, and imports neither the server, the faults, the
records nor asyncio (pytest loads every installed plugin in every run, and rewrites and
compiles each module it imports when bytecode is not written: ``benchmarks/`` measures
the cost as ``plugin_load``)."""

from __future__ import annotations

import json

import pytest

from .helpers import NO_HYPOTHESIS
from .test_plugin import INI

#: What only a proxy needs: imported with the first fixture that asks for one.
SERVER_SIDE = (
    "pytest_socks5._server",
    "pytest_socks5._engine",
    "pytest_socks5._relay",
    "pytest_socks5._fault_types",
    "pytest_socks5._records",
    "pytest_socks5._protocol._messages",
    "pytest_socks5._transcript",
)

CONFTEST = """
import json, os, sys


def pytest_sessionfinish(session):
    with open(os.environ["MODULES_FILE"], "w") as out:
        json.dump(sorted(sys.modules), out)
"""


def loaded_modules(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, *args: str
) -> set[str]:
    """The modules a whole pytest run (its own process, header included) has loaded."""
    where = pytester.path / f"modules-{len(args)}.json"
    monkeypatch.setenv("MODULES_FILE", str(where))
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", *NO_HYPOTHESIS, *args)
    result.assert_outcomes(passed=1)
    return set(json.loads(where.read_text()))


def test_a_suite_that_uses_no_proxy_loads_only_the_settings(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makeini(INI)
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile("def test_plain():\n    pass\n")
    loaded = loaded_modules(pytester, monkeypatch)
    without = loaded_modules(pytester, monkeypatch, "-p", "no:socks5")
    assert "pytest_socks5.plugin" in loaded  # it did load, and answered its hooks
    assert sorted(loaded & set(SERVER_SIDE)) == []
    added = loaded - without
    assert sorted(m for m in added if m.split(".")[0] == "asyncio") == []


def test_a_test_that_asks_for_a_proxy_gets_it_all(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The other half: the same probe sees the server once a test asks for one (so the
    test above would see it too if the plugin loaded it)."""
    pytester.makeini(INI)
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile("def test_proxy(socks5_server):\n    assert socks5_server.port\n")
    loaded = loaded_modules(pytester, monkeypatch)
    assert sorted(loaded & set(SERVER_SIDE)) == sorted(SERVER_SIDE)
