"""Handshake faults at the byte level, with a raw socket client."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable

import pytest

from pytest_socks5 import AddressType, Outcome, Reply, SOCKS5Server
from pytest_socks5.faults import (
    BoundAddress,
    Close,
    Delay,
    FailAuth,
    ForceMethod,
    Fragment,
    RawAnswer,
    ReplyWith,
    Stall,
    Truncate,
    WrongVersion,
)

from .helpers import assert_silent, connect, only_record, recv_all, recv_exactly, socks5_request

MakeServer = Callable[..., SOCKS5Server]

GREETING = b"\x05\x01\x00"


@pytest.fixture
def server(make_server: MakeServer, echo_server) -> SOCKS5Server:
    host_map = {"api.example.test": f"{echo_server[0]}:{echo_server[1]}"}
    return make_server(host_map=host_map)


def request_bytes(host: str = "api.example.test", port: int = 80) -> bytes:
    return socks5_request(host, port)


# -- method selection -----------------------------------------------------------------


def test_force_method_ff(server: SOCKS5Server) -> None:
    server.add_fault(ForceMethod(method=0xFF))
    with connect(server.address) as sock:
        sock.sendall(GREETING)
        assert recv_all(sock) == b"\x05\xff"
    record = only_record(server)
    assert record.outcome is Outcome.NO_ACCEPTABLE_METHOD
    assert record.faults == ("ForceMethod(method=0xff) at greeting",)


def test_force_a_method_the_client_did_not_offer(server: SOCKS5Server) -> None:
    server.add_fault(ForceMethod(method=0x80))
    with connect(server.address) as sock:
        sock.sendall(GREETING)
        assert recv_all(sock) == b"\x05\x80"
    assert only_record(server).outcome is Outcome.FAULT


def test_force_username_password_on_a_no_auth_server(server: SOCKS5Server) -> None:
    server.add_fault(ForceMethod(method=0x02))
    with connect(server.address) as sock:
        sock.sendall(GREETING)
        assert recv_exactly(sock, 2) == b"\x05\x02"
        sock.sendall(b"\x01\x03bob\x02pw")
        assert recv_exactly(sock, 2) == b"\x01\x00"
        sock.sendall(request_bytes())
        assert recv_exactly(sock, 10)[:2] == b"\x05\x00"
    record = server.wait_for_connections(1)[0]
    assert record.raw_username == b"bob"
    assert record.authenticated is True


def test_fail_auth_with_any_status(make_server: MakeServer) -> None:
    server = make_server(users={"alice": "s3cret"})
    server.add_fault(FailAuth(status=0x7F))
    with connect(server.address) as sock:
        sock.sendall(b"\x05\x01\x02\x01\x05alice\x06s3cret")
        assert recv_all(sock) == b"\x05\x02\x01\x7f"
    record = only_record(server)
    assert record.outcome is Outcome.AUTH_FAILED
    assert record.authenticated is False


def test_fail_auth_with_status_zero_is_refused() -> None:
    with pytest.raises(ValueError, match="non-zero"):
        FailAuth(status=0)


# -- stall, delay, close ---------------------------------------------------------------


@pytest.mark.parametrize("phase", ["greeting", "request", "reply"])
def test_stall_never_answers(server: SOCKS5Server, phase: str) -> None:
    server.add_fault(Stall(at=phase))
    server.configure(handshake_timeout=0.05)  # a stall outlives the server's own timeout
    with connect(server.address) as sock:
        sock.sendall(GREETING)
        if phase != "greeting":
            assert recv_exactly(sock, 2) == b"\x05\x00"
            sock.sendall(request_bytes())
        assert_silent(sock)
        (open_record,) = server.connections
        assert open_record.outcome is Outcome.OPEN
    record = only_record(server)
    assert record.outcome is Outcome.CLIENT_CLOSED
    assert record.faults == (f"Stall() at {phase}",)
    assert (record.upstream_address is not None) == (phase == "reply")


def test_stall_at_auth(make_server: MakeServer) -> None:
    server = make_server(users={"a": "b"})
    server.add_fault(Stall(at="auth"))
    with connect(server.address) as sock:
        sock.sendall(b"\x05\x01\x02")
        assert recv_exactly(sock, 2) == b"\x05\x02"
        sock.sendall(b"\x01\x01a\x01b")
        assert_silent(sock)


def test_delay_the_reply(server: SOCKS5Server) -> None:
    server.add_fault(Delay(at="reply", seconds=0.3))
    with connect(server.address) as sock:
        sock.sendall(GREETING + request_bytes())
        started = time.monotonic()
        assert recv_exactly(sock, 12)[2:4] == b"\x05\x00"
        assert time.monotonic() - started >= 0.29


def test_delay_the_greeting_answer(server: SOCKS5Server) -> None:
    server.add_fault(Delay(at="greeting", seconds=0.2))
    with connect(server.address) as sock:
        started = time.monotonic()
        sock.sendall(GREETING)
        assert recv_exactly(sock, 2) == b"\x05\x00"
        assert time.monotonic() - started >= 0.19


@pytest.mark.parametrize("phase", ["greeting", "request", "reply"])
def test_close_with_fin(server: SOCKS5Server, phase: str) -> None:
    server.add_fault(Close(at=phase))
    with connect(server.address) as sock:
        sock.sendall(GREETING)
        if phase != "greeting":
            assert recv_exactly(sock, 2) == b"\x05\x00"
            sock.sendall(request_bytes())
        assert recv_all(sock) == b""  # orderly EOF, no reset
    assert only_record(server).outcome is Outcome.FAULT


@pytest.mark.parametrize("phase", ["greeting", "reply"])
def test_close_with_rst(server: SOCKS5Server, phase: str) -> None:
    server.add_fault(Close(at=phase, reset=True))
    with connect(server.address) as sock:
        sock.sendall(GREETING)
        if phase != "greeting":
            assert recv_exactly(sock, 2) == b"\x05\x00"
            sock.sendall(request_bytes())
        with pytest.raises(ConnectionResetError):
            sock.recv(100)


# -- what the answer says ---------------------------------------------------------------


def test_truncated_reply_then_close(server: SOCKS5Server) -> None:
    server.add_fault(Truncate(at="reply", length=3))
    with connect(server.address) as sock:
        sock.sendall(GREETING + request_bytes())
        assert recv_all(sock) == b"\x05\x00\x05\x00\x00"
    record = only_record(server)
    assert record.outcome is Outcome.FAULT
    assert "3 bytes sent" in (record.error or "")


def test_truncated_reply_then_stall(server: SOCKS5Server) -> None:
    server.add_fault(Truncate(at="reply", length=4, then="stall"))
    with connect(server.address) as sock:
        sock.sendall(GREETING + request_bytes())
        assert recv_exactly(sock, 6) == b"\x05\x00\x05\x00\x00\x01"
        assert_silent(sock)


def test_wrong_version(server: SOCKS5Server) -> None:
    server.add_fault(WrongVersion(at="greeting", version=0x04))
    with connect(server.address) as sock:
        sock.sendall(GREETING)
        assert recv_exactly(sock, 2) == b"\x04\x00"


def test_raw_answer(server: SOCKS5Server) -> None:
    server.add_fault(RawAnswer(at="greeting", data=b"HTTP/1.1 400 Bad Request\r\n\r\n"))
    with connect(server.address) as sock:
        sock.sendall(GREETING)
        assert recv_all(sock) == b"HTTP/1.1 400 Bad Request\r\n\r\n"


def test_fragmented_reply_arrives_whole_in_pieces(server: SOCKS5Server) -> None:
    server.add_fault(Fragment(at="reply", size=1, delay=0.05))
    with connect(server.address) as sock:
        sock.sendall(GREETING + request_bytes())
        assert recv_exactly(sock, 2) == b"\x05\x00"
        reads = []
        while sum(map(len, reads)) < 10:
            reads.append(sock.recv(100))
        reply = b"".join(reads)
        sock.sendall(b"still a tunnel")
        assert recv_exactly(sock, 14) == b"still a tunnel"
    assert reply[:4] == b"\x05\x00\x00\x01"
    assert len(reads) > 1, "the reply must not arrive in one read"


def test_fragment_is_refused_where_there_is_no_answer() -> None:
    with pytest.raises(ValueError, match="at='reply'"):
        Fragment(at="request")


# -- replies without a dial -------------------------------------------------------------


@pytest.mark.parametrize("rep", [0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0xFF])
def test_reply_with_any_rep_without_dialling(server: SOCKS5Server, rep: int) -> None:
    server.add_fault(ReplyWith(reply=rep))
    with connect(server.address) as sock:
        sock.sendall(GREETING + request_bytes())
        assert recv_all(sock) == b"\x05\x00" + bytes((5, rep, 0, 1, 0, 0, 0, 0, 0, 0))
    record = only_record(server)
    assert record.reply == rep
    assert record.upstream_address is None
    assert record.outcome is Outcome.REJECTED


def test_refused_by_a_fault_is_byte_identical_to_a_real_refusal(
    server: SOCKS5Server, refused_port: int
) -> None:
    with connect(server.address) as sock:
        sock.sendall(GREETING + request_bytes("127.0.0.1", refused_port))
        real = recv_all(sock)
    server.add_fault(ReplyWith(reply=Reply.CONNECTION_REFUSED))
    with connect(server.address) as sock:
        sock.sendall(GREETING + request_bytes())
        faked = recv_all(sock)
    assert faked == real


def test_refuse_one_host_once_then_work(server: SOCKS5Server) -> None:
    server.add_fault(ReplyWith(reply=Reply.HOST_UNREACHABLE, host="*.example.test", times=1))
    for expected in (Reply.HOST_UNREACHABLE, Reply.SUCCEEDED, Reply.SUCCEEDED):
        with connect(server.address) as sock:
            sock.sendall(GREETING + request_bytes())
            assert recv_exactly(sock, 4)[3] == expected
    assert [r.reply for r in server.connections] == [0x04, 0x00, 0x00]


def test_only_the_nth_connection(server: SOCKS5Server) -> None:
    server.add_fault(ReplyWith(reply=Reply.GENERAL_FAILURE, nth=2))
    for _ in range(3):
        with connect(server.address) as sock:
            sock.sendall(GREETING + request_bytes())
            recv_exactly(sock, 4)
    assert [r.reply for r in server.connections] == [0x00, 0x01, 0x00]


# -- BND.ADDR -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fault", "expected"),
    [
        (BoundAddress(bound_type=0x00), b"\x00" + b"\x00\x00"),
        (BoundAddress(bound_type=0x00, raw=b"\x01\x02"), b"\x00\x01\x02\x00\x00"),
        (
            BoundAddress(bound_type=AddressType.DOMAIN, bound_host="proxy.test", bound_port=1080),
            b"\x03\x0aproxy.test\x04\x38",
        ),
        (
            BoundAddress(bound_type=AddressType.IPV6, bound_host="::1", bound_port=1),
            b"\x04" + b"\x00" * 15 + b"\x01\x00\x01",
        ),
        (BoundAddress(bound_type=0x09, raw=b""), b"\x09\x00\x00"),
    ],
    ids=["atyp-0", "atyp-0-raw", "domain", "ipv6", "atyp-9"],
)
def test_bound_address_of_the_reply(
    server: SOCKS5Server, fault: BoundAddress, expected: bytes
) -> None:
    server.add_fault(fault)
    with connect(server.address) as sock:
        sock.sendall(GREETING + request_bytes())
        answer = recv_exactly(sock, 2 + 3 + len(expected))
    assert answer == b"\x05\x00" + b"\x05\x00\x00" + expected


def test_odd_bound_address_on_a_failure_reply(server: SOCKS5Server) -> None:
    """SCENARIOS #4: socksio crashed on an ATYP 0x00 failure reply."""
    server.add_fault(ReplyWith(reply=Reply.GENERAL_FAILURE))
    server.add_fault(BoundAddress(bound_type=0x00))
    with connect(server.address) as sock:
        sock.sendall(GREETING + request_bytes())
        assert recv_all(sock) == b"\x05\x00\x05\x01\x00\x00\x00\x00"


# -- selection ------------------------------------------------------------------------


def test_selection_on_the_greeting_cannot_use_request_fields() -> None:
    with pytest.raises(ValueError, match="before the client has sent host"):
        Stall(at="greeting", host="api.example.test")
    with pytest.raises(ValueError, match="username"):
        ForceMethod(username="alice")


def test_fault_context_manager_and_removal(server: SOCKS5Server) -> None:
    with server.fault(ReplyWith(reply=Reply.TTL_EXPIRED)) as fault:
        assert server.faults == (fault,)
        with connect(server.address) as sock:
            sock.sendall(GREETING + request_bytes())
            assert recv_exactly(sock, 4)[3] == Reply.TTL_EXPIRED
    assert server.faults == ()
    with connect(server.address) as sock:
        sock.sendall(GREETING + request_bytes())
        assert recv_exactly(sock, 4)[3] == Reply.SUCCEEDED


def test_faults_apply_to_socks4_requests(server: SOCKS5Server, echo_server) -> None:
    server.add_fault(Close(at="request"))
    port = echo_server[1].to_bytes(2, "big")
    with connect(server.address) as sock:
        sock.sendall(b"\x04\x01" + port + socket.inet_aton("127.0.0.1") + b"\x00")
        assert recv_all(sock) == b""
