"""``python -m pytest_socks5`` as a user runs it."""

from __future__ import annotations

import importlib.metadata
import os
import re
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from pytest_socks5 import Reply, SOCKS5Server, rawclient
from pytest_socks5._fault_spec import FAULTS
from pytest_socks5._options import option

from .cli_process import CLI, CliProcess, run_cli
from .helpers import closed_port, socks5_tunnel


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


def test_cli_never_shows_a_password_it_refuses() -> None:
    result = run_cli("--port", "0", "--user", "bob:b", "--user", "alice:TOPSECRET" + "x" * 300)
    assert result.returncode == 2, result.stderr
    (line,) = result.stderr.splitlines()
    assert "argument --user: users: the password of 'alice' is 309 bytes;" in line
    assert "TOPSECRET" not in line


def test_cli_refuses_a_user_given_twice_naming_the_user_only() -> None:
    result = run_cli("--port", "0", "--user", "alice:a", "--user", "alice:TOPSECRET")
    assert result.returncode == 2, result.stderr
    (line,) = result.stderr.splitlines()
    assert "argument --user: users: the user 'alice' is given twice; give each user once" in line
    assert "TOPSECRET" not in line


def test_cli_warns_of_a_host_outside_loopback_in_one_plain_line() -> None:
    # 192.0.2.1 (TEST-NET-1) is no address of this host: the listen fails after the warning.
    result = run_cli("--port", "0", "--host", "192.0.2.1")
    assert result.returncode == 2, result.stderr
    warning, error = result.stderr.splitlines()
    assert warning == (
        "python -m pytest_socks5: warning: SOCKS5Server listening on '192.0.2.1': anyone who "
        "can reach it can use it as an open proxy"
    )
    assert error.startswith("python -m pytest_socks5: error: cannot listen on 192.0.2.1:0 ")


def test_cli_destination_policy_flags() -> None:
    from pytest_socks5.__main__ import _parser

    args = _parser().parse_args(["--allow", "*.example.com", "--allow", "10.0.0.0/8"])
    assert args.allow == ["*.example.com", "10.0.0.0/8"]
    assert args.hermetic is True
    assert _parser().parse_args(["--no-hermetic"]).hermetic is False


# -- one line and exit 2 for what it cannot run with ----------------------------------------


@pytest.mark.parametrize(
    ("args", "flag", "value"),
    [
        (("--port", "99999"), "--port", "99999"),
        (("--port", "-1"), "--port", "-1"),
        (("--port", "http"), "--port", "http"),
        (("--allow", "example.com:http"), "--allow", "example.com:http"),
        (("--allow", ""), "--allow", "''"),
        (("--user", "nocolon"), "--user", "nocolon"),
        (("--max-connections", "-1"), "--max-connections", "-1"),
        (("--no-such-flag",), "--no-such-flag", "--no-such-flag"),
        # A bad --max-connections after the host: a regression that let the host through
        # stops there (the flags are checked in order) instead of listening.
        (("--host", "", "--max-connections", "-1"), "--host", "got '' (an empty host would"),
        (("--host", "[::1]", "--max-connections", "-1"), "--host", "without brackets (::1)"),
    ],
)
def test_cli_refuses_a_bad_value_in_one_line(args: tuple[str, ...], flag: str, value: str) -> None:
    result = run_cli("--port", "0", *args)
    assert result.returncode == 2, result.stderr
    assert result.stdout == ""
    (line,) = result.stderr.splitlines()
    assert line.startswith("python -m pytest_socks5: error: ")
    assert flag in line
    assert value in line


def test_the_docs_show_the_errors_as_it_prints_them() -> None:
    page = Path(__file__).parent.parent / "docs" / "howto" / "outside-pytest.rst"
    result = run_cli("--port", "99999")
    (line,) = result.stderr.splitlines()
    assert f"    $ python -m pytest_socks5 --port 99999\n    {line}\n" in page.read_text("utf-8")


def test_the_timeouts_that_may_be_off_take_0_for_no_limit_as_the_constructor_does() -> None:
    from pytest_socks5.__main__ import _parser

    for flag in ("--idle-timeout", "--handshake-timeout"):
        for text in ("0", "none"):
            args = _parser().parse_args([flag, text])
            name = flag[2:].replace("-", "_")
            assert option(name).normalise(getattr(args, name)) is None
            assert getattr(SOCKS5Server(**{name: 0})._engine.config, name) is None
    result = run_cli("--port", "0", "--idle-timeout", "-1")
    assert result.returncode == 2
    assert "idle_timeout must be None or 0 (no limit), or a number > 0, got -1" in result.stderr


def test_the_help_says_every_flag_s_default() -> None:
    result = run_cli("--help")
    assert "(default 10)" in " ".join(result.stdout.split()), result.stdout


def test_cli_on_a_busy_port_says_so_in_one_line() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = run_cli("--port", str(port))
    assert result.returncode == 2, result.stderr
    (line,) = result.stderr.splitlines()
    assert f"127.0.0.1:{port}" in line
    assert "--port" in line
    assert "address already in use" in line.lower()


# -- SIGTERM and SIGINT stop it gracefully -------------------------------------------------


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_closes_the_listener_and_the_connections(
    echo_server: tuple[str, int], signum: signal.Signals
) -> None:
    with CliProcess.start("--port", "0") as cli:
        proxy = ("127.0.0.1", cli.port())
        with rawclient.tunnel(proxy, *echo_server) as (sock, reply):
            assert rawclient.reply_code(reply) == 0
            sock.sendall(b"ping")
            assert rawclient.recv_exactly(sock, 4) == b"ping"
            cli.signal(signum)
            # the open tunnel is ended by the proxy, and logged as it ends
            assert rawclient.recv_all(sock) == b""
            line = cli.wait_for(f"CONNECT 127.0.0.1:{echo_server[1]}")
            assert "by server" in line
        assert cli.wait_for("stopped", stream="err") == f"pytest-socks5 stopped ({signum.name})"
        assert cli.wait() == 0
        assert cli.rest_of_err() == []
    with pytest.raises(ConnectionRefusedError), socket.create_connection(proxy, timeout=5):
        pass


def test_started_in_the_background_by_a_script_it_still_stops_on_sigint_and_sigterm() -> None:
    # A non-interactive shell starts a background job with SIGINT ignored:
    shell = ["sh", "-c", '"$@" & echo "pid $!" >&2; wait $!', "sh"]
    probe = "import signal; print(signal.getsignal(signal.SIGINT) is signal.SIG_IGN)"
    with CliProcess([*shell, sys.executable, "-c", probe]) as inherited:
        assert inherited.line() == "True"
    for signum in (signal.SIGINT, signal.SIGTERM):
        with CliProcess([*shell, *CLI, "--port", "0"]) as script:
            pid = int(script.line(stream="err").removeprefix("pid "))
            script.port()
            os.kill(pid, signum)
            assert script.wait_for("stopped", stream="err").endswith(f"({signum.name})")
            assert script.wait() == 0  # the shell's wait returns the proxy's status


# -- log lines -------------------------------------------------------------------------------

TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} #\d+ ")


def test_log_lines_have_a_timestamp_named_socks4_replies_and_the_cli_s_hints() -> None:
    with CliProcess.start("--port", "0") as cli:
        proxy = ("127.0.0.1", cli.port())
        # 192.0.2.0/24 is TEST-NET-1: refused by the hermetic default, never dialled
        with rawclient.connect(proxy) as sock:
            sock.sendall(rawclient.socks4_request("192.0.2.1", 80))
            assert rawclient.read_socks4_reply(sock)[1] == 0x5B
        socks4 = cli.wait_for("SOCKS4")
        with rawclient.tunnel(proxy, "example.com", 443) as (_sock, reply):
            assert rawclient.reply_code(reply) == 0x02
        socks5 = cli.wait_for("SOCKS5")
        cli.signal(signal.SIGTERM)
        assert cli.wait() == 0
    assert TIMESTAMP.match(socks4), socks4
    assert TIMESTAMP.match(socks5), socks5
    assert "→ REP 0x5b (REJECTED)" in socks4
    assert "--allow 192.0.2.1" in socks4
    assert "--allow example.com" in socks5
    for line in (socks4, socks5):
        assert "--no-hermetic" in line
        assert "pytest.mark" not in line
        assert "socks5_allow" not in line


def test_socks4_user_ids_have_a_flag_and_a_refusal_names_it(
    echo_server: tuple[str, int],
) -> None:
    def socks4(port: int, user_id: bytes) -> int:
        with rawclient.connect(("127.0.0.1", port)) as sock:
            sock.sendall(rawclient.socks4_request(*echo_server, user_id=user_id))
            return rawclient.read_socks4_reply(sock)[1]

    with CliProcess.start("--port", "0", "--user", "alice:a") as cli:
        assert socks4(cli.port(), b"alice") == 0x5B  # a password is required: SOCKS 4 has none
        no_ids = cli.wait_for("SOCKS4")
        cli.signal(signal.SIGTERM)
        assert cli.wait() == 0
    assert "(--socks4-user-id lets SOCKS 4 clients in by USERID)" in no_ids
    assert "socks4_user_ids" not in no_ids
    flags = ("--user", "alice:a", "--socks4-user-id", "ci", "--socks4-user-id", "build")
    with CliProcess.start("--port", "0", *flags) as cli:
        port = cli.port()
        assert socks4(port, b"build") == 0x5A
        assert cli.wait_for("SOCKS4")
        assert socks4(port, b"mallory") == 0x5B
        wrong_id = cli.wait_for("SOCKS4")
        cli.signal(signal.SIGTERM)
        assert cli.wait() == 0
    assert "SOCKS 4 USERID b'mallory' is not in --socks4-user-id" in wrong_id


# -- --fault ---------------------------------------------------------------------------------


def test_fault_flags_act_on_the_connections_they_select(echo_server: tuple[str, int]) -> None:
    echo_port = echo_server[1]
    with (
        closed_port() as unused,
        CliProcess.start(
            *("--port", "0"),
            *("--fault", f"replywith:host_unreachable,port={unused}"),
            *("--fault", f"truncate:reply:3,port={echo_port},times=1"),
            *("--fault", "delay:request:0.01"),
        ) as cli,
    ):
        proxy = ("127.0.0.1", cli.port())
        # ReplyWith, selected by port: the answer without any dial
        with rawclient.tunnel(proxy, "127.0.0.1", unused) as (_sock, reply):
            assert rawclient.reply_code(reply) == Reply.HOST_UNREACHABLE
        refused = cli.wait_for(f"CONNECT 127.0.0.1:{unused}")
        # Truncate, the first connection to the echo server only: 3 bytes, then FIN
        with rawclient.connect(proxy) as sock:
            sock.sendall(rawclient.greeting() + rawclient.socks5_request(*echo_server))
            assert rawclient.recv_exactly(sock, 2) == b"\x05\x00"
            assert rawclient.recv_all(sock) == b"\x05\x00\x00"
        truncated = cli.wait_for(f"CONNECT 127.0.0.1:{echo_port}")
        with rawclient.tunnel(proxy, *echo_server) as (sock, reply):
            assert rawclient.reply_code(reply) == Reply.SUCCEEDED
            sock.sendall(b"ping")
            assert rawclient.recv_exactly(sock, 4) == b"ping"
        whole = cli.wait_for(f"CONNECT 127.0.0.1:{echo_port}")
        cli.signal(signal.SIGTERM)
        assert cli.wait() == 0
    assert "→ REP 0x04 (HOST_UNREACHABLE)" in refused
    assert f"ReplyWith(reply=0x04, port={unused}) at request" in refused
    assert "Delay(seconds=0.01) at request" in refused
    assert f"Truncate(length=3, then='close', port={echo_port}, times=1) at reply" in truncated
    assert "Truncate" not in whole
    assert "faults: Delay(seconds=0.01) at request" in whole


def test_a_bad_fault_spec_lists_the_faults_and_the_nearest() -> None:
    result = run_cli("--port", "0", "--fault", "delya:request:0.01")
    assert result.returncode == 2
    (line,) = result.stderr.splitlines()
    assert "argument --fault: 'delya:request:0.01': unknown fault 'delya'" in line
    assert "(did you mean Delay?)" in line
    assert ", ".join(FAULTS) in line


def test_a_bound_address_the_reply_cannot_carry_is_refused_at_start() -> None:
    result = run_cli("--port", "0", "--fault", "boundaddress:bound_host=notanip")
    assert result.returncode == 2
    (line,) = result.stderr.splitlines()
    assert "argument --fault: 'boundaddress:bound_host=notanip': BoundAddress: bound_host " in line
    assert "must be an IPv4 address for bound_type 0x01 (IPV4), got 'notanip'" in line


def test_the_server_loads_only_what_it_needs() -> None:
    """Start-up cost: the CLI and a running server (either loop) load neither h11 (the
    HTTP front end loads with the first HTTP client), difflib (the first mistake loads
    it), importlib.metadata (``__version__`` reads it on first use), hmac (the first
    credentials), json (the first record written or read) nor hashlib (chaos seeds)."""
    code = (
        "import sys\n"
        "before = set(sys.modules)  # a coverage run's own imports (json) come first\n"
        "import pytest_socks5.__main__\n"
        "from pytest_socks5 import SOCKS5Server\n"
        "for loop in ('asyncio', 'uvloop'):\n"
        "    SOCKS5Server(loop=loop).start().stop()\n"
        "lazy = ('h11', 'difflib', 'importlib.metadata', 'hmac', 'json', 'hashlib')\n"
        "print(' '.join(m for m in lazy if m in set(sys.modules) - before))\n"
        "import pytest_socks5\n"
        "print(pytest_socks5.__version__)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    loaded, version = result.stdout.splitlines()
    assert loaded == ""
    assert version == importlib.metadata.version("pytest-socks5")
