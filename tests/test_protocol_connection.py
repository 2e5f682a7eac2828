"""The server-side state machine: every row of TRANSITIONS, turns, errors, trailing data."""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

import pytest

from pytest_socks5._protocol import (
    NEED_DATA,
    PAUSED,
    TRANSITIONS,
    AuthReply,
    AuthRequest,
    Greeting,
    LocalProtocolError,
    MethodSelection,
    RemoteProtocolError,
    Request,
    ServerConnection,
    ServerReply,
    Socks4Request,
    Socks4Response,
    State,
)

GREETING_NO_AUTH = b"\x05\x01\x00"
GREETING_USER_PASS = b"\x05\x02\x00\x02"
AUTH = b"\x01\x05alice\x06s3cret"
CONNECT = bytes.fromhex("05 01 00 01 7f 00 00 01 00 50")
BIND = bytes.fromhex("05 02 00 01 00 00 00 00 00 00")
SOCKS4_CONNECT = bytes.fromhex("04 01 00 50 7f 00 00 01") + b"alice\x00"
SOCKS4_BIND = bytes.fromhex("04 02 00 50 7f 00 00 01 00")
SOCKS4A_CONNECT = bytes.fromhex("04 01 01 bb 00 00 00 01 00") + b"example.com\x00"

GENERAL_FAILURE = bytes.fromhex("05 01 00 01 00 00 00 00 00 00")
ADDRESS_TYPE_NOT_SUPPORTED = bytes.fromhex("05 08 00 01 00 00 00 00 00 00")
SOCKS4_REJECTED = bytes.fromhex("00 5b 00 00 00 00 00 00")

ServerMessage = MethodSelection | AuthReply | ServerReply | Socks4Response
Step = bytes | ServerMessage


def run(conn: ServerConnection, steps: list[Step]) -> None:
    """Client bytes must each yield exactly one message; server messages are sent."""
    for step in steps:
        if isinstance(step, bytes):
            conn.receive_data(step)
            event = conn.next_event()
            assert event is not NEED_DATA
            assert event is not PAUSED
        else:
            conn.send(step)


def at(steps: list[Step], *, socks4: bool = True) -> ServerConnection:
    conn = ServerConnection(socks4=socks4)
    run(conn, steps)
    return conn


NO_AUTH_REQUEST: list[Step] = [GREETING_NO_AUTH, MethodSelection(method=0)]
USER_PASS: list[Step] = [GREETING_USER_PASS, MethodSelection(method=2)]
AUTHED_REQUEST: list[Step] = [*USER_PASS, AUTH, AuthReply(status=0)]
BIND_WAITING: list[Step] = [*NO_AUTH_REQUEST, BIND, ServerReply(reply=0)]
SOCKS4_BIND_WAITING: list[Step] = [SOCKS4_BIND, Socks4Response()]


@dataclass(frozen=True)
class Row:
    """A walk that ends with the step taking the ``row`` transition to ``expected``."""

    row: tuple[State, str]
    before: list[Step]
    step: Step
    expected: State


ROWS = [
    pytest.param(
        Row((State.GREETING, "Greeting"), [], GREETING_NO_AUTH, State.SELECT_METHOD),
        id="greeting",
    ),
    pytest.param(
        Row((State.GREETING, "Socks4Request"), [], SOCKS4_CONNECT, State.SOCKS4_REPLY),
        id="socks4-request",
    ),
    pytest.param(
        Row((State.GREETING, "Socks4Request"), [], SOCKS4A_CONNECT, State.SOCKS4_REPLY),
        id="socks4a-request",
    ),
    pytest.param(
        Row(
            (State.SELECT_METHOD, "method: no authentication"),
            [GREETING_NO_AUTH],
            MethodSelection(method=0x00),
            State.REQUEST,
        ),
        id="select-no-auth",
    ),
    pytest.param(
        Row(
            (State.SELECT_METHOD, "method: username/password"),
            [GREETING_USER_PASS],
            MethodSelection(method=0x02),
            State.AUTH_REQUEST,
        ),
        id="select-user-pass",
    ),
    *[
        pytest.param(
            Row(
                (State.SELECT_METHOD, "method: refused or unsupported"),
                [GREETING_NO_AUTH],
                MethodSelection(method=method),
                State.CLOSED,
            ),
            id=f"select-0x{method:02x}",
        )
        for method in (0xFF, 0x01, 0x80)
    ],
    pytest.param(
        Row((State.AUTH_REQUEST, "AuthRequest"), USER_PASS, AUTH, State.AUTH_REPLY),
        id="auth-request",
    ),
    pytest.param(
        Row(
            (State.AUTH_REPLY, "auth: success"),
            [*USER_PASS, AUTH],
            AuthReply(status=0x00),
            State.REQUEST,
        ),
        id="auth-success",
    ),
    *[
        pytest.param(
            Row(
                (State.AUTH_REPLY, "auth: failure"),
                [*USER_PASS, AUTH],
                AuthReply(status=status),
                State.CLOSED,
            ),
            id=f"auth-failure-0x{status:02x}",
        )
        for status in (0x01, 0xFF)
    ],
    pytest.param(
        Row((State.REQUEST, "Request"), NO_AUTH_REQUEST, CONNECT, State.REPLY),
        id="request-no-auth",
    ),
    pytest.param(
        Row((State.REQUEST, "Request"), AUTHED_REQUEST, CONNECT, State.REPLY),
        id="request-after-auth",
    ),
    pytest.param(
        Row(
            (State.REPLY, "reply: succeeded"),
            [*NO_AUTH_REQUEST, CONNECT],
            ServerReply(reply=0),
            State.ESTABLISHED,
        ),
        id="connect-succeeded",
    ),
    pytest.param(
        Row(
            (State.REPLY, "reply: succeeded"),
            [*NO_AUTH_REQUEST, bytes.fromhex("05 03 00 01 00 00 00 00 00 00")],
            ServerReply(reply=0, host="127.0.0.1", port=40000),
            State.ESTABLISHED,
        ),
        id="udp-associate-succeeded",
    ),
    pytest.param(
        Row(
            (State.REPLY, "reply: BIND listening"),
            [*NO_AUTH_REQUEST, BIND],
            ServerReply(reply=0, host="127.0.0.1", port=40000),
            State.BIND_SECOND_REPLY,
        ),
        id="bind-first-reply",
    ),
    *[
        pytest.param(
            Row(
                (State.REPLY, "reply: failure"),
                [*NO_AUTH_REQUEST, request],
                ServerReply(reply=rep),
                State.CLOSED,
            ),
            id=f"{name}-rep-0x{rep:02x}",
        )
        for name, request, rep in [
            ("connect", CONNECT, 0x05),
            ("connect", CONNECT, 0x01),
            ("bind", BIND, 0x01),
            ("unknown-cmd", bytes.fromhex("05 09 00 01 7f 00 00 01 00 50"), 0x07),
        ]
    ],
    pytest.param(
        Row(
            (State.BIND_SECOND_REPLY, "reply: succeeded"),
            BIND_WAITING,
            ServerReply(reply=0, host="192.0.2.1", port=5000),
            State.ESTABLISHED,
        ),
        id="bind-second-reply",
    ),
    pytest.param(
        Row(
            (State.BIND_SECOND_REPLY, "reply: failure"),
            BIND_WAITING,
            ServerReply(reply=0x06),
            State.CLOSED,
        ),
        id="bind-second-reply-ttl-expired",
    ),
    pytest.param(
        Row(
            (State.SOCKS4_REPLY, "socks4: granted"),
            [SOCKS4_CONNECT],
            Socks4Response(),
            State.ESTABLISHED,
        ),
        id="socks4-granted",
    ),
    pytest.param(
        Row(
            (State.SOCKS4_REPLY, "socks4: BIND listening"),
            [SOCKS4_BIND],
            Socks4Response(port=40000, ip="127.0.0.1"),
            State.SOCKS4_BIND_SECOND_REPLY,
        ),
        id="socks4-bind-first-reply",
    ),
    *[
        pytest.param(
            Row(
                (State.SOCKS4_REPLY, "socks4: rejected"),
                [request],
                Socks4Response(status=status),
                State.CLOSED,
            ),
            id=f"{name}-0x{status:02x}",
        )
        for name, request, status in [
            ("socks4-rejected", SOCKS4_CONNECT, 0x5B),
            ("socks4-identd-unreachable", SOCKS4_CONNECT, 0x5C),
            ("socks4a-rejected", SOCKS4A_CONNECT, 0x5B),
            ("socks4-bind-rejected", SOCKS4_BIND, 0x5B),
        ]
    ],
    pytest.param(
        Row(
            (State.SOCKS4_BIND_SECOND_REPLY, "socks4: granted"),
            SOCKS4_BIND_WAITING,
            Socks4Response(port=5000, ip="192.0.2.1"),
            State.ESTABLISHED,
        ),
        id="socks4-bind-second-granted",
    ),
    pytest.param(
        Row(
            (State.SOCKS4_BIND_SECOND_REPLY, "socks4: rejected"),
            SOCKS4_BIND_WAITING,
            Socks4Response(status=0x5B),
            State.CLOSED,
        ),
        id="socks4-bind-second-rejected",
    ),
]


@pytest.mark.parametrize("case", ROWS)
def test_transition(case: Row) -> None:
    conn = at(case.before)
    assert conn.state is case.row[0]
    run(conn, [case.step])
    assert conn.state is case.expected
    assert TRANSITIONS[case.row] is case.expected


def test_every_row_of_the_table_is_exercised() -> None:
    exercised = {cast(Row, param.values[0]).row for param in ROWS}
    assert exercised == set(TRANSITIONS)


def test_every_state_is_reachable_from_greeting() -> None:
    reached, frontier = {State.GREETING}, [State.GREETING]
    while frontier:
        state = frontier.pop()
        for (source, _), target in TRANSITIONS.items():
            if source is state and target not in reached:
                reached.add(target)
                frontier.append(target)
    assert reached == set(State)


def test_terminal_states_have_no_way_out() -> None:
    sources = {source for source, _ in TRANSITIONS}
    assert State.ESTABLISHED not in sources
    assert State.CLOSED not in sources


def test_send_returns_the_wire_bytes() -> None:
    conn = ServerConnection()
    conn.receive_data(GREETING_USER_PASS)
    assert conn.next_event() == Greeting(methods=(0, 2))
    assert conn.send(MethodSelection(method=2)) == b"\x05\x02"
    conn.receive_data(AUTH)
    assert conn.next_event() == AuthRequest(username=b"alice", password=b"s3cret")
    assert conn.send(AuthReply(status=0)) == b"\x01\x00"
    conn.receive_data(CONNECT)
    event = conn.next_event()
    assert isinstance(event, Request)
    assert (event.host, event.port) == ("127.0.0.1", 80)
    assert conn.request == event
    assert conn.send(ServerReply(reply=0, host="10.0.0.1", port=1080)) == bytes.fromhex(
        "05 00 00 01 0a 00 00 01 04 38"
    )
    assert conn.state is State.ESTABLISHED


def test_socks4_request_is_recorded() -> None:
    conn = ServerConnection()
    conn.receive_data(SOCKS4A_CONNECT)
    event = conn.next_event()
    assert isinstance(event, Socks4Request)
    assert event.is_4a
    assert (event.host, event.port) == ("example.com", 443)
    assert conn.request == event
    assert conn.send(Socks4Response(port=443, ip="192.0.2.1")) == bytes.fromhex(
        "00 5a 01 bb c0 00 02 01"
    )


# -- turns -----------------------------------------------------------------------------------

OUT_OF_TURN = [
    pytest.param([], MethodSelection(method=0), id="method-before-greeting"),
    pytest.param([], Socks4Response(), id="socks4-before-request"),
    pytest.param([GREETING_NO_AUTH], AuthReply(status=0), id="auth-reply-for-greeting"),
    pytest.param([GREETING_NO_AUTH], ServerReply(reply=0), id="reply-for-greeting"),
    pytest.param(NO_AUTH_REQUEST, ServerReply(reply=0), id="reply-before-request"),
    pytest.param(NO_AUTH_REQUEST, MethodSelection(method=0), id="second-method"),
    pytest.param(USER_PASS, AuthReply(status=0), id="auth-reply-before-auth-request"),
    pytest.param([*USER_PASS, AUTH], ServerReply(reply=0), id="reply-for-auth"),
    pytest.param([*USER_PASS, AUTH], MethodSelection(method=0), id="method-for-auth"),
    pytest.param([*NO_AUTH_REQUEST, CONNECT], AuthReply(status=0), id="auth-reply-for-request"),
    pytest.param([*NO_AUTH_REQUEST, CONNECT], Socks4Response(), id="socks4-for-socks5"),
    pytest.param([SOCKS4_CONNECT], ServerReply(reply=0), id="socks5-for-socks4"),
    pytest.param([SOCKS4_CONNECT], MethodSelection(method=0), id="method-for-socks4"),
    pytest.param(
        [*NO_AUTH_REQUEST, CONNECT, ServerReply(reply=0)],
        ServerReply(reply=0),
        id="reply-when-established",
    ),
    pytest.param(
        [*NO_AUTH_REQUEST, CONNECT, ServerReply(reply=1)],
        ServerReply(reply=1),
        id="reply-when-closed",
    ),
    pytest.param(
        [GREETING_NO_AUTH, MethodSelection(method=0xFF)],
        MethodSelection(method=0),
        id="method-after-refusal",
    ),
    pytest.param(
        [*BIND_WAITING, ServerReply(reply=0)], ServerReply(reply=0), id="third-bind-reply"
    ),
]


@pytest.mark.parametrize(("before", "message"), OUT_OF_TURN)
def test_out_of_turn_send_raises(before: list[Step], message: ServerMessage) -> None:
    conn = at(before)
    with pytest.raises(LocalProtocolError, match=conn.state.name):
        conn.send(message)


@pytest.mark.parametrize(
    ("before", "message"),
    [
        pytest.param(BIND_WAITING, Socks4Response(), id="socks4-reply-to-socks5-bind"),
        pytest.param(SOCKS4_BIND_WAITING, ServerReply(reply=0), id="socks5-reply-to-socks4-bind"),
    ],
)
def test_second_bind_reply_must_match_the_protocol(
    before: list[Step], message: ServerMessage
) -> None:
    conn = at(before)
    with pytest.raises(LocalProtocolError):
        conn.send(message)


@pytest.mark.parametrize(
    "before",
    [
        pytest.param([GREETING_NO_AUTH], id="select-method"),
        pytest.param([*USER_PASS, AUTH], id="auth-reply"),
        pytest.param([*NO_AUTH_REQUEST, CONNECT], id="reply"),
        pytest.param(BIND_WAITING, id="bind-second-reply"),
        pytest.param([SOCKS4_CONNECT], id="socks4-reply"),
        pytest.param([*NO_AUTH_REQUEST, CONNECT, ServerReply(reply=0)], id="established"),
    ],
)
def test_next_event_pauses_when_it_is_not_the_clients_turn(before: list[Step]) -> None:
    conn = at(before)
    state = conn.state
    conn.receive_data(CONNECT)  # a whole, valid-looking message must not be parsed now
    assert conn.next_event() is PAUSED
    assert conn.state is state
    assert conn.trailing_data == (CONNECT, False)


@pytest.mark.parametrize(
    ("before", "partial"),
    [
        pytest.param([], b"", id="greeting-nothing"),
        pytest.param([], b"\x05", id="greeting-ver"),
        pytest.param([], b"\x05\x02\x00", id="greeting-methods"),
        pytest.param([], SOCKS4_CONNECT[:-1], id="socks4-userid"),
        pytest.param([], SOCKS4A_CONNECT[:-1], id="socks4a-domain"),
        pytest.param(USER_PASS, AUTH[:-1], id="auth-request"),
        pytest.param(NO_AUTH_REQUEST, CONNECT[:-1], id="request"),
    ],
)
def test_next_event_needs_data_while_incomplete(before: list[Step], partial: bytes) -> None:
    conn = at(before)
    state = conn.state
    if partial:
        conn.receive_data(partial)
    assert conn.next_event() is NEED_DATA
    assert conn.next_event() is NEED_DATA
    assert conn.state is state


def test_greeting_byte_by_byte() -> None:
    conn = ServerConnection()
    for byte in GREETING_USER_PASS[:-1]:
        conn.receive_data(bytes((byte,)))
        assert conn.next_event() is NEED_DATA
    conn.receive_data(GREETING_USER_PASS[-1:])
    assert conn.next_event() == Greeting(methods=(0, 2))


def test_pipelined_greeting_auth_and_request_in_one_read() -> None:
    conn = ServerConnection()
    conn.receive_data(GREETING_USER_PASS + AUTH + CONNECT + b"GET / HTTP/1.0\r\n\r\n")
    assert conn.next_event() == Greeting(methods=(0, 2))
    assert conn.next_event() is PAUSED
    conn.send(MethodSelection(method=2))
    assert conn.next_event() == AuthRequest(username=b"alice", password=b"s3cret")
    assert conn.next_event() is PAUSED
    conn.send(AuthReply(status=0))
    request = conn.next_event()
    assert isinstance(request, Request)
    assert (request.host, request.port) == ("127.0.0.1", 80)
    assert conn.next_event() is PAUSED
    conn.send(ServerReply(reply=0))
    assert conn.trailing_data == (b"GET / HTTP/1.0\r\n\r\n", False)


@pytest.mark.parametrize(
    ("payload", "eof"),
    [
        pytest.param(b"", False, id="nothing"),
        pytest.param(b"", True, id="eof-only"),
        pytest.param(b"hello", False, id="payload"),
        pytest.param(b"hello", True, id="payload-then-eof"),
        pytest.param(b"\x05\x01\x00", False, id="payload-looks-like-greeting"),
    ],
)
def test_trailing_data_after_the_request(payload: bytes, eof: bool) -> None:
    conn = ServerConnection()
    conn.receive_data(GREETING_NO_AUTH)
    conn.next_event()
    conn.send(MethodSelection(method=0))
    conn.receive_data(CONNECT + payload)
    if eof:
        conn.receive_data(b"")
    assert isinstance(conn.next_event(), Request)
    assert conn.client_eof is eof
    conn.send(ServerReply(reply=0))
    assert conn.state is State.ESTABLISHED
    assert conn.trailing_data == (payload, eof)


def test_trailing_data_after_a_socks4_request() -> None:
    conn = ServerConnection()
    conn.receive_data(SOCKS4_CONNECT + b"payload")
    conn.receive_data(b"")
    assert isinstance(conn.next_event(), Socks4Request)
    conn.send(Socks4Response())
    assert conn.trailing_data == (b"payload", True)


def test_a_message_complete_before_eof_is_still_delivered() -> None:
    conn = ServerConnection()
    conn.receive_data(GREETING_NO_AUTH)
    conn.receive_data(b"")
    assert conn.next_event() == Greeting(methods=(0,))
    conn.send(MethodSelection(method=0))
    with pytest.raises(RemoteProtocolError, match="request"):
        conn.next_event()


# -- the client breaks the protocol ------------------------------------------------------------

REMOTE_ERRORS = [
    pytest.param([], b"\x06\x01\x00", b"", id="greeting-ver-0x06"),
    pytest.param([], b"\x00\x00", b"", id="greeting-ver-0x00"),
    pytest.param([], b"GET / HTTP/1.1\r\n", b"", id="http-instead-of-socks"),
    pytest.param(USER_PASS, b"\x05\x05alice\x06s3cret", b"\x01\x01", id="auth-ver-0x05"),
    pytest.param(NO_AUTH_REQUEST, b"\x04\x01\x00\x01", GENERAL_FAILURE, id="request-ver-0x04"),
    pytest.param(NO_AUTH_REQUEST, AUTH, GENERAL_FAILURE, id="auth-instead-of-request"),
    pytest.param(
        NO_AUTH_REQUEST, b"\x05\x01\x00\x00", ADDRESS_TYPE_NOT_SUPPORTED, id="request-atyp-0x00"
    ),
    pytest.param(
        NO_AUTH_REQUEST, b"\x05\x01\x00\x03\x00\x00\x50", GENERAL_FAILURE, id="empty-domain"
    ),
    pytest.param(
        [], bytes.fromhex("04 01 00 50 00 00 00 01 00 00"), SOCKS4_REJECTED, id="socks4a-empty"
    ),
    pytest.param(
        [],
        bytes.fromhex("04 01 00 50 7f 00 00 01") + b"u" * 2000,
        SOCKS4_REJECTED,
        id="socks4-userid-too-long",
    ),
]


@pytest.mark.parametrize(("before", "data", "response"), REMOTE_ERRORS)
def test_remote_error_carries_the_rfc_answer_and_closes(
    before: list[Step], data: bytes, response: bytes
) -> None:
    conn = at(before)
    conn.receive_data(data)
    with pytest.raises(RemoteProtocolError) as info:
        conn.next_event()
    assert info.value.response == response
    assert conn.state is State.CLOSED
    with pytest.raises(LocalProtocolError):
        conn.next_event()
    with pytest.raises(LocalProtocolError):
        conn.send(ServerReply(reply=1))


def test_bad_domain_error_carries_the_request() -> None:
    conn = at(NO_AUTH_REQUEST)
    conn.receive_data(b"\x05\x01\x00\x03\x05a\x00b\r\n\x01\xbb")
    with pytest.raises(RemoteProtocolError) as info:
        conn.next_event()
    assert info.value.response == GENERAL_FAILURE
    assert info.value.request is not None
    assert info.value.request.raw_address == b"a\x00b\r\n"
    assert info.value.request.port == 443


def test_socks4_disabled_treats_version_4_as_a_bad_greeting() -> None:
    conn = ServerConnection(socks4=False)
    conn.receive_data(SOCKS4_CONNECT)
    with pytest.raises(RemoteProtocolError) as info:
        conn.next_event()
    assert info.value.response == b""
    assert "0x04" in str(info.value)
    assert conn.state is State.CLOSED


def test_socks4_only_recognised_as_the_first_message() -> None:
    conn = at(NO_AUTH_REQUEST)
    conn.receive_data(SOCKS4_CONNECT)
    with pytest.raises(RemoteProtocolError) as info:
        conn.next_event()
    assert info.value.response == GENERAL_FAILURE


@pytest.mark.parametrize(
    ("before", "partial", "what"),
    [
        pytest.param([], b"\x05", "greeting", id="greeting-ver"),
        pytest.param([], b"\x05\x03\x00\x02", "greeting", id="greeting-methods"),
        pytest.param(USER_PASS, b"\x01\x05ali", "username/password", id="auth"),
        pytest.param(NO_AUTH_REQUEST, CONNECT[:7], "request", id="request"),
        pytest.param([], SOCKS4_CONNECT[:11], "SOCKS4", id="socks4"),
    ],
)
def test_eof_in_the_middle_of_a_message(before: list[Step], partial: bytes, what: str) -> None:
    conn = at(before)
    conn.receive_data(partial)
    assert conn.next_event() is NEED_DATA
    conn.receive_data(b"")
    assert conn.client_eof
    with pytest.raises(RemoteProtocolError) as info:
        conn.next_event()
    assert what in str(info.value)
    assert partial.hex(" ") in str(info.value)
    assert info.value.response == b""
    assert conn.state is State.CLOSED


def test_close_ends_the_conversation() -> None:
    conn = at([GREETING_NO_AUTH])
    conn.close()
    assert conn.state is State.CLOSED
    with pytest.raises(LocalProtocolError):
        conn.send(MethodSelection(method=0))
    with pytest.raises(LocalProtocolError):
        conn.next_event()
