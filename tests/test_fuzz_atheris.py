"""Coverage-guided fuzzing (atheris / libFuzzer) of the protocol core, bounded for CI.

The harness is ``tests/atheris_core.py``; it runs in a subprocess (libFuzzer owns the
process) for ``SOCKS5_FUZZ_SECONDS`` (default 6), seeded with valid handshakes of every
kind. Skipped where atheris is not installed (it ships wheels for Linux x86-64 only).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from .reliability import FUZZ_SECONDS

pytest.importorskip("atheris")

HARNESS = Path(__file__).with_name("atheris_core.py")

#: Valid client streams of every kind (the first two bytes of an input are knobs).
SEEDS = {
    "socks5-noauth": bytes.fromhex("05 01 00 05 01 00 01 7f 00 00 01 00 50") + b"payload",
    "socks5-auth": bytes.fromhex("05 02 00 02 01 05")
    + b"alice\x06s3cret"
    + bytes.fromhex("05 01 00 03 0b")
    + b"example.com"
    + bytes.fromhex("01 bb"),
    "socks5-ipv6-bind": bytes.fromhex("05 01 00 05 02 00 04") + bytes(15) + b"\x01\x00\x15",
    "socks5-udp": bytes.fromhex("05 01 00 05 03 00 01 00 00 00 00 00 00"),
    "socks4": bytes.fromhex("04 01 00 50 7f 00 00 01") + b"user\x00",
    "socks4a": bytes.fromhex("04 01 00 50 00 00 00 01") + b"\x00host.test\x00",
}


def _run(corpus: Path, tmp: Path, seconds: float, env: dict[str, str] | None = None):
    command = [
        sys.executable,
        str(HARNESS),
        str(corpus),
        f"-max_total_time={max(1, round(seconds))}",
        "-timeout=10",
        "-rss_limit_mb=2048",
        "-print_final_stats=1",
        f"-artifact_prefix={tmp}/",
    ]
    return subprocess.run(
        command,
        capture_output=True,
        text=True,
        errors="backslashreplace",
        timeout=seconds + 120,
        cwd=tmp,
        env={**os.environ, **(env or {})},
    )


def _seed(corpus: Path, seeds: dict[str, bytes]) -> None:
    corpus.mkdir()
    for name, stream in seeds.items():
        for flags in (0x00, 0x01, 0x02, 0x1B):  # plain, SOCKS4 on, auth, failures
            (corpus / f"{name}-{flags:02x}").write_bytes(bytes((flags, 7)) + stream)


@pytest.mark.timeout(FUZZ_SECONDS + 180)
def test_atheris_finds_no_crash_in_the_core(tmp_path: Path, report_figures) -> None:
    corpus = tmp_path / "corpus"
    _seed(corpus, SEEDS)
    result = _run(corpus, tmp_path, FUZZ_SECONDS)
    tail = result.stderr[-6000:]
    assert result.returncode == 0, tail
    runs = re.search(r"Done (\d+) runs in (\d+) second", result.stderr)
    coverage = re.findall(r"cov: (\d+)", result.stderr)
    assert runs is not None, tail
    assert int(runs.group(1)) > 1000, tail
    report_figures(
        f"atheris: {runs.group(1)} inputs in {runs.group(2)}s, {coverage[-1]} coverage "
        f"edges, corpus grew from {4 * len(SEEDS)} to {len(list(corpus.iterdir()))} inputs"
    )


def test_a_failure_inside_the_harness_fails_the_run(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    _seed(corpus, {"trigger": bytes.fromhex("05 01 42")})
    result = _run(corpus, tmp_path, 30, env={"SOCKS5_ATHERIS_SELF_TEST": "1"})
    assert result.returncode != 0
    assert "self-test: the harness reports this input" in result.stdout + result.stderr
    assert list(tmp_path.glob("crash-*"))
