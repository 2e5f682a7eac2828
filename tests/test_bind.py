"""BIND over real loopback sockets: two replies, the peer check, timeouts, then the tunnel."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest

from pytest_socks5 import AddressType, Command, Outcome, Reply, Rule, Socks4Reply, SOCKS5Server

from .helpers import TIMEOUT, connect, only_record, recv_all, recv_exactly, socks5_request
from .peers import GREETING, read_reply, reply_address, socks4_reply_address


@pytest.fixture
def server() -> Iterator[SOCKS5Server]:
    with SOCKS5Server(bind_timeout=5) as server:
        yield server


def bind(proxy: tuple[str, int], host: str = "127.0.0.1", port: int = 0):
    """Send a BIND request; return the control socket and the first reply."""
    sock = connect(proxy)
    sock.sendall(GREETING + socks5_request(host, port, command=Command.BIND))
    assert recv_exactly(sock, 2) == b"\x05\x00"
    return sock, read_reply(sock)


def peer_from(source: str, address: tuple[str, int]) -> socket.socket:
    """Connect to the BIND address from a chosen loopback source address."""
    family = socket.AF_INET6 if ":" in source else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.settimeout(TIMEOUT)
    sock.bind((source, 0))
    sock.connect(address)
    return sock


def test_two_replies_then_a_tunnel(server: SOCKS5Server) -> None:
    control, first = bind(server.address, "127.0.0.1", 21)
    with control:
        assert first[:4] == b"\x05\x00\x00\x01"
        listening = reply_address(first)
        assert listening[0] == "127.0.0.1"
        assert listening[1] != 0
        with socket.create_connection(listening, timeout=TIMEOUT) as peer:
            second = read_reply(control)
            assert second[:2] == b"\x05\x00"
            assert reply_address(second) == peer.getsockname()
            peer.sendall(b"from the peer")
            assert recv_exactly(control, 13) == b"from the peer"
            control.sendall(b"from the client")
            assert recv_exactly(peer, 15) == b"from the client"
            control.shutdown(socket.SHUT_WR)
            assert recv_all(peer) == b""
            peer_address = peer.getsockname()
    record = only_record(server)
    assert record.command == Command.BIND
    assert (record.host, record.port) == ("127.0.0.1", 21)
    assert record.reply == Reply.SUCCEEDED
    assert record.bound_address == listening
    assert record.bind_peer_address == peer_address
    assert record.upstream_address is None
    assert record.bytes_from_client == 15
    assert record.bytes_to_client == 13
    assert record.outcome is Outcome.CLOSED
    assert f"peer 127.0.0.1:{peer_address[1]}" in str(record)


def test_the_listener_accepts_only_one_connection(server: SOCKS5Server) -> None:
    control, first = bind(server.address)
    with control, socket.create_connection(reply_address(first), timeout=TIMEOUT) as peer:
        assert read_reply(control)[1] == 0
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(reply_address(first), timeout=TIMEOUT).close()
        peer.sendall(b"still here")
        assert recv_exactly(control, 10) == b"still here"


def test_all_zero_address_accepts_any_peer(server: SOCKS5Server) -> None:
    control, first = bind(server.address, "0.0.0.0", 0)
    with control, peer_from("127.0.0.5", reply_address(first)):
        second = read_reply(control)
        assert second[1] == Reply.SUCCEEDED
        assert reply_address(second)[0] == "127.0.0.5"


def test_the_port_is_not_checked(server: SOCKS5Server) -> None:
    control, first = bind(server.address, "127.0.0.1", 20)
    with control, socket.create_connection(reply_address(first), timeout=TIMEOUT):
        assert read_reply(control)[1] == Reply.SUCCEEDED


def test_a_peer_from_another_address_gets_a_failure_reply(server: SOCKS5Server) -> None:
    control, first = bind(server.address, "127.0.0.1", 0)
    with control, peer_from("127.0.0.9", reply_address(first)) as intruder:
        assert read_reply(control) == bytes.fromhex("05 02 00 01 00000000 0000")
        assert recv_all(control) == b""
        assert recv_all(intruder) == b""
    record = only_record(server)
    assert record.outcome is Outcome.REJECTED
    assert record.reply == Reply.CONNECTION_NOT_ALLOWED
    assert record.bind_peer_address is not None
    assert record.bind_peer_address[0] == "127.0.0.9"
    assert record.error == (
        f"BIND expected a connection from 127.0.0.1, got one from 127.0.0.9:"
        f"{record.bind_peer_address[1]}"
    )


def test_nobody_connecting_in_time_gets_rep_06() -> None:
    with SOCKS5Server(bind_timeout=0.2) as server:
        control, first = bind(server.address)
        with control:
            assert first[1] == Reply.SUCCEEDED
            assert read_reply(control)[1] == Reply.TTL_EXPIRED
        record = only_record(server)
    assert record.outcome is Outcome.REJECTED
    assert record.reply == Reply.TTL_EXPIRED
    assert "within bind_timeout=0.2s" in (record.error or "")
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(reply_address(first), timeout=TIMEOUT).close()


def test_the_client_leaving_closes_the_listener(server: SOCKS5Server) -> None:
    control, first = bind(server.address)
    control.close()
    assert only_record(server).outcome is Outcome.CLIENT_CLOSED
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(reply_address(first), timeout=TIMEOUT).close()


def test_stopping_the_server_while_waiting() -> None:
    server = SOCKS5Server().start()
    control, first = bind(server.address)
    with control:
        server.stop(timeout=1)
        assert recv_all(control) == b""
    assert only_record(server).outcome is Outcome.SERVER_STOPPED
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(reply_address(first), timeout=TIMEOUT).close()


def test_bytes_sent_before_the_second_reply_reach_the_peer(server: SOCKS5Server) -> None:
    control, first = bind(server.address)
    with control:
        control.sendall(b"early")
        with socket.create_connection(reply_address(first), timeout=TIMEOUT) as peer:
            assert read_reply(control)[1] == 0
            assert recv_exactly(peer, 5) == b"early"


def test_a_mapped_name_names_the_expected_peer() -> None:
    with SOCKS5Server(host_map={"ftp.example.test": "127.0.0.1"}) as server:
        control, first = bind(server.address, "ftp.example.test", 20)
        with control, socket.create_connection(reply_address(first), timeout=TIMEOUT):
            assert read_reply(control)[1] == Reply.SUCCEEDED
        record = only_record(server)
    assert record.address_type == AddressType.DOMAIN
    assert record.mapped_to == "127.0.0.1:20"


@pytest.mark.parametrize(
    ("host_map", "reply"),
    [({"gone.test": None}, Reply.HOST_UNREACHABLE), ({"gone.test": "::1"}, None)],
    ids=["unresolvable", "other-family"],
)
def test_unusable_expected_peers(host_map, reply) -> None:
    with SOCKS5Server(host_map=host_map, bind_timeout=5) as server:
        control, first = bind(server.address, "gone.test", 0)
        with control:
            if reply is not None:
                assert first[1] == reply
                return
            # The peer can only come from ::1, and the listener is on 127.0.0.1.
            with socket.create_connection(reply_address(first), timeout=TIMEOUT):
                assert read_reply(control)[1] == Reply.CONNECTION_NOT_ALLOWED


def test_an_outside_expected_peer_is_refused_without_a_lookup(server: SOCKS5Server) -> None:
    looked_up: list[str] = []

    async def resolve(host, port, kind):
        looked_up.append(host)
        raise AssertionError("no lookup may happen")

    server._engine.dialler.resolve = resolve  # type: ignore[method-assign]
    for host in ("ftp.example.com", "192.0.2.1"):
        control, first = bind(server.address, host, 20)
        control.close()
        assert first[1] == Reply.CONNECTION_NOT_ALLOWED
    assert looked_up == []
    assert all(r.denied_by for r in server.wait_for_connections(2, ended=True))


def test_rules_can_refuse_bind() -> None:
    with SOCKS5Server(rules=[Rule.deny(command=Command.BIND)]) as server:
        control, first = bind(server.address)
        control.close()
        record = only_record(server)
    assert first[1] == Reply.CONNECTION_NOT_ALLOWED
    assert record.denied_by == "Rule.deny(command=Command.BIND)"
    assert record.bound_address is None


def test_bind_over_ipv6() -> None:
    with SOCKS5Server("::1", bind_timeout=5) as server:
        control, first = bind(server.address, "::1", 0)
        with control:
            assert first[3] == AddressType.IPV6
            listening = reply_address(first)
            assert listening[0] == "::1"
            with socket.create_connection(listening, timeout=TIMEOUT) as peer:
                second = read_reply(control)
                assert reply_address(second) == peer.getsockname()[:2]


# -- SOCKS 4 ------------------------------------------------------------------------------


def socks4_bind(proxy, request: bytes):
    sock = connect(proxy)
    sock.sendall(request)
    return sock, recv_exactly(sock, 8)


def test_socks4_bind(server: SOCKS5Server) -> None:
    request = b"\x04\x02\x00\x15" + socket.inet_aton("127.0.0.1") + b"me\x00"
    control, first = socks4_bind(server.address, request)
    with control:
        assert first[:2] == b"\x00\x5a"
        listening = socks4_reply_address(first)
        assert listening[0] == "127.0.0.1"
        with socket.create_connection(listening, timeout=TIMEOUT) as peer:
            second = recv_exactly(control, 8)
            assert second[:2] == b"\x00\x5a"
            assert socks4_reply_address(second) == peer.getsockname()
            peer.sendall(b"v4 peer")
            assert recv_exactly(control, 7) == b"v4 peer"
            peer_address = peer.getsockname()
    record = only_record(server)
    assert record.version == 4
    assert record.command == Command.BIND
    assert record.reply == Socks4Reply.GRANTED
    assert record.bind_peer_address == peer_address


def test_socks4a_bind_resolves_the_name(server: SOCKS5Server) -> None:
    addresses = {i[4][0] for i in socket.getaddrinfo("localhost", 0, type=socket.SOCK_STREAM)}
    if "127.0.0.1" not in addresses:
        pytest.skip("localhost does not resolve to 127.0.0.1 here")
    request = b"\x04\x02\x00\x15\x00\x00\x00\x01me\x00localhost\x00"
    control, first = socks4_bind(server.address, request)
    with control, socket.create_connection(socks4_reply_address(first), timeout=TIMEOUT):
        assert recv_exactly(control, 8)[:2] == b"\x00\x5a"


def test_socks4_bind_wrong_peer_gets_5b(server: SOCKS5Server) -> None:
    request = b"\x04\x02\x00\x15" + socket.inet_aton("127.0.0.1") + b"\x00"
    control, first = socks4_bind(server.address, request)
    with control, peer_from("127.0.0.7", socks4_reply_address(first)):
        assert recv_exactly(control, 8)[:2] == b"\x00\x5b"
    record = only_record(server)
    assert record.reply == Socks4Reply.REJECTED
    assert record.outcome is Outcome.REJECTED


def test_concurrent_binds_get_their_own_peers(server: SOCKS5Server) -> None:
    results: list[bytes] = []
    errors: list[BaseException] = []

    def one(i: int) -> None:
        try:
            control, first = bind(server.address)
            with control, socket.create_connection(reply_address(first), timeout=5) as peer:
                assert read_reply(control)[1] == 0
                peer.sendall(b"%d" % i)
                results.append(recv_exactly(control, len(b"%d" % i)))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert errors == []
    assert sorted(results) == sorted(b"%d" % i for i in range(20))
