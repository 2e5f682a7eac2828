"""Every handshake path leaves a complete record: exact bytes both ways, timings, how it
ended, where the proxy dialled, and (opt-in) the payload."""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
from collections.abc import Callable

import pytest

from pytest_socks5 import AuthMethod, ConnectionRecord, Outcome, Reply, Socks4Reply, SOCKS5Server
from pytest_socks5.rawclient import handshake, reply_code

from .helpers import (
    connect,
    exchange,
    only_record,
    recv_all,
    recv_exactly,
    socks5_request,
    socks5_tunnel,
)

MakeServer = Callable[..., SOCKS5Server]


@pytest.fixture
def server(make_server: MakeServer) -> SOCKS5Server:
    return make_server(users={"alice": "s3cret"}, host_map={"gone.test": None})


@pytest.fixture
def open_server(make_server: MakeServer) -> SOCKS5Server:
    return make_server()


def conversation(record: ConnectionRecord) -> list[tuple[str, str, bytes]]:
    return [(m.direction, m.name, m.data) for m in record.handshake]


def assert_timeline_in_order(record: ConnectionRecord) -> None:
    times = [m.at for m in record.handshake]
    assert times == sorted(times)
    t = record.timings
    phases = [t.accepted, t.negotiated, t.authenticated, t.requested, t.replied, t.closed]
    reached = [p for p in phases if p is not None]
    assert reached == sorted(reached)
    assert t.accepted == record.started_at
    assert t.closed == record.ended_at


AUTH = b"\x01\x05alice\x06s3cret"


def test_no_auth_tunnel(open_server: SOCKS5Server, echo_server) -> None:
    with socks5_tunnel(open_server.address, *echo_server) as (sock, reply):
        sock.sendall(b"ping")
        assert recv_exactly(sock, 4) == b"ping"
    record = only_record(open_server)
    request = socks5_request(*echo_server)
    assert conversation(record) == [
        ("from_client", "greeting", b"\x05\x01\x00"),
        ("to_client", "method selection", b"\x05\x00"),
        ("from_client", "request", request),
        ("to_client", "reply", reply),
    ]
    assert record.message("request") == request
    assert record.dialled == (echo_server,)
    assert record.upstream_address == echo_server
    assert record.timings.authenticated is None
    assert record.timings.replied is not None
    assert (record.closed_by, record.closed_how) == ("client", "fin")
    assert record.payload_from_client is None, "payload capture is off by default"
    assert_timeline_in_order(record)


def test_username_password(server: SOCKS5Server, echo_server) -> None:
    with socks5_tunnel(server.address, *echo_server, auth=(b"alice", b"s3cret")) as (_, reply):
        pass
    record = only_record(server)
    assert conversation(record)[:4] == [
        ("from_client", "greeting", b"\x05\x01\x02"),
        ("to_client", "method selection", b"\x05\x02"),
        ("from_client", "auth request", AUTH),
        ("to_client", "auth reply", b"\x01\x00"),
    ]
    assert conversation(record)[-1] == ("to_client", "reply", reply)
    assert (record.raw_username, record.raw_password) == (b"alice", b"s3cret")
    assert record.timings.authenticated is not None
    assert_timeline_in_order(record)


def test_wrong_password(server: SOCKS5Server) -> None:
    wrong = b"\x01\x05alice\x04nope"
    assert exchange(server, b"\x05\x01\x02", wrong) == b"\x05\x02\x01\x01"
    record = only_record(server)
    assert conversation(record) == [
        ("from_client", "greeting", b"\x05\x01\x02"),
        ("to_client", "method selection", b"\x05\x02"),
        ("from_client", "auth request", wrong),
        ("to_client", "auth reply", b"\x01\x01"),
    ]
    assert record.outcome is Outcome.AUTH_FAILED
    assert record.timings.requested is None
    assert record.closed_by == "server"
    assert_timeline_in_order(record)


def test_no_acceptable_method(server: SOCKS5Server) -> None:
    assert exchange(server, b"\x05\x01\x00") == b"\x05\xff"
    record = only_record(server)
    assert conversation(record) == [
        ("from_client", "greeting", b"\x05\x01\x00"),
        ("to_client", "method selection", b"\x05\xff"),
    ]
    assert record.chosen_method == AuthMethod.NO_ACCEPTABLE_METHODS
    assert record.timings.negotiated is not None
    assert_timeline_in_order(record)


def test_bytes_that_break_the_protocol_are_kept(open_server: SOCKS5Server) -> None:
    # A TLS ClientHello sent to the proxy itself: neither SOCKS nor HTTP.
    hello = bytes.fromhex("16 03 01 00 05") + b"hello"
    with connect(open_server.address) as sock:
        sock.sendall(hello)
        assert recv_all(sock) == b""
    record = only_record(open_server)
    assert conversation(record) == [("from_client", "unparsed", hello)]
    assert record.outcome is Outcome.PROTOCOL_ERROR
    assert (record.closed_by, record.closed_how) == ("server", "fin")


def test_unknown_address_type_keeps_request_bytes_and_the_answer(
    open_server: SOCKS5Server,
) -> None:
    bad = b"\x05\x01\x00\x09\x01\x02"
    answer = exchange(open_server, b"\x05\x01\x00", bad)
    record = only_record(open_server)
    assert conversation(record)[2:] == [
        ("from_client", "unparsed", bad),
        ("to_client", "reply", answer[2:]),
    ]
    assert record.message("reply") == answer[2:]


def test_a_client_that_closes_mid_handshake_closed_first(open_server: SOCKS5Server) -> None:
    exchange(open_server, b"\x05\x01\x00", b"\x05\x01")
    record = only_record(open_server)
    assert record.outcome is Outcome.PROTOCOL_ERROR
    assert (record.closed_by, record.closed_how) == ("client", "fin")
    assert conversation(record)[-1] == ("from_client", "unparsed", b"\x05\x01")


def test_refused_destination_records_the_dial_and_the_reply(
    open_server: SOCKS5Server, refused_port: int
) -> None:
    answer = exchange(open_server, b"\x05\x01\x00", socks5_request("127.0.0.1", refused_port))
    record = only_record(open_server)
    assert record.dialled == (("127.0.0.1", refused_port),)
    assert record.upstream_address is None
    assert record.message("reply") == answer[2:]
    assert record.reply == Reply.CONNECTION_REFUSED
    assert record.timings.replied is not None
    assert_timeline_in_order(record)


def test_socks4(open_server: SOCKS5Server, echo_server) -> None:
    host, port = echo_server
    request = b"\x04\x01" + port.to_bytes(2, "big") + socket.inet_aton(host) + b"bob\x00"
    with connect(open_server.address) as sock:
        sock.sendall(request)
        reply = recv_exactly(sock, 8)
    record = only_record(open_server)
    assert conversation(record) == [
        ("from_client", "socks4 request", request),
        ("to_client", "socks4 reply", reply),
    ]
    assert record.timings.negotiated is None
    assert record.timings.requested is not None


def test_a_reset_is_recorded_as_rst(open_server: SOCKS5Server, echo_server) -> None:
    with socks5_tunnel(open_server.address, *echo_server) as (sock, _):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    record = only_record(open_server)
    assert (record.closed_by, record.closed_how) == ("client", "rst")
    assert record.outcome is Outcome.RESET


def test_server_stop_records_who_closed(make_server: MakeServer, echo_server) -> None:
    server = make_server()
    with socks5_tunnel(server.address, *echo_server) as (sock, _):
        server.stop()
        recv_all(sock)
    (record,) = server.connections
    assert (record.outcome, record.closed_by, record.closed_how) == (
        Outcome.SERVER_STOPPED,
        "server",
        "fin",
    )


def test_faults_appended_by_the_server_are_frozen_in_order() -> None:
    # Fault injection appends a description for each fault it applies to the live record.
    from pytest_socks5._recorder import Recorder

    recorder = Recorder()
    live = recorder.new(("127.0.0.1", 1))
    live.fault_acted("delay greeting answer 0.5s")
    live.fault_acted("reset after 10 bytes upstream→client")
    (record,) = recorder.snapshot()
    assert record.faults == ("delay greeting answer 0.5s", "reset after 10 bytes upstream→client")


# -- payload capture -----------------------------------------------------------------


def test_payload_capture_keeps_the_first_bytes_each_way(
    make_server: MakeServer, echo_server
) -> None:
    server = make_server(capture_payload=8)
    with socks5_tunnel(server.address, *echo_server) as (sock, _):
        sock.sendall(b"0123456789abcdef")
        assert recv_exactly(sock, 16) == b"0123456789abcdef"
    record = only_record(server)
    assert record.payload_from_client == b"01234567"
    assert record.payload_to_client == b"01234567"
    assert record.bytes_from_client == record.bytes_to_client == 16


def test_payload_capture_can_be_turned_on_per_test(open_server: SOCKS5Server, echo_server) -> None:
    open_server.configure(capture_payload=1024)
    with socks5_tunnel(open_server.address, *echo_server) as (sock, _):
        sock.sendall(b"hello")
        assert recv_exactly(sock, 5) == b"hello"
    record = only_record(open_server)
    assert record.payload_from_client == b"hello"
    open_server.assert_sent(b"ell")
    open_server.assert_received(b"hello")


def test_payload_sent_before_the_reply_is_captured_too(
    make_server: MakeServer, echo_server
) -> None:
    server = make_server(capture_payload=100)
    with connect(server.address) as sock:
        sock.sendall(b"\x05\x01\x00" + socks5_request(*echo_server) + b"early")
        sock.shutdown(socket.SHUT_WR)
        recv_all(sock)
    record = only_record(server)
    assert record.payload_from_client == b"early"
    assert record.payload_to_client == b"early"


# -- faults ----------------------------------------------------------------------------


def test_a_truncated_reply_is_recorded_as_sent(open_server: SOCKS5Server, echo_server) -> None:
    from pytest_socks5.faults import Truncate

    open_server.add_fault(Truncate(at="reply", length=3))
    with connect(open_server.address) as sock:  # no half-close: the proxy closes first
        sock.sendall(b"\x05\x01\x00" + socks5_request(*echo_server))
        answer = recv_all(sock)
    record = only_record(open_server)
    assert answer == b"\x05\x00" + b"\x05\x00\x00"
    assert conversation(record)[-1] == ("to_client", "reply", b"\x05\x00\x00")
    (fault,) = record.faults
    assert "Truncate" in fault
    assert record.outcome is Outcome.FAULT
    assert (record.closed_by, record.closed_how) == ("server", "fin")
    text = record.transcript()
    assert "reply: REP 0x00 (SUCCEEDED), truncated (3 bytes)" in text
    assert f"faults:  {fault}" in text


def test_a_fragmented_answer_is_one_message(open_server: SOCKS5Server, echo_server) -> None:
    from pytest_socks5.faults import Fragment

    open_server.add_fault(Fragment(at="greeting", size=1, delay=0))
    with socks5_tunnel(open_server.address, *echo_server):
        pass
    record = only_record(open_server)
    assert conversation(record)[1] == ("to_client", "method selection", b"\x05\x00")


def test_a_reset_fault_is_the_servers_rst(open_server: SOCKS5Server, echo_server) -> None:
    from pytest_socks5.faults import Close

    open_server.add_fault(Close(at="greeting", reset=True))
    with connect(open_server.address) as sock:
        sock.sendall(b"\x05\x01\x00")
        with pytest.raises(ConnectionResetError):
            recv_all(sock)
    record = only_record(open_server)
    assert (record.outcome, record.closed_by, record.closed_how) == (
        Outcome.FAULT,
        "server",
        "rst",
    )
    assert "ended           fault by server (RST)" in record.transcript()


def test_close_after_bytes_is_the_servers_close(open_server: SOCKS5Server, echo_server) -> None:
    from pytest_socks5.faults import CloseAfter

    open_server.add_fault(CloseAfter(after=4, direction="from_client"))
    with socks5_tunnel(open_server.address, *echo_server) as (sock, _):
        sock.sendall(b"0123456789")
        recv_all(sock)
    record = only_record(open_server)
    assert (record.closed_by, record.closed_how) == ("server", "fin")


def test_capture_wins_over_splice(echo_server) -> None:
    with SOCKS5Server(splice=True, capture_payload=16) as server:
        with socks5_tunnel(server.address, *echo_server) as (sock, _):
            sock.sendall(b"spliced?")
            assert recv_exactly(sock, 8) == b"spliced?"
        record = only_record(server)
    assert record.payload_from_client == b"spliced?"
    assert (record.closed_by, record.closed_how) == ("client", "fin")


def test_a_spliced_tunnel_records_who_closed(echo_server) -> None:
    from pytest_socks5 import _splice

    if not _splice.AVAILABLE:
        pytest.skip("splice(2) is not available here")
    with SOCKS5Server(splice=True) as server:
        with socks5_tunnel(server.address, *echo_server) as (sock, _):
            sock.sendall(b"x")
            assert recv_exactly(sock, 1) == b"x"
        record = only_record(server)
    assert record.payload_from_client is None
    assert (record.closed_by, record.closed_how) == ("client", "fin")


def test_a_reset_passed_on_counts_only_what_reached_the_client(make_server: MakeServer) -> None:
    """The destination sends 256 KiB and resets while the client reads nothing: the proxy
    passes the reset on at once (on every relay and loop), and the bytes it had counted
    but not yet sent to the client — in its buffer, or in the kernel's send queue, or in
    the splice pipe — are lost with the reset and taken back from ``bytes_to_client``."""
    server = make_server()
    size, go = 256 * 1024, threading.Event()
    with socket.create_server(("127.0.0.1", 0)) as target:

        def destination() -> None:
            conn, _ = target.accept()
            with conn:
                go.wait(5)  # the tunnel is open
                conn.sendall(b"x" * size)
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))

        thread = threading.Thread(target=destination, daemon=True)
        thread.start()
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # a client reading slowly
        with sock:
            sock.settimeout(5)
            sock.connect(server.address)
            assert reply_code(handshake(sock, *target.getsockname())) == Reply.SUCCEEDED
            go.set()
            (record,) = server.wait_for_connections(ended=True)  # before the client reads
            received = 0
            with contextlib.suppress(ConnectionResetError):
                while chunk := sock.recv(65536):
                    received += len(chunk)
        thread.join(5)
    assert (record.outcome, record.closed_by, record.closed_how) == (
        Outcome.RESET,
        "upstream",
        "rst",
    )
    assert 0 < received < size
    assert record.bytes_to_client == received


def test_a_reset_while_the_client_reads_reaches_it(make_server: MakeServer) -> None:
    """The destination sends 2 MiB and resets while the client is reading: the client
    gets bytes then the reset (or EOF), never silence (uvloop dropped the splice relay's
    watcher of a socket at its reset, and the tunnel hung). The record counts what the
    client got; a client reading at the very instant of the reset may take up to one
    receive window more between the proxy's last look at its send queue and the RST."""
    server = make_server()
    size, go = 2 * 1024 * 1024, threading.Event()
    with socket.create_server(("127.0.0.1", 0)) as target:

        def destination() -> None:
            conn, _ = target.accept()
            with conn:
                go.wait(5)
                conn.sendall(b"x" * size)
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))

        thread = threading.Thread(target=destination, daemon=True)
        thread.start()
        with socket.socket() as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
            sock.settimeout(5)
            sock.connect(server.address)
            assert reply_code(handshake(sock, *target.getsockname())) == Reply.SUCCEEDED
            go.set()
            received = 0
            with contextlib.suppress(ConnectionResetError):
                while chunk := sock.recv(4096):
                    received += len(chunk)
            window = sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)
        thread.join(5)
    (record,) = server.wait_for_connections(ended=True)
    assert (record.outcome, record.closed_by) == (Outcome.RESET, "upstream")
    assert received - window <= record.bytes_to_client <= received


SOCKS4_HEAD = b"\x04\x01\x00\x07\x7f\x00\x00\x01"
SOCKS4A_HEAD = b"\x04\x01\x00\x07\x00\x00\x00\x01u\x00"


@pytest.mark.parametrize(
    "request_bytes",
    [SOCKS4_HEAD + b"u" * 1100, SOCKS4A_HEAD + b"d" * 1100],
    ids=["userid", "socks4a-domain"],
)
def test_a_socks4_field_too_long_is_a_socks4_refusal(
    open_server: SOCKS5Server, request_bytes: bytes
) -> None:
    # Over 1024 bytes with no NUL: no request is parsed, but the answer is SOCKS 4's.
    with connect(open_server.address) as sock:
        sock.sendall(request_bytes)
        answer = recv_all(sock)
    assert answer == b"\x00\x5b" + b"\x00" * 6
    record = only_record(open_server)
    assert (record.version, record.protocol) == (4, "socks4")
    assert type(record.reply) is Socks4Reply
    assert record.reply == Socks4Reply.REJECTED
    assert [(m.direction, m.name) for m in record.handshake] == [
        ("from_client", "unparsed"),
        ("to_client", "socks4 reply"),
    ]
    assert record.message("socks4 reply") == answer
    assert record.outcome is Outcome.PROTOCOL_ERROR


GREETING = b"\x05\x01\x00"
CONNECT_7 = b"\x01\x00\x01\x7f\x00\x00\x01\x00\x07"


@pytest.mark.parametrize(
    ("messages", "expected"),
    [
        ((GREETING, b"\x04" + CONNECT_7), Reply.GENERAL_FAILURE),
        (
            (GREETING, b"\x05\x01\x00\x09\x7f\x00\x00\x01\x00\x07"),
            Reply.ADDRESS_TYPE_NOT_SUPPORTED,
        ),
        ((GREETING, b"\x05\x01\x00\x03\x00\x00\x07"), Reply.GENERAL_FAILURE),
        ((SOCKS4A_HEAD + b"\x00",), Socks4Reply.REJECTED),
    ],
    ids=["request-version-4", "atyp-9", "empty-domain", "socks4a-empty-domain"],
)
def test_a_parse_error_records_the_reply_as_its_enum_member(
    open_server: SOCKS5Server, messages: tuple[bytes, ...], expected: int
) -> None:
    exchange(open_server, *messages)
    record = only_record(open_server)
    assert record.reply == expected
    assert type(record.reply) is type(expected)  # as every other path records it
