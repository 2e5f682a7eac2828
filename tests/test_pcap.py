"""``--socks5-pcap DIR``: one pcapng per test that tshark's SOCKS dissector decodes."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from pytest_socks5 import ECHO, Outcome, SOCKS5Server, rawclient
from pytest_socks5._pcap import pcapng_bytes

from .test_plugin import INI
from .test_plugin_reports import WEBSITE, run

pytestmark = pytest.mark.skipif(
    shutil.which("tshark") is None and not os.environ.get("CI"),
    reason="needs tshark (CI installs it: apt-get install tshark)",
)

SUITE = Path(__file__).parent.parent / "docs" / "examples" / "pcap_project"

FIELDS = ("socks.auth_method", "socks.auth_accepted_method", "socks.command",
          "socks.remote_name", "socks.results")  # fmt: skip


def tshark(path: str, port: str, *args: str) -> str:
    command = ["tshark", "-r", path, "-d", f"tcp.port=={port},socks", *args]
    return subprocess.run(command, capture_output=True, text=True, check=True).stdout


@pytest.fixture
def captures(pytester: pytest.Pytester) -> dict[str, tuple[str, str]]:
    pytester.makeini(INI)
    pytester.makeconftest(WEBSITE)
    pytester.makepyfile(test_suite=(SUITE / "test_captured.py").read_text())  # "pcap_project"
    run(pytester, "--socks5-pcap=caps").assert_outcomes(passed=4)
    files = sorted(os.listdir(pytester.path / "caps"))
    assert len(files) == 4
    out = {}
    for name in ("ok", "refused", "reset", "held"):
        (path,) = [f for f in files if f"test_{name}-" in f and f.endswith(".pcapng")]
        port = (pytester.path / f"port-{name}").read_text()
        out[name] = (str(pytester.path / "caps" / path), port)
    return out


def socks_fields(path: str, port: str) -> list[list[str]]:
    args = ["-Y", "socks", "-T", "fields", *[a for f in FIELDS for a in ("-e", f)]]
    return [line.split("\t") for line in tshark(path, port, *args).splitlines()]


def test_a_connect_decodes_as_socks(captures: dict[str, tuple[str, str]]) -> None:
    rows = socks_fields(*captures["ok"])
    assert rows[:4] == [
        ["0", "", "", "", ""],  # the greeting offers "no authentication"
        ["", "0", "", "", ""],  # the method choice
        ["", "", "1", "localhost", ""],  # CONNECT localhost
        ["", "", "", "", "0"],  # succeeded
    ]
    summary = tshark(*captures["ok"], "-Y", "socks")
    assert "Connect to server request" in summary
    assert "Command Response - Connect" in summary
    assert "GET /x HTTP/1.1" in tshark(*captures["ok"], "-Y", "http")  # captured payload


def test_a_refused_connect_shows_rep_5(captures: dict[str, tuple[str, str]]) -> None:
    rows = socks_fields(*captures["refused"])
    assert rows[-1] == ["", "", "", "", "5"]
    comments = tshark(*captures["refused"], "-T", "fields", "-e", "frame.comment")
    assert "fault: ReplyWith(reply=0x05) at request" in comments


def test_a_reset_tunnel_ends_with_rst(captures: dict[str, tuple[str, str]]) -> None:
    path, port = captures["reset"]
    assert socks_fields(path, port)[-1] == ["", "", "", "", "0"]
    flags = tshark(path, port, "-Y", "tcp.flags.reset==1", "-T", "fields", "-e", "tcp.srcport")
    assert port in flags.split()  # the proxy reset the client's connection


def test_a_gate_event_is_a_packet_comment(captures: dict[str, tuple[str, str]]) -> None:
    assert socks_fields(*captures["held"])[-1] == ["", "", "", "", "0"]
    comments = tshark(*captures["held"], "-T", "fields", "-e", "frame.comment")
    assert "held: at reply by hold('reply') for " in comments
    assert ", released" in comments


def test_a_connection_still_open_is_captured_without_a_close(tmp_path: Path) -> None:
    # A session server's test may end before its client's close is read: the capture
    # then shows the handshake in order and the stream still open, never a FIN first.
    server = SOCKS5Server(host_map={"echo.test": ECHO})
    with server, rawclient.tunnel(server.address, "echo.test", 7) as (sock, reply):
        assert rawclient.reply_code(reply) == 0
        sock.sendall(b"ping")
        assert rawclient.recv_exactly(sock, 4) == b"ping"
        (record,) = server.connections
        assert record.outcome is Outcome.OPEN
        path = tmp_path / "open.pcapng"
        path.write_bytes(pcapng_bytes([(server.address, [record])]))
    port = str(server.port)
    assert socks_fields(str(path), port) == [
        ["0", "", "", "", ""],
        ["", "0", "", "", ""],
        ["", "", "1", "echo.test", ""],
        ["", "", "", "", "0"],
    ]
    flags = tshark(str(path), port, "-Y", "tcp.flags.fin==1 or tcp.flags.reset==1")
    assert flags == ""
