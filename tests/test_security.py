"""Loopback by default, constant-time credentials, passwords never shown unless asked,
hostile names recorded exactly and displayed escaped."""

from __future__ import annotations

import hmac
import signal
import subprocess
import sys
import warnings
from typing import Any

import pytest

from pytest_socks5 import AddressType, Outcome, SOCKS5Server
from pytest_socks5._auth import AuthPolicy

from .helpers import connect, only_record, recv_exactly, reply_size


@pytest.mark.parametrize(
    "host", ["0.0.0.0", "::", "192.0.2.1", "example.test", "127.example.test"]
)
def test_binding_beyond_loopback_warns(host: str) -> None:
    with pytest.warns(UserWarning, match="open proxy"):
        SOCKS5Server(host)  # never started: nothing is bound


@pytest.mark.parametrize(
    "host", ["127.0.0.1", "127.0.0.2", "::1", "::1%lo", "localhost", "LocalHost.", "dual"]
)
def test_loopback_binds_do_not_warn(host: str) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        SOCKS5Server(host)


@pytest.mark.parametrize("host", ["LOCALHOST", "Dual"])
def test_localhost_in_any_case_listens_on_both_loopbacks(host: str) -> None:
    with SOCKS5Server(host) as server:
        families = {":" in address[0] for address in server.listen_addresses}
        assert server.host == "localhost"  # and the URLs say so
    assert families == {False, True}


def test_default_listen_address_is_loopback() -> None:
    with SOCKS5Server() as server:
        assert server.listen_addresses[0][0] == "127.0.0.1"


def test_every_user_is_compared_in_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    """Both the name and the password of every configured user go through
    hmac.compare_digest, whether the first user matches or none does."""
    calls: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def counting(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", counting)
    policy = AuthPolicy.build({"alice": "one", "bob": "two", "carol": "three"})
    for name, pw, ok in [(b"alice", b"one", True), (b"carol", b"x", False), (b"", b"", False)]:
        calls.clear()
        assert policy.check(name, pw) is ok
        assert len(calls) == 6
        assert {a for a, _ in calls} == {b"alice", b"bob", b"carol", b"one", b"two", b"three"}


def test_passwords_are_not_in_reprs() -> None:
    with SOCKS5Server(users={"alice": "hunter2-secret"}) as server:
        assert "hunter2" not in repr(server)
        assert repr(server) == f"<SOCKS5Server socks5://alice:***@127.0.0.1:{server.port}>"
        assert "hunter2" not in repr(server._engine.config)
        assert "alice" in repr(server._engine.config.auth)
        # Asked for explicitly: there it is.
        assert "hunter2-secret" in server.url
        assert server.users == {"alice": "hunter2-secret"}


def _auth_handshake(address: tuple[str, int], user: bytes, password: bytes, request: bytes):
    sock = connect(address)
    sock.sendall(b"\x05\x01\x02")
    assert recv_exactly(sock, 2) == b"\x05\x02"
    sock.sendall(b"\x01" + bytes((len(user),)) + user + bytes((len(password),)) + password)
    assert recv_exactly(sock, 2) == b"\x01\x00"
    sock.sendall(request)
    head = recv_exactly(sock, 5)
    return sock, head + recv_exactly(sock, reply_size(head) - 5)


HOSTILE_USER = b"\x1b[2J\x1b[31mroot\x00\xff\n"
HOSTILE_DOMAIN = "evil\u202etset.\u2028moc".encode()  # valid UTF-8, passes validation


def test_hostile_username_and_domain_are_recorded_exactly_and_shown_escaped(
    echo_server: tuple[str, int],
) -> None:
    lines: list[str] = []
    domain_text = HOSTILE_DOMAIN.decode()
    # IDNA cannot encode the name, so host_map refuses it as a key: the rules let it
    # through and the dialler is replaced so that it reaches the echo server, never a
    # resolver.
    server = SOCKS5Server(
        validator=lambda user, password: True,
        hermetic=False,
        on_connection_end=lambda record: lines.append(str(record)),
    )
    dialler = server._engine.dialler
    real_dial = type(dialler).dial

    async def to_echo(host: str, port: int, record: Any) -> Any:
        assert host == domain_text
        return await real_dial(dialler, *echo_server, record)

    dialler.dial = to_echo  # type: ignore[method-assign]
    request = b"\x05\x01\x00\x03" + bytes((len(HOSTILE_DOMAIN),)) + HOSTILE_DOMAIN + b"\x00\x50"
    with server:
        sock, reply = _auth_handshake(server.address, HOSTILE_USER, b"pw-never-shown", request)
        with sock:
            assert reply[1] == 0
            sock.sendall(b"ping")
            assert recv_exactly(sock, 4) == b"ping"
        record = only_record(server)
    assert record.raw_username == HOSTILE_USER
    assert record.raw_address == HOSTILE_DOMAIN
    assert record.host == domain_text
    assert record.address_type is AddressType.DOMAIN
    assert record.raw_password == b"pw-never-shown"
    for line in (lines[0], str(record), server._recorder.explain({})):
        assert "pw-never-shown" not in line
        assert "\x1b" not in line
        assert "\u202e" not in line
        assert "\u2028" not in line
    assert lines[0].isprintable()
    assert "user='\\x1b[2J\\x1b[31mroot\\x00\\xff\\n'" in lines[0]
    assert "CONNECT evil\\u202etset.\\u2028moc:80 (ATYP 0x03 (DOMAIN))" in lines[0]


def test_socks4a_domain_with_nul_and_control_characters_is_refused_and_shown_escaped() -> None:
    with SOCKS5Server() as server, connect(server.address) as sock:
        # VN CD PORT 0.0.0.1 USERID NUL DOMAIN NUL; the domain holds ESC and a bell.
        sock.sendall(b"\x04\x01\x00\x50\x00\x00\x00\x01\xffuser\x00bad\x1b[0m\x07.test\x00")
        assert recv_exactly(sock, 8)[1] == 0x5B
        record = only_record(server)
    assert record.outcome is Outcome.PROTOCOL_ERROR
    assert record.version == 4
    assert record.user_id == b"\xffuser"
    assert record.raw_address == b"bad\x1b[0m\x07.test"
    assert record.reply == 0x5B
    line = str(record)
    assert line.isprintable()
    assert "SOCKS4 user='\\xffuser' CONNECT bad\\x1b[0m\\x07.test:80" in line


def test_socks5_domain_with_nul_is_recorded_and_shown_escaped() -> None:
    domain = b"a\x00b\x1b.test"
    request = b"\x05\x01\x00\x03" + bytes((len(domain),)) + domain + b"\x00\x50"
    with SOCKS5Server() as server, connect(server.address) as sock:
        sock.sendall(b"\x05\x01\x00")
        assert recv_exactly(sock, 2) == b"\x05\x00"
        sock.sendall(request)
        assert recv_exactly(sock, 10)[1] == 0x01
        record = only_record(server)
    assert record.outcome is Outcome.PROTOCOL_ERROR
    assert record.raw_address == domain
    assert "CONNECT a\\x00b\\x1b.test:80" in str(record)
    assert str(record).isprintable()


def test_cli_never_prints_the_password_unless_asked(echo_server: tuple[str, int]) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "pytest_socks5", "--port", "0", "--user", "alice:hunter2-pw"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        banner = proc.stdout.readline()
        assert banner.startswith("pytest-socks5 listening on socks5://alice:***@127.0.0.1:")
        port = int(banner.rsplit(":", 1)[1])
        request = b"\x05\x01\x00\x01\x7f\x00\x00\x01" + echo_server[1].to_bytes(2, "big")
        sock, reply = _auth_handshake(("127.0.0.1", port), b"alice", b"hunter2-pw", request)
        with sock:
            assert reply[1] == 0
        line = proc.stdout.readline()
        assert "user='alice'" in line
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=20)
    assert "hunter2" not in banner + line + out + err


@pytest.mark.parametrize(
    "name",
    ["a..b", "x" * 64, ".", "evil\u202etest"],
    ids=["empty-label", "label-too-long", "only-a-dot", "bidi-override"],
)
def test_a_name_that_is_no_host_name_is_unreachable_not_a_crash(name: str) -> None:
    """These pass the DST.ADDR checks (UTF-8, no control characters) but no resolver
    can take them: Python's IDNA encoding refuses them before any lookup happens."""
    # Never a DNS lookup from this test: only names the encoder refuses are sent.
    with pytest.raises(UnicodeError):
        name.encode("idna")
    raw = name.encode()
    request = b"\x05\x01\x00\x03" + bytes((len(raw),)) + raw + b"\x00\x50"
    # hermetic=False: the hermetic default would refuse the name (0x02) before lookup.
    with SOCKS5Server(hermetic=False) as server, connect(server.address) as sock:
        sock.sendall(b"\x05\x01\x00")
        assert recv_exactly(sock, 2) == b"\x05\x00"
        sock.sendall(request)
        assert recv_exactly(sock, 10)[1] == 0x04  # host unreachable
        record = only_record(server)
        assert server.errors == []
    assert record.outcome is Outcome.REJECTED
    assert record.raw_address == raw
    assert "not a valid host name" in (record.error or "")
