"""``python -m pytest_socks5`` as a user runs it."""

from __future__ import annotations

import signal
import subprocess
import sys

from .helpers import socks5_tunnel


def test_cli_serves_logs_and_exits_cleanly_on_ctrl_c(echo_server) -> None:
    proc = subprocess.Popen(
        [
            *(sys.executable, "-m", "pytest_socks5", "--port", "0"),
            *("--user", "alice:s3:cret", "--show-credentials"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        assert first.startswith("pytest-socks5 listening on socks5://alice:s3%3Acret@127.0.0.1:")
        port = int(first.rsplit(":", 1)[1])
        with socks5_tunnel(("127.0.0.1", port), *echo_server, auth=(b"alice", b"s3:cret")) as (
            sock,
            _,
        ):
            sock.sendall(b"ping")
            assert sock.recv(4) == b"ping"
        line = proc.stdout.readline()
        assert "SOCKS5 user='alice' CONNECT 127.0.0.1:" in line
        assert "REP 0x00 (SUCCEEDED)" in line
        assert "4↑ 4↓" in line
    finally:
        proc.send_signal(signal.SIGINT)
        _out, err = proc.communicate(timeout=10)
    assert proc.returncode == 0
    assert "Traceback" not in err
    assert "stopped" in err


def test_cli_rejects_a_malformed_user() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "pytest_socks5", "--user", "nocolon"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert "expected NAME:PASSWORD" in result.stderr


def test_cli_destination_policy_flags() -> None:
    from pytest_socks5.__main__ import _parser

    args = _parser().parse_args(["--allow", "*.example.com", "--allow", "10.0.0.0/8"])
    assert args.allow == ["*.example.com", "10.0.0.0/8"]
    assert args.hermetic is True
    assert _parser().parse_args(["--no-hermetic"]).hermetic is False
