"""A record's ``reply`` (and ``http_status``) is the code the client was sent: none when a
fault at the reply ends the connection before the byte carrying it goes out, on every
command, protocol and variant."""

from __future__ import annotations

import socket
from collections.abc import Callable

import pytest

from pytest_socks5 import Command, Outcome, Reply, Socks4Reply, SOCKS5Server
from pytest_socks5 import rawclient as raw
from pytest_socks5.faults import (
    Close,
    Fault,
    FunctionFault,
    RawAnswer,
    Stall,
    Truncate,
    WrongVersion,
)

from .helpers import (
    TIMEOUT,
    VERSIONS,
    connect_request,
    echo_target,
    only_record,
    recv_all,
    recv_exactly,
)

MakeServer = Callable[..., SOCKS5Server]

#: The faults at the reply that end the connection before any reply byte goes out.
NO_REPLY: list[Fault] = [
    Close(at="reply"),
    Close(at="reply", reset=True),
    Stall(at="reply"),
    Truncate(at="reply", length=0),
]
SOCKS5_COMMANDS = [
    (Command.CONNECT, "127.0.0.1"),
    (Command.BIND, "127.0.0.1"),
    (Command.UDP_ASSOCIATE, "0.0.0.0"),
]


def _read_until_the_end(sock: socket.socket) -> bytes:
    """What the proxy sent before EOF, a reset, or (a stall) silence: the client leaves."""
    sock.settimeout(0.3)
    data = b""
    try:
        while chunk := sock.recv(4096):
            data += chunk
    except (TimeoutError, ConnectionResetError):
        pass
    return data


@pytest.mark.parametrize("fault", NO_REPLY, ids=lambda f: f.describe())
@pytest.mark.parametrize(("command", "host"), SOCKS5_COMMANDS, ids=lambda c: str(c))
def test_no_reply_sent_no_reply_recorded(
    make_server: MakeServer, fault: Fault, command: int, host: str
) -> None:
    server = make_server(faults=[fault])
    with echo_target() as target, raw.connect(server.address, timeout=TIMEOUT) as sock:
        port = target[1] if command == Command.CONNECT else 0
        sock.sendall(raw.greeting() + raw.socks5_request(host, port, command))
        assert _read_until_the_end(sock) == b"\x05\x00"  # the method choice only
    record = only_record(server)
    assert record.faults == (f"{fault.describe()} at reply",)
    assert record.reply is None
    assert record.message("reply") is None
    assert record.timings.replied is None


@pytest.mark.parametrize("version", VERSIONS)
def test_no_reply_sent_no_reply_recorded_on_every_protocol(
    make_server: MakeServer, version: int | str
) -> None:
    server = make_server(socks4=True, faults=[Close(at="reply")])
    with echo_target() as target, socket.create_connection(server.address, TIMEOUT) as sock:
        sock.settimeout(TIMEOUT)
        sock.sendall(connect_request(target, version))
        assert recv_all(sock) == (b"\x05\x00" if version == 5 else b"")
    record = only_record(server)
    assert record.outcome is Outcome.FAULT
    assert record.reply is None
    assert record.http_status is None
    assert record.http_statuses == ()


@pytest.mark.parametrize(
    ("version", "length", "code"),
    [
        (5, 1, None),  # VER only: REP never went out
        (5, 2, Reply.SUCCEEDED),  # REP went out
        (4, 1, None),
        (4, 2, Socks4Reply.GRANTED),
        ("http", 11, None),  # "HTTP/1.1 20": the status code cut short
        ("http", 12, Reply.SUCCEEDED),  # "HTTP/1.1 200"
    ],
)
def test_a_truncated_reply_records_its_code_if_the_byte_carrying_it_went_out(
    make_server: MakeServer, version: int | str, length: int, code: int | None
) -> None:
    server = make_server(socks4=True, faults=[Truncate(at="reply", length=length)])
    with echo_target() as target, socket.create_connection(server.address, TIMEOUT) as sock:
        sock.settimeout(TIMEOUT)
        sock.sendall(connect_request(target, version))
        sent = recv_all(sock)
    assert len(sent) == length + (2 if version == 5 else 0)
    record = only_record(server)
    assert record.reply == code
    assert record.timings.replied is not None  # the reply's first bytes went out
    if version == "http":
        assert record.http_status == (200 if code is not None else None)


def test_a_bind_cut_off_at_its_first_reply_has_no_reply(make_server: MakeServer) -> None:
    server = make_server(socks4=True, faults=[Close(at="reply", command=Command.BIND)])
    with raw.connect(server.address, timeout=TIMEOUT) as sock:
        sock.sendall(raw.socks4_request("127.0.0.1", 0, command=2))
        assert recv_all(sock) == b""
    record = only_record(server)
    assert record.outcome is Outcome.FAULT
    assert record.reply is None


RAW_SOCKS5 = b"\x05\x03\x00\x01\x00\x00\x00\x00\x00\x00"


@pytest.mark.parametrize(
    ("version", "data", "code", "status"),
    [
        (5, RAW_SOCKS5, Reply.NETWORK_UNREACHABLE, None),
        (5, b"garbage", None, None),  # no SOCKS5 version byte: no REP either
        (4, b"\x00\x5c\x00\x00\x00\x00\x00\x00", Socks4Reply.IDENTD_UNREACHABLE, None),
        ("http", b"HTTP/1.1 418 I'm a teapot\r\nContent-Length: 0\r\n\r\n", None, 418),
        ("http", b"HTTP/1.1 403 Forbidden\r\n\r\n", Reply.CONNECTION_NOT_ALLOWED, 403),
        ("http", b"HTTP/1.0 204\r\n\r\n", Reply.SUCCEEDED, 204),
        ("http", RAW_SOCKS5, None, None),  # SOCKS5 bytes carry no HTTP status
    ],
)
def test_a_raw_answer_records_the_code_it_sent(
    make_server: MakeServer,
    version: int | str,
    data: bytes,
    code: int | None,
    status: int | None,
) -> None:
    server = make_server(socks4=True, faults=[RawAnswer(at="reply", data=data)])
    with echo_target() as target, socket.create_connection(server.address, TIMEOUT) as sock:
        sock.settimeout(TIMEOUT)
        sock.sendall(connect_request(target, version))
        assert recv_all(sock) == (b"\x05\x00" if version == 5 else b"") + data
    record = only_record(server)
    assert record.reply == code
    assert record.http_status == status
    assert record.http_statuses == (() if status is None else (status,))
    assert record.error == f"closed by a fault: a raw answer of {len(data)} bytes, then closed"


def test_a_rewritten_reply_records_the_code_it_sent(make_server: MakeServer) -> None:
    def refuse(reply: bytes) -> bytes:
        return reply[:1] + bytes((Reply.CONNECTION_REFUSED,)) + reply[2:]

    server = make_server(faults=[FunctionFault(function=refuse, at="reply", then="close")])
    with echo_target() as target, socket.create_connection(server.address, TIMEOUT) as sock:
        sock.settimeout(TIMEOUT)
        sock.sendall(connect_request(target, 5))
        assert recv_all(sock)[2:4] == b"\x05\x05"
    record = only_record(server)
    assert record.reply == Reply.CONNECTION_REFUSED
    assert record.error == "closed by a fault: a rewritten answer of 10 bytes, then closed"


@pytest.mark.parametrize(
    ("version", "wrong", "code"),
    [
        (5, 0x04, None),  # a SOCKS5 reply that is not one carries no REP
        (4, 0x04, Socks4Reply.GRANTED),  # 0x04 is a SOCKS 4 reply's VN some servers send
        (4, 0x05, None),
        ("http", 0x58, None),  # "XTTP/1.1 200": no status line
    ],
)
def test_a_wrong_version_records_the_code_the_bytes_carry(
    make_server: MakeServer, version: int | str, wrong: int, code: int | None
) -> None:
    """As for a ``RawAnswer`` of the same bytes: the code is read from what went out."""
    server = make_server(socks4=True, faults=[WrongVersion(at="reply", version=wrong)])
    with echo_target() as target, socket.create_connection(server.address, TIMEOUT) as sock:
        sock.settimeout(TIMEOUT)
        sock.sendall(connect_request(target, version))
        first = {5: 3, 4: 1, "http": 1}[version]  # the method choice, then the reply
        assert recv_exactly(sock, first)[-1] == wrong
    record = only_record(server)
    assert record.faults == (f"WrongVersion(version=0x{wrong:02x}) at reply",)
    assert record.reply == code
    assert record.http_status is None


def test_a_raw_answer_then_a_stall_says_so(make_server: MakeServer) -> None:
    server = make_server(faults=[RawAnswer(at="reply", data=RAW_SOCKS5, then="stall")])
    with echo_target() as target, raw.connect(server.address, timeout=TIMEOUT) as sock:
        sock.sendall(connect_request(target, 5))
        assert _read_until_the_end(sock) == b"\x05\x00" + RAW_SOCKS5
    record = server.wait_for_connections(ended=True)[0]
    assert record.reply == Reply.NETWORK_UNREACHABLE
    assert record.error == "a raw answer of 10 bytes, then stalled by a fault"
