"""Hermetic by default: refused destinations are never dialled, looked up or sent to.

Every "refused" test here replaces the engine's three ways out (``dial``, ``resolve``,
``send_datagram``) with a spy, so it proves that no attempt was made; no traffic ever
goes to a non-loopback address, and no non-local name is looked up.
"""

from __future__ import annotations

import errno
import socket
from collections.abc import Callable, Iterator

import pytest
import requests

from pytest_socks5 import ECHO, AddressType, Command, Outcome, Reply, Rule, SOCKS5Server

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

DEFAULT = "hermetic default: not loopback and not in host_map"


class Spy:
    """Stands in for the engine's ways out; a dial it sees is refused (ECONNREFUSED)."""

    def __init__(self, server: SOCKS5Server) -> None:
        self.calls: list[tuple[str, str, int]] = []
        dialler = server._engine.dialler
        dialler.dial = self.dial  # type: ignore[method-assign]
        dialler.resolve = self.resolve  # type: ignore[method-assign]
        dialler.send_datagram = self.send_datagram  # type: ignore[method-assign]

    async def dial(self, host, port, record):
        self.calls.append(("dial", host, port))
        raise ConnectionRefusedError(errno.ECONNREFUSED, "refused by the test's spy")

    async def resolve(self, host, port, kind):
        self.calls.append(("resolve", host, port))
        raise socket.gaierror(socket.EAI_NONAME, "the test's spy resolves nothing")

    def send_datagram(self, sock, data, address):
        self.calls.append(("send", *address))


@pytest.fixture
def server() -> Iterator[SOCKS5Server]:
    with SOCKS5Server(host_map={"api.example.test": "127.0.0.1:9"}) as server:
        yield server


@pytest.fixture
def spy(server: SOCKS5Server) -> Spy:
    return Spy(server)


def socks4(host: str, port: int, user: bytes = b"") -> bytes:
    if host.count(".") == 3 and host.replace(".", "").isdigit():
        return b"\x04\x01" + port.to_bytes(2, "big") + socket.inet_aton(host) + user + b"\x00"
    return (
        b"\x04\x01" + port.to_bytes(2, "big") + b"\x00\x00\x00\x01" + user + b"\x00"
        b"" + host.encode() + b"\x00"
    )


REFUSED = b"\x05\x00" + bytes.fromhex("05 02 00 01 00000000 0000")


@pytest.mark.parametrize(
    "host", ["192.0.2.1", "2001:db8::1", "www.example.com", "10.1.2.3", "localhost.example"]
)
def test_outside_destinations_are_refused_without_any_dial(
    server: SOCKS5Server, spy: Spy, host: str
) -> None:
    assert exchange(server, b"\x05\x01\x00", socks5_request(host, 80)) == REFUSED
    record = only_record(server)
    assert spy.calls == []
    assert record.outcome is Outcome.REJECTED
    assert record.reply == Reply.CONNECTION_NOT_ALLOWED
    assert record.denied_by == DEFAULT
    assert record.upstream_address is None
    assert "socks5_allow" in (record.error or "")
    assert "hermetic=False" in (record.error or "")


@pytest.mark.parametrize("host", ["192.0.2.1", "www.example.com"])
def test_socks4_outside_destinations_get_5b_without_any_dial(
    server: SOCKS5Server, spy: Spy, host: str
) -> None:
    assert exchange(server, socks4(host, 80, b"me")) == bytes.fromhex("00 5b 0000 00000000")
    record = only_record(server)
    assert spy.calls == []
    assert record.version == 4
    assert record.reply == 0x5B
    assert record.denied_by == DEFAULT


def test_loopback_mapped_and_localhost_reach_the_dialler(server: SOCKS5Server, spy: Spy) -> None:
    for request in (
        socks5_request("127.0.0.1", 1),
        socks5_request("::1", 2),
        socks5_request("localhost", 3),
        socks5_request("api.example.test", 80),
    ):
        answer = exchange(server, b"\x05\x01\x00", request)
        assert answer[3] == Reply.CONNECTION_REFUSED  # the spy refused: it was asked
    assert spy.calls == [
        ("dial", "127.0.0.1", 1),
        ("dial", "::1", 2),
        ("dial", "localhost", 3),
        ("dial", "127.0.0.1", 9),
    ]
    mapped = server.assert_connected(host="api.example.test")
    assert mapped.mapped_to == "127.0.0.1:9"
    assert mapped.denied_by is None


def test_allow_patterns_let_a_destination_through(server: SOCKS5Server, spy: Spy) -> None:
    server.configure(allow=["*.example.com:443", "192.0.2.0/24"])
    exchange(server, b"\x05\x01\x00", socks5_request("www.example.com", 443))
    exchange(server, b"\x05\x01\x00", socks5_request("192.0.2.44", 8080))
    exchange(server, b"\x05\x01\x00", socks5_request("www.example.com", 80))
    assert spy.calls == [("dial", "www.example.com", 443), ("dial", "192.0.2.44", 8080)]
    server.reset()
    exchange(server, b"\x05\x01\x00", socks5_request("www.example.com", 443))
    assert len(spy.calls) == 2, "reset() restores the hermetic default"


def test_hermetic_false_allows_everything(server: SOCKS5Server, spy: Spy) -> None:
    server.configure(hermetic=False)
    answer = exchange(server, b"\x05\x01\x00", socks5_request("www.example.com", 80))
    assert answer[3] == Reply.CONNECTION_REFUSED
    assert spy.calls == [("dial", "www.example.com", 80)]


def test_deny_rules_apply_to_loopback_too(echo_server) -> None:
    rules = [Rule.deny(port=echo_server[1])]
    with SOCKS5Server(rules=rules) as server:
        answer = exchange(server, b"\x05\x01\x00", socks5_request(*echo_server))
        assert answer == REFUSED
        record = only_record(server)
    assert record.denied_by == f"Rule.deny(port={echo_server[1]})"
    assert record.error == f"CONNECT 127.0.0.1:{echo_server[1]} denied by {rules[0]}"


def test_rules_by_user(echo_server) -> None:
    users = {"alice": "a", "bob": "b"}
    with SOCKS5Server(users=users, rules=[Rule.deny(user="bob")]) as server:
        with socks5_tunnel(server.address, *echo_server, auth=(b"alice", b"a")) as (_, reply):
            assert reply[1] == Reply.SUCCEEDED
        with socks5_tunnel(server.address, *echo_server, auth=(b"bob", b"b")) as (_, reply):
            assert reply[1] == Reply.CONNECTION_NOT_ALLOWED
        server.wait_for_connections(2, ended=True)
        server.assert_connected(username="bob", denied_by="Rule.deny(user='bob')")


def test_an_allow_rule_before_a_deny_rule(spy: Spy, server: SOCKS5Server) -> None:
    server.configure(rules=[Rule.allow(host="api.partner.example"), Rule.deny(port=80)])
    exchange(server, b"\x05\x01\x00", socks5_request("api.partner.example", 80))
    exchange(server, b"\x05\x01\x00", socks5_request("127.0.0.1", 80))
    assert spy.calls == [("dial", "api.partner.example", 80)]


def test_requests_to_an_outside_address_is_refused_without_any_dial(
    server: SOCKS5Server, spy: Spy
) -> None:
    for url, proxy in (
        ("http://203.0.113.10/", server.url),
        ("http://outside.example.test/", server.url_remote_dns),
    ):
        with pytest.raises(requests.exceptions.ConnectionError, match=r"0x02|not allowed"):
            requests.get(url, proxies={"http": proxy}, timeout=5)
    assert spy.calls == []
    records = server.wait_for_connections(2, ended=True)
    assert {r.host for r in records} == {"203.0.113.10", "outside.example.test"}
    assert all(r.reply == Reply.CONNECTION_NOT_ALLOWED for r in records)


def test_unresolvable_mapped_names_are_never_looked_up(spy: Spy, server: SOCKS5Server) -> None:
    server.configure(host_map={"gone.example.test": None})
    answer = exchange(server, b"\x05\x01\x00", socks5_request("gone.example.test", 80))
    assert answer[3] == Reply.HOST_UNREACHABLE
    assert spy.calls == []
    record = server.assert_connected(host="gone.example.test")
    assert record.mapped_to == "unresolvable"


def test_bad_options_are_refused_at_once(server: SOCKS5Server) -> None:
    with pytest.raises(ValueError, match=r"^allow\[0\] must be a host glob or a network"):
        server.configure(allow=["host:port"])
    with pytest.raises(TypeError, match=r"^rules\[0\] must be a Rule"):
        server.configure(rules=["deny everything"])
    with pytest.raises(TypeError, match="unknown option"):
        server.configure(hermetik=False)


# -- virtual destinations over TCP ----------------------------------------------------------


def test_echo_is_a_virtual_tcp_server(make_server: MakeServer, spy: Spy) -> None:
    payload = bytes(range(256)) * 4096
    server = make_server(host_map={"echo.test": ECHO})
    Spy(server)
    with socks5_tunnel(server.address, "echo.test", 7) as (sock, reply):
        assert reply[1] == Reply.SUCCEEDED
        sock.sendall(payload)
        sock.shutdown(socket.SHUT_WR)
        assert recv_all(sock) == payload
    record = only_record(server)
    assert record.mapped_to == "ECHO"
    assert record.upstream_address is None
    assert record.bound_address == ("127.0.0.1", 0)
    assert record.bytes_from_client == record.bytes_to_client == len(payload)
    assert record.outcome is Outcome.CLOSED


def test_socks4a_to_a_virtual_echo(make_server: MakeServer) -> None:
    server = make_server(host_map={"echo.test": ECHO})
    with connect(server.address) as s:
        s.sendall(socks4("echo.test", 7, b"me") + b"four-a")
        assert recv_exactly(s, 14) == bytes.fromhex("00 5a 0000 7f000001") + b"four-a"


def test_a_sink_answers_the_first_bytes_and_discards_the_rest(make_server: MakeServer) -> None:
    from pytest_socks5 import Sink

    sink = Sink(response=b"HTTP/1.1 204 No Content\r\n\r\n")
    server = make_server(host_map={"status.example.test": sink})
    response = requests.get(
        "http://status.example.test/ping", proxies={"http": server.url_remote_dns}, timeout=5
    )
    assert response.status_code == 204
    with socks5_tunnel(server.address, "status.example.test", 80) as (sock, _):
        sock.sendall(b"x" * 100_000)
        assert recv_all(sock) == sink.response
    record = only_record(server, bytes_from_client=100_000)
    assert record.address_type == AddressType.DOMAIN
    assert record.bytes_to_client == len(sink.response)


def test_a_sink_can_speak_first_and_stay_open(make_server: MakeServer) -> None:
    from pytest_socks5 import Sink

    banner = Sink(response=b"220 smtp.example.test ready\r\n", on_connect=True, close=False)
    server = make_server(host_map={"smtp.example.test": banner})
    with socks5_tunnel(server.address, "smtp.example.test", 25) as (sock, _):
        assert recv_exactly(sock, len(banner.response)) == banner.response
        sock.sendall(b"EHLO me\r\n")
        sock.shutdown(socket.SHUT_WR)
        assert recv_all(sock) == b""
    record = only_record(server)
    assert record.mapped_to == f"Sink(response=<{len(banner.response)} bytes>)"
    assert record.command == Command.CONNECT


def test_stopping_the_server_closes_virtual_tunnels(make_server: MakeServer) -> None:
    server = make_server(host_map={"echo.test": ECHO})
    with socks5_tunnel(server.address, "echo.test", 7) as (sock, _):
        sock.sendall(b"x")
        assert recv_exactly(sock, 1) == b"x"
        server.stop(timeout=1)
        assert recv_all(sock) == b""
    assert server.connections[0].outcome is Outcome.SERVER_STOPPED
