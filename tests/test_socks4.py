"""SOCKS 4 and 4a: USERID checks, the 0x5A to 0x5D replies, and curl as a real client."""

from __future__ import annotations

import shutil
import socket
import subprocess

import pytest

from pytest_socks5 import AddressType, Outcome, Socks4Reply, SOCKS5Server
from pytest_socks5._protocol import MAX_SOCKS4_FIELD

from .helpers import connect, only_record, recv_all, recv_exactly


def request(user: bytes, port: int, host: str = "127.0.0.1") -> bytes:
    return b"\x04\x01" + port.to_bytes(2, "big") + socket.inet_aton(host) + user + b"\x00"


def answer(server: SOCKS5Server, message: bytes) -> bytes:
    with connect(server.address) as sock:
        sock.sendall(message)
        return recv_exactly(sock, 8)


def test_user_ids_on_the_list_pass(echo_server) -> None:
    with SOCKS5Server(socks4_user_ids=["alice", b"\xffbin"]) as server:
        for user in (b"alice", b"\xffbin"):
            assert answer(server, request(user, echo_server[1]))[1] == Socks4Reply.GRANTED
        records = server.wait_for_connections(2)
    assert [r.authenticated for r in records] == [True, True]


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        (None, Socks4Reply.REJECTED),
        (Socks4Reply.IDENTD_UNREACHABLE, Socks4Reply.IDENTD_UNREACHABLE),
        (0x5D, Socks4Reply.IDENTD_MISMATCH),
    ],
)
def test_other_user_ids_get_the_configured_reply(echo_server, reply, expected) -> None:
    options = {} if reply is None else {"socks4_user_id_reply": reply}
    with SOCKS5Server(socks4_user_ids=["alice"], **options) as server:
        with connect(server.address) as sock:
            sock.sendall(request(b"mallory", echo_server[1]))
            assert recv_all(sock) == bytes((0, expected)) + b"\x00" * 6
        record = only_record(server)
    assert record.outcome is Outcome.AUTH_FAILED
    assert record.authenticated is False
    assert record.reply == expected
    assert record.user_id == b"mallory"
    assert record.upstream_address is None
    assert "not in socks4_user_ids" in (record.error or "")


def test_an_empty_user_id_is_checked_too(echo_server) -> None:
    with SOCKS5Server(socks4_user_ids=[""]) as server:
        assert answer(server, request(b"", echo_server[1]))[1] == Socks4Reply.GRANTED
        assert answer(server, request(b"x", echo_server[1]))[1] == Socks4Reply.REJECTED


def test_the_longest_user_id_the_option_takes_is_one_the_server_reads(echo_server) -> None:
    """The option refuses a USERID longer than the request's field may be (it could
    never match); the longest it takes is read and matched."""
    longest = b"u" * MAX_SOCKS4_FIELD
    with SOCKS5Server(socks4_user_ids=[longest]) as server:
        assert answer(server, request(longest, echo_server[1]))[1] == Socks4Reply.GRANTED
    with pytest.raises(ValueError, match="at most 1024 bytes"):
        SOCKS5Server(socks4_user_ids=[longest + b"u"])


def test_user_ids_let_socks4_into_a_password_server(echo_server) -> None:
    with SOCKS5Server(users={"alice": "pw"}) as server:
        assert answer(server, request(b"alice", echo_server[1]))[1] == Socks4Reply.REJECTED
        server.configure(socks4_user_ids=["alice"])
        assert answer(server, request(b"alice", echo_server[1]))[1] == Socks4Reply.GRANTED


def test_a_bad_reply_code_is_refused() -> None:
    with pytest.raises(ValueError, match="0x5B, 0x5C or 0x5D"):
        SOCKS5Server(socks4_user_id_reply=0x5A)


# -- curl -------------------------------------------------------------------------------------


@pytest.fixture
def curl():
    executable = shutil.which("curl")
    if executable is None:
        pytest.skip("curl is not installed")

    def run(*arguments: str) -> subprocess.CompletedProcess[str]:
        command = [executable, "--silent", "--show-error", "--max-time", "5", *arguments]
        return subprocess.run(command, capture_output=True, text=True, check=False)

    return run


@pytest.mark.parametrize(
    ("flag", "host", "address_type"),
    [("--socks4", "127.0.0.1", AddressType.IPV4), ("--socks4a", "localhost", AddressType.DOMAIN)],
)
def test_curl_socks4_and_4a_with_a_user_id(curl, http_server, flag, host, address_type) -> None:
    with SOCKS5Server(socks4_user_ids=["alice"]) as server:
        proxy = f"127.0.0.1:{server.port}"
        url = f"http://{host}:{http_server[1]}/curl"
        ok = curl(flag, proxy, "--proxy-user", "alice:", url)
        assert ok.stdout == "hello from /curl", ok.stderr
        refused = curl(flag, proxy, "--proxy-user", "mallory:", url)
        assert refused.returncode != 0
        accepted, rejected = server.wait_for_connections(2, ended=True)
    assert accepted.version == rejected.version == 4
    assert accepted.address_type == rejected.address_type == address_type
    assert accepted.user_id == b"alice"
    assert accepted.authenticated is True
    assert rejected.user_id == b"mallory"
    assert rejected.outcome is Outcome.AUTH_FAILED
