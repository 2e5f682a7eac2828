"""The project promises: README commands are what CI runs; the public API is pinned."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import pytest_socks5

ROOT = Path(__file__).parent.parent


def readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    quickstart = text.split("## Quickstart", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```sh\n(.+?)\n```", quickstart)


def test_readme_quickstart_is_two_commands_and_ci_runs_the_test_one() -> None:
    commands = readme_commands()
    assert len(commands) == 2
    assert all("\n" not in c for c in commands)
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert commands[1] in ci, ".ci/run must run the README's test command verbatim"


def test_public_api_is_pinned() -> None:
    assert sorted(pytest_socks5.__all__) == [
        "AddressType",
        "AuthMethod",
        "AuthStatus",
        "Command",
        "ConnectionRecord",
        "ECHO",
        "HandshakeMessage",
        "NoMatchingConnection",
        "Outcome",
        "Reply",
        "Rule",
        "SOCKS5Server",
        "ServerError",
        "Sink",
        "Socks4Reply",
        "Timings",
        "UdpFaults",
        "Validator",
        "__version__",
        "faults",
        "proxy_url",
    ]
    for name in pytest_socks5.__all__:
        assert getattr(pytest_socks5, name) is not None


def test_package_never_imports_the_plugin_module() -> None:
    source = "\n".join(
        p.read_text() for p in (ROOT / "pytest_socks5").rglob("*.py") if p.name != "plugin.py"
    )
    assert "import pytest\n" not in source
    assert "from . import plugin" not in source
    assert ".plugin import" not in source


def test_no_merge_conflict_markers_are_left_behind() -> None:
    markers = ("<" * 7 + " ", ">" * 7 + " ")  # "=======" is also a heading underline
    suffixes = {".py", ".rst", ".md", ".toml", ".ini", ".csv", ".cfg", ""}
    offenders = []
    for path in ROOT.rglob("*"):
        if any(part.startswith(".") or part == "_build" for part in path.relative_to(ROOT).parts):
            continue
        if path.is_file() and path.suffix in suffixes:
            text = path.read_text(errors="replace")
            if any(line.startswith(markers) for line in text.splitlines(keepends=True)):
                offenders.append(str(path.relative_to(ROOT)))
    assert offenders == []


def test_the_readme_example_runs_as_written(pytester: pytest.Pytester) -> None:
    text = (ROOT / "README.md").read_text()
    example = re.search(r"```python\n(.+?)\n```", text, re.S)
    assert example is not None
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n")
    pytester.makepyfile(test_readme=example.group(1))
    pytester.runpytest_subprocess("-p", "no:cacheprovider").assert_outcomes(passed=1)
