"""The assertions: what passes, and what a failure prints."""

from __future__ import annotations

import base64
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from pytest_socks5 import AddressType, AuthMethod, NoMatchingConnection, Outcome, SOCKS5Server
from pytest_socks5 import rawclient as raw
from pytest_socks5.faults import Close

from .helpers import echo_target, open_any_tunnel


@pytest.fixture
def server() -> Iterator[SOCKS5Server]:
    """A server whose records the tests write by hand (no traffic needed)."""
    with SOCKS5Server() as server:
        yield server


def make(server: SOCKS5Server, **fields: object) -> None:
    live = server._recorder.new(("127.0.0.1", 40000))
    for name, value in {"version": 5, "command": 1, **fields}.items():
        setattr(live, name, value)


def failure(call, *args, **kwargs) -> str:
    with pytest.raises(NoMatchingConnection) as info:
        call(*args, **kwargs)
    return str(info.value)


def name_request(server: SOCKS5Server, host: str = "localhost", port: int = 80) -> None:
    make(server, address_type=AddressType.DOMAIN, host=host, port=port, raw_address=host.encode())


def address_request(server: SOCKS5Server, host: str = "127.0.0.1", port: int = 80) -> None:
    make(server, address_type=AddressType.IPV4, host=host, port=port)


# -- socks5 vs socks5h -------------------------------------------------------------------


def test_remote_dns_passes_for_a_name(server: SOCKS5Server) -> None:
    name_request(server, "api.example.test")
    assert server.assert_remote_dns("*.example.test").host == "api.example.test"
    assert server.connections[0].remote_dns is True


def test_remote_dns_fails_for_an_address_and_says_why(server: SOCKS5Server) -> None:
    address_request(server)
    message = failure(server.assert_remote_dns, "localhost", port=80)
    lines = message.splitlines()
    assert lines[0] == (
        "expected the client to send the name 'localhost' to the proxy (ATYP 0x03 DOMAIN), port=80"
    )
    assert (
        "differs: host='127.0.0.1' (wanted 'localhost'); address_type=AddressType.IPV4 (wanted AddressType.DOMAIN)"
        in message
    )
    assert (
        "hint: #1: the client sent the address 0x01 (IPV4) 127.0.0.1, not a name; if it was "
        "'localhost': socks5:// behaviour; requests and curl send the name with socks5h://"
        in message
    )


@pytest.mark.parametrize(
    ("version", "advice"),
    [
        (5, "socks5:// behaviour; requests and curl send the name with socks5h://"),
        (4, "socks4:// behaviour (SOCKS 4 carries only an address); socks4a:// sends the name"),
        ("http", "an HTTP client sends the name it was given, so it was given an address"),
    ],
)
def test_remote_dns_advice_is_the_protocols_and_says_if(
    make_server: Callable[..., SOCKS5Server], version: int | str, advice: str
) -> None:
    """The client spoke SOCKS5, SOCKS 4 or HTTP: each has its own way to send the name.
    A connection that sent an address may be for another destination, so the hint says
    "if"."""
    server = make_server(socks4=True)
    with echo_target() as target:
        open_any_tunnel(server, target, version).close()
    server.wait_for_connections(1, ended=True)
    message = failure(server.assert_remote_dns, "api.test")
    assert (
        f"the client sent the address 0x01 (IPV4) 127.0.0.1, not a name; if it was 'api.test': {advice}"
        in message
    )


def test_local_dns_passes_for_an_address_the_name_resolves_to(server: SOCKS5Server) -> None:
    address_request(server, "127.0.0.1", 8080)
    assert server.assert_local_dns("localhost", port=8080).host == "127.0.0.1"
    assert server.assert_local_dns().remote_dns is False


def test_local_dns_fails_when_the_name_went_to_the_proxy(server: SOCKS5Server) -> None:
    name_request(server, "localhost", 8080)
    message = failure(server.assert_local_dns, "localhost", port=8080)
    assert message.splitlines()[0] == (
        "expected the client to resolve 'localhost' itself, port=8080, but it sent the name "
        "to the proxy (ATYP 0x03 DOMAIN) in 1 connection(s)"
    )
    assert "differs: address_type=AddressType.DOMAIN (wanted IPV4 or IPV6)" in message


def test_local_dns_checks_the_address_is_the_names(server: SOCKS5Server) -> None:
    address_request(server, "192.0.2.7", 80)
    message = failure(server.assert_local_dns, "localhost")
    assert "host='192.0.2.7' (wanted one of " in message
    assert "127.0.0.1" in message


def test_local_dns_without_any_request(server: SOCKS5Server) -> None:
    message = failure(server.assert_local_dns)
    assert message.splitlines() == [
        "expected the client to resolve the name itself and send an address (ATYP 0x01 or 0x04)",
        "No connections were recorded (did the client use the proxy? check its proxy URL,"
        " NO_PROXY and its SOCKS extra).",
    ]


def test_a_server_never_started_is_blamed_not_the_client() -> None:
    """Nothing can connect to a server that is not running: the failure says so, and the
    wait does not sit out its timeout first."""
    server = SOCKS5Server()
    never = (
        "No connections were recorded: the server was never started (start it with "
        "'with server:', server.start() or 'async with server:')."
    )
    assert failure(server.assert_connected, port=80).splitlines() == [
        "expected a connection matching port=80",
        never,
    ]
    started = time.monotonic()
    assert failure(server.wait_for_connections, timeout=30).splitlines() == [
        "expected 1 connection(s), and the server is not running: none can arrive",
        never,
    ]
    assert time.monotonic() - started < 5


def test_a_stopped_server_fails_a_wait_at_once_and_says_it_is_stopped() -> None:
    with SOCKS5Server() as server:
        pass
    started = time.monotonic()
    message = failure(server.wait_for_connections, timeout=30, host="a.test")
    assert time.monotonic() - started < 5
    assert message.splitlines()[:2] == [
        "expected 1 connection(s) matching host='a.test', and the server is not running: "
        "none can arrive",
        "No connections were recorded while the server ran (it is stopped now) (did the "
        "client use the proxy? check its proxy URL, NO_PROXY and its SOCKS extra).",
    ]


def test_a_wait_for_ended_connections_sees_them_end_when_the_server_stops() -> None:
    server = SOCKS5Server().start()
    with raw.connect(server.address) as sock:
        sock.sendall(b"\x05\x01\x00")
        assert raw.recv_exactly(sock, 2) == b"\x05\x00"
        server.wait_for_connections(1, timeout=5)
        stopping = threading.Thread(target=server.stop)
        stopping.start()
        (record,) = server.wait_for_connections(1, timeout=5, ended=True)
        stopping.join()
    assert record.outcome is Outcome.SERVER_STOPPED


# -- authentication --------------------------------------------------------------------


def test_auth_passes_and_compares_bytes(server: SOCKS5Server) -> None:
    make(
        server,
        chosen_method=AuthMethod.USERNAME_PASSWORD,
        offered_methods=(0, 2),
        username="ünï",
        raw_username="ünï".encode(),
        raw_password=b"s3cret",
        authenticated=True,
    )
    server.assert_auth("ünï", "s3cret")
    server.assert_auth(b"\xc3\xbcn\xc3\xaf")
    with pytest.raises(NoMatchingConnection):
        server.assert_auth("ünï", "s3cret", authenticated=False)


def test_auth_failure_never_prints_a_password(server: SOCKS5Server) -> None:
    make(
        server,
        chosen_method=AuthMethod.USERNAME_PASSWORD,
        offered_methods=(2,),
        username="alice",
        raw_username=b"alice",
        raw_password=b"hunter2",
        authenticated=False,
    )
    message = failure(server.assert_auth, "alice", "s3cret")
    assert "hunter2" not in message
    assert "s3cret" not in message
    assert message.splitlines()[0] == (
        "expected a connection that authenticated matching "
        "username='alice', raw_password=*** (6 bytes), authenticated=True"
    )
    assert "raw_password=*** (7 bytes) (wanted *** (6 bytes))" in message
    assert "hint: #1: the proxy refused the credentials it was sent" in message


def test_auth_explains_a_client_that_offered_no_password(server: SOCKS5Server) -> None:
    make(server, offered_methods=(0,), chosen_method=AuthMethod.NO_ACCEPTABLE_METHODS)
    message = failure(server.assert_auth, "alice")
    assert "hint: #1: the client offered 0x00, not 0x02 (username/password)" in message


def test_no_auth(server: SOCKS5Server) -> None:
    make(server, chosen_method=AuthMethod.NO_AUTHENTICATION_REQUIRED)
    server.assert_no_auth()
    make(server, chosen_method=AuthMethod.USERNAME_PASSWORD, host="x")
    message = failure(server.assert_no_auth, host="x")
    assert (
        message.splitlines()[0] == "expected a connection without authentication matching host='x'"
    )


# -- payload ---------------------------------------------------------------------------


def test_payload_assertions_explain_that_capture_is_off(server: SOCKS5Server) -> None:
    make(server, bytes_from_client=10)
    message = failure(server.assert_sent, b"GET /")
    assert message.splitlines()[0] == "expected a connection whose client sent b'GET /'"
    assert "hint: payload capture is off" in message
    assert "capture_payload" in message


def test_payload_assertions_say_when_the_cap_cut_it(server: SOCKS5Server) -> None:
    live = server._recorder.new(("127.0.0.1", 1))
    live.capture_payload(4)
    live.payload_to_client.extend(b"HTTP")  # type: ignore[union-attr]
    live.bytes_to_client = 100
    server.assert_received(b"HTTP")
    message = failure(server.assert_received, b"200 OK")
    assert "differs: payload_to_client=b'HTTP' (wanted contains b'200 OK')" in message
    assert "hint: #1: only the first 4 of 100 bytes were kept" in message


def test_long_payloads_are_shortened_in_messages(server: SOCKS5Server) -> None:
    live = server._recorder.new(("127.0.0.1", 1))
    live.capture_payload(1000)
    live.payload_from_client.extend(b"a" * 500)  # type: ignore[union-attr]
    message = failure(server.assert_sent, b"b")
    assert "… (500 bytes)" in message
    assert "a" * 100 not in message


# -- counts and the general assertions ---------------------------------------------------


def test_counts_in_every_assertion(server: SOCKS5Server) -> None:
    name_request(server)
    name_request(server)
    server.assert_remote_dns("localhost", count=2)
    message = failure(server.assert_remote_dns, "localhost", count=1)
    assert message.splitlines()[0].endswith("in exactly 1 connection(s) (found 2)")
    message = failure(server.assert_connected, host="localhost", count=3)
    assert message.splitlines()[0] == (
        "expected exactly 3 connection(s) matching host='localhost' (found 2)"
    )


def test_predicates_print_by_name(server: SOCKS5Server) -> None:
    name_request(server, port=80)

    def above_1024(port: int) -> bool:
        return port > 1024

    message = failure(server.assert_connected, port=above_1024)
    assert message.splitlines()[0] == "expected a connection matching port=above_1024"
    assert "differs: port=80 (wanted above_1024)" in message


def test_new_fields_can_be_matched(server: SOCKS5Server) -> None:
    name_request(server)
    server.assert_connected(remote_dns=True, closed_how=None, dialled=())
    server.assert_connected(timings=lambda t: t.accepted > 0, handshake=())
    with pytest.raises(TypeError, match="unknown ConnectionRecord field"):
        server.assert_connected(closed_hwo="fin")


# -- authentication on the wire, every protocol alike ------------------------------------


def _basic(username: str, password: str) -> bytes:
    token = base64.b64encode(f"{username}:{password}".encode()).decode()
    return (
        f"CONNECT {ECHO_AT} HTTP/1.1\r\nHost: {ECHO_AT}\r\n"
        f"Proxy-Authorization: Basic {token}\r\n\r\n"
    ).encode()


ECHO_AT = "echo.test:7"
MakeServer = Callable[..., SOCKS5Server]


@pytest.mark.parametrize(
    ("name", "request_bytes"),
    [
        ("socks5", raw.greeting(2) + raw.auth_request(b"alice", b"s3cret")),
        ("http", _basic("alice", "s3cret")),
        ("socks4", raw.socks4_request("127.0.0.1", 7, user_id=b"alice")),
    ],
)
def test_auth_assertions_read_every_protocol_alike(
    make_server: MakeServer, name: str, request_bytes: bytes
) -> None:
    server = make_server(
        users={"alice": "s3cret"},
        socks4=True,
        socks4_user_ids=[b"alice"],
        faults=[Close(at="request")],
    )
    raw.exchange(server.address, request_bytes)
    record = server.wait_for_connections(ended=True)[0]
    assert record.protocol == name
    server.assert_auth("alice", None if name == "socks4" else "s3cret")
    with pytest.raises(NoMatchingConnection):
        server.assert_no_auth()
    with pytest.raises(
        NoMatchingConnection, match="SOCKS 4 carries a USERID" if name == "socks4" else "wanted"
    ):
        server.assert_auth("alice", "wrong")


@pytest.mark.parametrize(
    "request_bytes",
    [
        raw.greeting(0),
        f"CONNECT {ECHO_AT} HTTP/1.1\r\nHost: {ECHO_AT}\r\n\r\n".encode(),
        raw.socks4_request("127.0.0.1", 7),
    ],
    ids=["socks5", "http", "socks4"],
)
def test_no_auth_reads_every_protocol_alike(make_server: MakeServer, request_bytes: bytes) -> None:
    server = make_server(socks4=True, faults=[Close(at="request")])
    raw.exchange(server.address, request_bytes)
    server.wait_for_connections(ended=True)
    server.assert_no_auth()
    message = failure(server.assert_auth)
    assert "differs: auth_scheme='none' (wanted 'password' or 'userid')" in message
