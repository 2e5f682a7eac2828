"""Every handshake path over real loopback sockets: the RFC's answer, then close."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from pytest_socks5 import AddressType, Outcome, Reply, SOCKS5Server

from .helpers import connect, exchange, only_record, recv_all, recv_exactly, socks5_request


@pytest.fixture
def server() -> Iterator[SOCKS5Server]:
    with SOCKS5Server(host_map={"gone.example.test": None}) as server:
        yield server


@pytest.fixture
def auth_server() -> Iterator[SOCKS5Server]:
    with SOCKS5Server(users={"alice": "s3cret"}) as server:
        yield server


def failure(rep: int) -> bytes:
    return bytes.fromhex(f"05 {rep:02x} 00 01 00000000 0000")


# -- greeting ------------------------------------------------------------------------


def test_an_http_request_that_is_not_a_proxy_request_is_a_400(server: SOCKS5Server) -> None:
    """An upper-case first byte is HTTP (the proxy's own port asked for a page): HTTP's
    answer, not SOCKS's silence."""
    answer = exchange(server, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 400 Bad Request\r\n")
    record = only_record(server, timeout=5)
    assert (record.protocol, record.outcome) == ("http", Outcome.PROTOCOL_ERROR)
    assert record.http_request == "GET / HTTP/1.1"
    assert record.http_status == 400


@pytest.mark.parametrize(
    "greeting",
    [b"\x06\x01\x00", b"\x00", b"\xff\xff", b"\x16\x03\x01\x00\x05hello"],
    ids=["version-6", "version-0", "garbage", "tls"],
)
def test_a_version_other_than_5_is_closed_without_an_answer(
    server: SOCKS5Server, greeting: bytes
) -> None:
    assert exchange(server, greeting) == b""
    record = only_record(server, timeout=5)
    assert record.outcome is Outcome.PROTOCOL_ERROR
    assert "VER" in (record.error or "")


@pytest.mark.parametrize(
    "methods", [b"", b"\x02", b"\x01\x80\xfe"], ids=["none", "userpass", "others"]
)
def test_no_acceptable_method_gets_05_ff_then_close(server: SOCKS5Server, methods: bytes) -> None:
    assert exchange(server, bytes((5, len(methods))) + methods) == b"\x05\xff"
    record = only_record(server, timeout=5)
    assert record.outcome is Outcome.NO_ACCEPTABLE_METHOD
    assert record.offered_methods == tuple(methods)
    assert record.chosen_method == 0xFF


def test_auth_server_refuses_a_client_offering_only_no_auth(auth_server: SOCKS5Server) -> None:
    assert exchange(auth_server, b"\x05\x01\x00") == b"\x05\xff"


def test_the_method_chosen_is_one_the_client_offered(server: SOCKS5Server) -> None:
    assert exchange(server, b"\x05\x03\x02\x01\x00")[:2] == b"\x05\x00"


def test_truncated_greeting_is_recorded_as_protocol_error(server: SOCKS5Server) -> None:
    assert exchange(server, b"\x05\x03\x00") == b""
    record = only_record(server, timeout=5)
    assert record.outcome is Outcome.PROTOCOL_ERROR
    assert "05 03 00" in (record.error or "")


# -- RFC 1929 ------------------------------------------------------------------------


def auth(user: bytes, password: bytes, version: int = 1) -> bytes:
    return bytes((version, len(user))) + user + bytes((len(password),)) + password


def test_right_credentials_pass_and_are_recorded(auth_server: SOCKS5Server, echo_server) -> None:
    answer = exchange(
        auth_server, b"\x05\x01\x02", auth(b"alice", b"s3cret"), socks5_request(*echo_server)
    )
    assert answer[:4] == b"\x05\x02\x01\x00"
    assert answer[4:6] == b"\x05\x00"
    record = only_record(auth_server, timeout=5)
    assert record.username == "alice"
    assert record.raw_password == b"s3cret"
    assert record.authenticated is True


@pytest.mark.parametrize(
    ("user", "password"),
    [
        (b"alice", b"wrong"),
        (b"bob", b"s3cret"),
        (b"alice", b""),
        (b"", b""),
        (b"alice", b"s3cret\x00"),
    ],
)
def test_wrong_credentials_get_a_nonzero_status_then_close(
    auth_server: SOCKS5Server, user: bytes, password: bytes
) -> None:
    answer = exchange(
        auth_server, b"\x05\x01\x02", auth(user, password), socks5_request("127.0.0.1", 9)
    )
    assert answer[:2] == b"\x05\x02"
    assert answer[2] == 0x01
    assert answer[3] != 0x00
    assert len(answer) == 4, "nothing may follow a failed sub-negotiation"
    record = only_record(auth_server, timeout=5)
    assert record.outcome is Outcome.AUTH_FAILED
    assert record.raw_username == user
    assert record.raw_password == password
    assert record.command is None


def test_subnegotiation_with_wrong_version_fails(auth_server: SOCKS5Server) -> None:
    assert (
        exchange(auth_server, b"\x05\x01\x02", auth(b"alice", b"s3cret", version=5))
        == b"\x05\x02\x01\x01"
    )
    record = only_record(auth_server, timeout=5)
    assert record.outcome is Outcome.PROTOCOL_ERROR


def test_validator_decides_on_unknown_users() -> None:
    seen = []

    def validator(user: str, password: str) -> bool:
        seen.append((user, password))
        return password == user[::-1]

    with SOCKS5Server(validator=validator) as server:
        assert exchange(server, b"\x05\x01\x02", auth(b"abc", b"cba"))[2:] == b"\x01\x00"
        assert exchange(server, b"\x05\x01\x02", auth("é".encode(), b"x"))[2:] == b"\x01\x01"
    assert seen == [("abc", "cba"), ("é", "x")]


def test_several_users() -> None:
    with SOCKS5Server(users={"a": "1", "b": "2"}) as server:
        assert exchange(server, b"\x05\x01\x02", auth(b"b", b"2"))[2:] == b"\x01\x00"
        assert exchange(server, b"\x05\x01\x02", auth(b"b", b"1"))[2:] == b"\x01\x01"


# -- request -------------------------------------------------------------------------

GREETING = b"\x05\x01\x00"


@pytest.mark.parametrize("command", [0x00, 0x04, 0xFF])
def test_unsupported_command_gets_rep_07(server: SOCKS5Server, echo_server, command: int) -> None:
    answer = exchange(server, GREETING, socks5_request(*echo_server, command=command))
    assert answer == b"\x05\x00" + failure(Reply.COMMAND_NOT_SUPPORTED)
    record = only_record(server, timeout=5)
    assert record.command == command
    assert record.reply == Reply.COMMAND_NOT_SUPPORTED
    assert record.upstream_address is None


@pytest.mark.parametrize("atyp", [0x00, 0x02, 0x05, 0xFF])
def test_unknown_address_type_gets_rep_08(server: SOCKS5Server, atyp: int) -> None:
    answer = exchange(server, GREETING, bytes((5, 1, 0, atyp, 127, 0, 0, 1, 0, 80)))
    assert answer == b"\x05\x00" + failure(Reply.ADDRESS_TYPE_NOT_SUPPORTED)
    record = only_record(server, timeout=5)
    assert record.outcome is Outcome.PROTOCOL_ERROR
    assert record.reply == Reply.ADDRESS_TYPE_NOT_SUPPORTED


@pytest.mark.parametrize(
    "raw",
    [b"", b"local\x00host", b"\xff\xfe", b"a\nb"],
    ids=["empty", "nul", "not-utf8", "control"],
)
def test_unusable_domain_gets_a_failure_reply_and_no_dial(
    server: SOCKS5Server, raw: bytes
) -> None:
    request = bytes((5, 1, 0, 3, len(raw))) + raw + b"\x00\x50"
    answer = exchange(server, GREETING, request)
    assert answer == b"\x05\x00" + failure(Reply.GENERAL_FAILURE)
    record = only_record(server, timeout=5)
    assert record.raw_address == raw
    assert record.address_type == AddressType.DOMAIN
    assert record.upstream_address is None


def test_a_domain_in_brackets_is_refused_as_written(server: SOCKS5Server) -> None:
    request = bytes((5, 1, 0, 3, 5)) + b"[::1]" + b"\x00\x07"
    answer = exchange(server, GREETING, request)
    assert answer == b"\x05\x00" + failure(Reply.CONNECTION_NOT_ALLOWED)
    record = only_record(server, timeout=5)
    assert (record.host, record.address_type) == ("[::1]", AddressType.DOMAIN)
    assert (record.error or "").startswith("CONNECT [::1]:7 denied by the hermetic default")


def test_request_with_wrong_version_gets_general_failure(server: SOCKS5Server) -> None:
    answer = exchange(server, GREETING, b"\x04\x01\x00\x01\x7f\x00\x00\x01\x00\x50")
    assert answer == b"\x05\x00" + failure(Reply.GENERAL_FAILURE)


def test_truncated_request_is_closed_and_recorded(server: SOCKS5Server) -> None:
    assert exchange(server, GREETING, b"\x05\x01\x00\x03\x09local") == b"\x05\x00"
    record = only_record(server, timeout=5)
    assert record.outcome is Outcome.PROTOCOL_ERROR
    assert "request" in (record.error or "")


def test_refused_destination_gets_rep_05(server: SOCKS5Server, refused_port: int) -> None:
    answer = exchange(server, GREETING, socks5_request("127.0.0.1", refused_port))
    assert answer == b"\x05\x00" + failure(Reply.CONNECTION_REFUSED)
    record = only_record(server, timeout=5)
    assert record.outcome is Outcome.REJECTED
    assert record.reply == Reply.CONNECTION_REFUSED


def test_refused_ipv6_destination_gets_rep_05(server: SOCKS5Server) -> None:
    from .helpers import closed_port

    with closed_port("::1") as port:
        answer = exchange(server, GREETING, socks5_request("::1", port))
    assert answer == b"\x05\x00" + failure(Reply.CONNECTION_REFUSED)
    record = only_record(server, timeout=5)
    assert record.address_type == AddressType.IPV6
    assert record.raw_address == b"\x00" * 15 + b"\x01"
    assert record.error is not None
    assert record.error.startswith(f"dialling [::1]:{port} failed: ")  # bracketed


def test_unresolvable_name_gets_rep_04_without_a_lookup(server: SOCKS5Server) -> None:
    answer = exchange(server, GREETING, socks5_request("gone.example.test", 80))
    assert answer == b"\x05\x00" + failure(Reply.HOST_UNREACHABLE)


def test_dial_timeout_gets_rep_06() -> None:
    """A listener whose accept queue is full drops SYNs, so a connect to it times out."""
    with socket.socket() as full:
        full.bind(("127.0.0.1", 0))
        full.listen(0)
        fillers = []
        try:
            for _ in range(8):
                s = socket.socket()
                s.setblocking(False)
                s.connect_ex(full.getsockname())
                fillers.append(s)
            with SOCKS5Server(connect_timeout=0.3) as server:
                answer = exchange(server, GREETING, socks5_request(*full.getsockname()))
                record = only_record(server, timeout=5)
        finally:
            for s in fillers:
                s.close()
    assert answer == b"\x05\x00" + failure(Reply.TTL_EXPIRED)
    assert record.reply == Reply.TTL_EXPIRED


def test_handshake_timeout_closes_idle_clients() -> None:
    with SOCKS5Server(handshake_timeout=0.2) as server, connect(server.address) as sock:
        sock.sendall(b"\x05\x01")
        assert recv_all(sock) == b""
        record = only_record(server, timeout=5)
    assert record.outcome is Outcome.TIMEOUT


@pytest.mark.parametrize(
    ("sent", "unparsed"),
    [
        ([b"\x05\x01"], b"\x05\x01"),  # a greeting cut short
        ([GREETING, b"\x05\x01\x00\x03\x09echo"], b"\x05\x01\x00\x03\x09echo"),  # a request
        ([b"\x04\x01\x00\x07\x7f\x00\x00\x01us"], b"\x04\x01\x00\x07\x7f\x00\x00\x01us"),
    ],
    ids=["greeting", "request", "socks4-request"],
)
def test_handshake_timeout_keeps_the_bytes_it_cut_short(
    sent: list[bytes], unparsed: bytes
) -> None:
    with SOCKS5Server(handshake_timeout=0.2) as server, connect(server.address) as sock:
        for data in sent[:-1]:
            sock.sendall(data)
            recv_exactly(sock, 2)  # the method selection: the next bytes are the request
        sock.sendall(sent[-1])
        assert recv_all(sock) == b""
        record = only_record(server, timeout=5)
    assert record.outcome is Outcome.TIMEOUT
    last = record.handshake[-1]
    assert (last.direction, last.name, last.data) == ("from_client", "unparsed", unparsed)


def test_success_reply_carries_the_real_bound_address(server: SOCKS5Server, echo_server) -> None:
    with connect(server.address) as sock:
        sock.sendall(GREETING + socks5_request(*echo_server))
        answer = recv_exactly(sock, 12)
        record = server.wait_for_connections(1)[0]
    assert answer[2:5] == b"\x05\x00\x00"
    assert answer[5] == AddressType.IPV4
    bound = (socket.inet_ntoa(answer[6:10]), int.from_bytes(answer[10:12], "big"))
    assert bound == record.bound_address
    assert bound[1] != 0


def test_bad_input_does_not_disturb_other_connections(server: SOCKS5Server, echo_server) -> None:
    with connect(server.address) as good:
        good.sendall(GREETING + socks5_request(*echo_server))
        assert recv_exactly(good, 12)[:3] == b"\x05\x00\x05"
        for garbage in (
            b"\x05\xff" + b"\x00" * 300,
            b"\x05\x01\x00\x05\x01\x00\xff",
            b"\x00" * 10,
        ):
            exchange(server, garbage)
        good.sendall(b"still alive")
        assert recv_exactly(good, 11) == b"still alive"
    assert server.errors == []
