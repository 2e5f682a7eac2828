"""The project promises: README commands are what CI runs; the public API is pinned."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import pytest_socks5

from .helpers import TWO_WORKERS

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
        "Gate",
        "HandshakeMessage",
        "Leak",
        "LeakError",
        "NoMatchingConnection",
        "Outcome",
        "Permission",
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
    pytester.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=1)


#: The first and last line of an unresolved merge conflict (the middle one, seven
#: ``=``, is also a reStructuredText underline, so it is not looked for).
CONFLICT_MARKER = re.compile(rb"^(<{7}|>{7})( |$)", re.MULTILINE)


def tracked_text_files() -> list[Path]:
    """Every file git tracks (or, outside a checkout, every file below the root)."""
    import subprocess

    try:
        listed = subprocess.run(
            ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True, timeout=30
        ).stdout.decode()
    except (OSError, subprocess.CalledProcessError):
        return [p for p in ROOT.rglob("*") if p.is_file() and ".venv" not in p.parts]
    return [ROOT / name for name in listed.split("\0") if name]


def test_no_merge_conflict_markers() -> None:
    """A merge never lands half-resolved: no line opens or closes a conflict."""
    found = []
    for path in tracked_text_files():
        if not path.is_file():
            continue
        data = path.read_bytes()
        if b"\0" in data:
            continue
        for match in CONFLICT_MARKER.finditer(data):
            line = data.count(b"\n", 0, match.start()) + 1
            found.append(f"{path.relative_to(ROOT)}:{line}")
    assert found == []


def test_the_marker_check_finds_a_conflict() -> None:
    half_merged = b"a\n" + b"<" * 7 + b" HEAD\nb\n" + b"=" * 7 + b"\nc\n" + b">" * 7 + b" branch\n"
    assert len(CONFLICT_MARKER.findall(half_merged)) == 2
    assert CONFLICT_MARKER.findall(b"Title\n=======\n") == []


def test_ci_stops_when_the_test_command_fails(tmp_path: Path) -> None:
    """``set -e`` does not stop at a failure inside an ``&&`` list (unless it is the last
    command): .ci/run must check the README test command's status itself."""
    import subprocess

    script = (ROOT / ".ci" / "run").read_text()
    test_command = readme_commands()[1]
    head = script.split("# Lint, types, docs", 1)[0]
    head = head.replace('cd "$(dirname "$0")/.."', "").replace(
        test_command, "true && false && true"
    )
    probe = tmp_path / "run"
    probe.write_text(head + "echo went-on\n")
    result = subprocess.run(["bash", str(probe)], capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert "went-on" not in result.stdout


def test_version_changelog_and_metadata_agree() -> None:
    """The release is written in pyproject.toml; the installed metadata, ``__version__``
    and the changelog's newest release say the same, and the metadata links to the
    source, the issues and the changelog."""
    import importlib.metadata
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    changelog = (ROOT / "docs" / "changelog.rst").read_text(encoding="utf-8")
    releases = re.findall(r"^(\d+\.\d+\.\d+)\n-+\n", changelog, re.MULTILINE)
    assert releases, "the changelog names no release"
    assert releases[0] == project["version"] == pytest_socks5.__version__
    metadata = importlib.metadata.metadata("pytest-socks5")
    assert metadata["Version"] == project["version"]
    urls = dict(url.split(", ", 1) for url in metadata.get_all("Project-URL") or [])
    assert urls == project["urls"]
    assert {"Documentation", "Source", "Issues", "Changelog"} <= urls.keys()


def test_coverage_measures_the_xdist_workers(pytester: pytest.Pytester) -> None:
    """The README's test command runs the tests in pytest-xdist workers; with the project's
    coverage settings, what only a worker executes is in the combined report."""
    import inspect
    import json
    import os
    import subprocess
    import sys
    import tomllib

    settings = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    run = settings["tool"]["coverage"]["run"]
    pytester.makefile(
        ".toml",
        pyproject="[tool.coverage.run]\n"
        f"branch = {str(run['branch']).lower()}\n"
        f"source = {json.dumps(run['source'])}\n"
        f"patch = {json.dumps(run['patch'])}\n",
    )
    pytester.makepyfile(
        test_in_a_worker="from pytest_socks5 import proxy_url\n\n"
        "def test_it():\n"
        "    assert proxy_url('127.0.0.1', 1080) == 'socks5://127.0.0.1:1080'\n"
    )
    # The inner run is measured on its own, not by the coverage run around this suite.
    env = {k: v for k, v in os.environ.items() if not k.startswith("COVERAGE_")}
    coverage = [sys.executable, "-m", "coverage"]
    for command in (
        [*coverage, "run", "-m", "pytest", *TWO_WORKERS, "-p", "no:cacheprovider"],
        [*coverage, "json", "-o", "coverage.json"],
    ):
        subprocess.run(command, cwd=pytester.path, env=env, check=True, timeout=120)
    files = json.loads((pytester.path / "coverage.json").read_text())["files"]
    lines, start = inspect.getsourcelines(pytest_socks5.proxy_url)
    body = set(range(start + 1, start + len(lines)))
    (executed,) = (
        set(data["executed_lines"])
        for name, data in files.items()
        if Path(name).name == Path(inspect.getfile(pytest_socks5.proxy_url)).name
    )
    assert body & executed, "the workers' coverage data is missing"
