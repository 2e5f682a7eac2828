"""pytest_socks5.rawclient: exact bytes out, whole replies in, against the real server."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from pytest_socks5 import Command, Reply, Socks4Reply, SOCKS5Server, rawclient
from pytest_socks5.rawclient import UnexpectedAnswer


@pytest.fixture
def server() -> Iterator[SOCKS5Server]:
    with SOCKS5Server(users={"alice": "s3cret"}, host_map={"gone.test": None}) as server:
        yield server


def test_every_public_name_is_documented() -> None:
    for name in rawclient.__all__:
        obj = getattr(rawclient, name)
        if callable(obj):
            assert obj.__doc__, name


def test_messages_are_the_rfc_bytes() -> None:
    assert rawclient.greeting() == b"\x05\x01\x00"
    assert rawclient.greeting(0, 2) == b"\x05\x02\x00\x02"
    assert rawclient.auth_request(b"u", b"pw") == b"\x01\x01u\x02pw"
    assert rawclient.socks5_request("127.0.0.1", 80) == bytes.fromhex("05 01 00 01 7f000001 0050")
    assert rawclient.socks5_request("::1", 1, Command.BIND)[:4] == b"\x05\x02\x00\x04"
    assert rawclient.socks5_request("a.test", 443) == b"\x05\x01\x00\x03\x06a.test\x01\xbb"
    assert rawclient.socks4_request("10.0.0.1", 80, user_id=b"me") == (
        b"\x04\x01\x00\x50\x0a\x00\x00\x01me\x00"
    )
    assert (
        rawclient.socks4_request("a.test", 80) == b"\x04\x01\x00\x50\x00\x00\x00\x01\x00a.test\x00"
    )


@pytest.mark.parametrize(
    ("head", "size"),
    [(b"\x05\x00\x00\x01\x7f", 10), (b"\x05\x00\x00\x04\x00", 22), (b"\x05\x00\x00\x03\x04", 11)],
)
def test_reply_size(head: bytes, size: int) -> None:
    assert rawclient.reply_size(head) == size


def test_reply_size_needs_five_bytes_and_a_known_atyp() -> None:
    with pytest.raises(ValueError, match="5 bytes"):
        rawclient.reply_size(b"\x05\x00\x00\x01")
    with pytest.raises(UnexpectedAnswer, match="ATYP 0x00"):
        rawclient.reply_size(b"\x05\x00\x00\x00\x00")


def test_reply_addresses() -> None:
    assert rawclient.reply_address(bytes.fromhex("05 00 00 01 7f000001 0050")) == ("127.0.0.1", 80)
    v6 = b"\x05\x00\x00\x04" + socket.inet_pton(socket.AF_INET6, "::1") + b"\x00\x01"
    assert rawclient.reply_address(v6) == ("::1", 1)
    assert rawclient.reply_address(b"\x05\x00\x00\x03\x01a\x00\x02") == ("a", 2)
    assert rawclient.socks4_reply_address(b"\x00\x5a\x00\x50\x7f\x00\x00\x01") == (
        "127.0.0.1",
        80,
    )


def test_a_tunnel_with_credentials(server: SOCKS5Server, echo_server) -> None:
    with rawclient.tunnel(server.address, *echo_server, auth=(b"alice", b"s3cret")) as (s, reply):
        assert rawclient.reply_code(reply) == Reply.SUCCEEDED
        s.sendall(b"ping")
        assert rawclient.recv_exactly(s, 4) == b"ping"
    server.assert_connected(username="alice", port=echo_server[1])


def test_open_tunnel_raises_unless_the_reply_succeeds(server: SOCKS5Server) -> None:
    with pytest.raises(UnexpectedAnswer, match="REP 0x04"):
        rawclient.open_tunnel(server.address, "gone.test", 80, auth=(b"alice", b"s3cret"))


def test_a_refused_method_or_password_raises(server: SOCKS5Server) -> None:
    with pytest.raises(UnexpectedAnswer, match="offered method 0x00"):
        rawclient.open_tunnel(server.address, "127.0.0.1", 9)
    with pytest.raises(UnexpectedAnswer, match="credentials were refused"):
        rawclient.open_tunnel(server.address, "127.0.0.1", 9, auth=(b"alice", b"wrong"))


def test_exchange_returns_everything_until_eof(server: SOCKS5Server) -> None:
    assert rawclient.exchange(server.address, b"\x05\x01\x00") == b"\x05\xff"


def test_recv_exactly_says_what_arrived_before_eof(server: SOCKS5Server) -> None:
    with rawclient.connect(server.address) as sock:
        sock.sendall(b"\x05\x01\x00")
        with pytest.raises(EOFError, match="expected 4 bytes, got 2 then EOF: 05 ff"):
            rawclient.recv_exactly(sock, 4)


def test_a_socks4_conversation(echo_server) -> None:
    with SOCKS5Server() as server, rawclient.connect(server.address, nodelay=True) as sock:
        sock.sendall(rawclient.socks4_request(*echo_server))
        reply = rawclient.read_socks4_reply(sock)
        assert rawclient.reply_code(reply) == Socks4Reply.GRANTED
        sock.sendall(b"4")
        assert rawclient.recv_exactly(sock, 1) == b"4"
