"""UDP ASSOCIATE over real loopback sockets: the relay, what it drops, how it ends, faults."""

from __future__ import annotations

import random
import socket
import time
from collections.abc import Callable, Iterator

import pytest
import socks

from pytest_socks5 import (
    ECHO,
    AddressType,
    Command,
    Outcome,
    Reply,
    Rule,
    Sink,
    SOCKS5Server,
    UdpFaults,
    _connection,
)
from pytest_socks5._udp import MAX_DROP_REASONS
from pytest_socks5.faults import CloseAfter

from .helpers import connect, only_record, recv_all, recv_exactly, socks5_request
from .peers import GREETING, UdpClient, read_reply, udp_echo, udp_header, udp_port_is_free


@pytest.fixture
def server() -> Iterator[SOCKS5Server]:
    with SOCKS5Server() as server:
        yield server


@pytest.fixture
def echo() -> Iterator[tuple[str, int]]:
    with udp_echo() as address:
        yield address


def association(server: SOCKS5Server):
    """The (one) UDP ASSOCIATE record, once it has ended."""
    return only_record(server, command=Command.UDP_ASSOCIATE)


# -- the relay ------------------------------------------------------------------------------


def test_ipv4_datagrams_go_through_both_ways(server: SOCKS5Server, echo) -> None:
    with UdpClient(server.address) as client:
        assert client.relay[0] == "127.0.0.1"
        for payload in (b"one", b"", b"x" * 8000):
            client.send(*echo, payload)
            reply = client.receive()
            assert reply.data == payload
            assert (reply.host, reply.port) == echo
            assert reply.address_type == AddressType.IPV4
            assert reply.fragment == 0
        address = client.sock.getsockname()[:2]
    record = association(server)
    assert record.command == Command.UDP_ASSOCIATE
    assert record.reply == Reply.SUCCEEDED
    assert record.bound_address == client.relay
    assert record.udp_client_address == address
    assert record.datagrams_from_client == record.datagrams_to_client == 3
    assert record.datagram_bytes_from_client == record.datagram_bytes_to_client == 8003
    assert record.datagrams_dropped == 0
    assert record.outcome is Outcome.CLOSED
    assert record.closed_by == "client"
    assert record.bytes_from_client == record.bytes_to_client == 0
    assert "3↑ 3↓ datagrams (8003↑ 8003↓ bytes), 0 dropped" in str(record)


def test_ipv6_relay_and_destination() -> None:
    with SOCKS5Server("::1") as server, udp_echo("::1") as echo:
        with UdpClient(server.address) as client:
            assert client.relay[0] == "::1"
            client.send(*echo, b"over v6")
            reply = client.receive()
        assert reply.data == b"over v6"
        assert reply.address_type == AddressType.IPV6
        assert (reply.host, reply.port) == echo
        assert association(server).datagrams_to_client == 1


def test_domain_destination_through_host_map_keeps_the_name(echo) -> None:
    host_map = {"dns.example.test": f"{echo[0]}:{echo[1]}"}
    with SOCKS5Server(host_map=host_map) as server:
        with UdpClient(server.address) as client:
            client.send("dns.example.test", 53, b"query")
            reply = client.receive()
        assert reply.data == b"query"
        assert reply.address_type == AddressType.DOMAIN
        assert (reply.host, reply.port) == ("dns.example.test", 53)
        assert association(server).datagrams_to_client == 1


def test_the_domain_localhost_is_resolved_by_the_proxy(server: SOCKS5Server) -> None:
    addresses = {info[4][0] for info in socket.getaddrinfo("localhost", 9, type=socket.SOCK_DGRAM)}
    host = "127.0.0.1" if "127.0.0.1" in addresses else "::1"
    with udp_echo(host) as echo, UdpClient(server.address) as client:
        first = socket.getaddrinfo("localhost", echo[1], type=socket.SOCK_DGRAM)[0][4][0]
        if first != host:
            pytest.skip(f"localhost resolves to {first} first here")
        client.send("localhost", echo[1], b"by name")
        reply = client.receive()
    assert reply.data == b"by name"
    assert (reply.host, reply.port) == ("localhost", echo[1])


def test_several_destinations_in_one_association(server: SOCKS5Server) -> None:
    with (
        udp_echo(transform=lambda d: b"A:" + d) as a,
        udp_echo(transform=lambda d: b"B:" + d) as b,
        UdpClient(server.address) as client,
    ):
        client.send(*a, b"1")
        assert client.receive().data == b"A:1"
        client.send(*b, b"2")
        reply = client.receive()
        assert reply.data == b"B:2"
        assert reply.port == b[1]


def test_pysocks_udp_client(server: SOCKS5Server, echo) -> None:
    sock = socks.socksocket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.set_proxy(socks.SOCKS5, server.host, server.port)
    sock.settimeout(5)
    try:
        sock.sendto(b"through PySocks", echo)
        data, source = sock.recvfrom(1024)
    finally:
        sock.close()
    assert data == b"through PySocks"
    assert source == echo
    record = association(server)
    assert record.datagrams_from_client == record.datagrams_to_client == 1


# -- what is dropped ---------------------------------------------------------------------------


def test_datagrams_from_another_source_are_dropped(server: SOCKS5Server, echo) -> None:
    with UdpClient(server.address) as client, socket.socket(type=socket.SOCK_DGRAM) as stranger:
        stranger.bind(("127.0.0.1", 0))
        stranger.sendto(udp_header(*echo) + b"intruder", client.relay)
        client.send(*echo, b"legit")
        assert client.receive().data == b"legit"
        server.wait_for_connections(1, datagrams_dropped=1)
        ports = stranger.getsockname()[1], client.sock.getsockname()[1]
    record = association(server)
    assert record.datagrams_from_client == 1
    assert record.drop_reasons == (
        f"from 127.0.0.1:{ports[0]}, not the association's client 127.0.0.1:{ports[1]}",
    )


def test_the_client_port_is_learnt_when_the_request_gives_none(server: SOCKS5Server, echo) -> None:
    with UdpClient(server.address, declare=("0.0.0.0", 0)) as client:
        client.send(*echo, b"first")
        assert client.receive().data == b"first"
        with socket.socket(type=socket.SOCK_DGRAM) as other:
            other.bind(("127.0.0.1", 0))
            other.sendto(udp_header(*echo) + b"second source", client.relay)
            server.wait_for_connections(1, datagrams_dropped=1)
        address = client.sock.getsockname()[:2]
    assert association(server).udp_client_address == address


@pytest.mark.parametrize(
    ("datagram", "reason"),
    [
        (b"\x00\x00\x01\x01\x7f\x00\x00\x01\x00\x07data", "FRAG=0x01"),
        (b"\x00\x00\x80\x01\x7f\x00\x00\x01\x00\x07data", "FRAG=0x80"),
        (b"\x00\x01\x00\x01\x7f\x00\x00\x01\x00\x07data", "malformed header: RSV"),
        (b"\x00\x00\x00\x05\x7f\x00\x00\x01\x00\x07data", "malformed header: unsupported ATYP"),
        (b"\x00\x00\x00\x01\x7f\x00", "malformed header: truncated"),
        (b"\x00\x00", "malformed header"),
    ],
    ids=["frag-1", "frag-128", "rsv", "atyp", "truncated", "tiny"],
)
def test_unusable_datagrams_are_dropped(
    server: SOCKS5Server, echo, datagram: bytes, reason: str
) -> None:
    with UdpClient(server.address) as client:
        client.send_raw(datagram)
        client.send(*echo, b"after")
        assert client.receive().data == b"after"
    record = association(server)
    assert record.datagrams_dropped == 1
    assert record.drop_reasons[0].startswith(reason)


def test_replies_from_a_source_the_client_never_sent_to_are_dropped(
    server: SOCKS5Server, echo
) -> None:
    with UdpClient(server.address) as client:
        client.send(*echo, b"hello")
        assert client.receive().data == b"hello"
        # Find the relay's upstream socket from what the echo saw, and write to it from
        # somewhere else.
        with udp_echo(transform=lambda d: d) as other:
            client.send(*other, b"learn the upstream")
            assert client.receive().port == other[1]
        upstream = association_upstream(server)
        with socket.socket(type=socket.SOCK_DGRAM) as stranger:
            stranger.bind(("127.0.0.1", 0))
            stranger.sendto(b"unsolicited", upstream)
            server.wait_for_connections(1, datagrams_dropped=1)
    assert association(server).drop_reasons[0].endswith("which the client has not sent to")


def association_upstream(server: SOCKS5Server) -> tuple[str, int]:
    """The address of the association's loopback upstream socket (white-box)."""
    (handshake,) = server._engine.registry
    (sock,) = handshake.relay.upstreams.values()
    return sock.getsockname()[:2]


def test_drop_reasons_are_capped_but_the_count_is_not(server: SOCKS5Server, echo) -> None:
    with UdpClient(server.address) as client:
        for i in range(MAX_DROP_REASONS + 5):
            client.send_raw(b"\x00\x00" + bytes((i + 1,)) + b"\x01\x7f\x00\x00\x01\x00\x07")
        client.send(*echo, b"done")
        assert client.receive().data == b"done"
    record = association(server)
    assert record.datagrams_dropped == MAX_DROP_REASONS + 5
    assert len(record.drop_reasons) == MAX_DROP_REASONS


# -- the end of the association ---------------------------------------------------------------


def test_closing_the_control_connection_ends_the_association(server: SOCKS5Server, echo) -> None:
    client = UdpClient(server.address)
    client.send(*echo, b"x")
    client.receive()
    assert not udp_port_is_free(client.relay)
    client.control.close()
    record = association(server)
    assert record.outcome is Outcome.CLOSED
    assert record.closed_by == "client"
    assert udp_port_is_free(client.relay)
    client.sock.close()


def test_a_half_closed_control_connection_ends_it_too(server: SOCKS5Server) -> None:
    with UdpClient(server.address) as client:
        client.control.shutdown(socket.SHUT_WR)
        assert recv_all(client.control) == b""
        assert association(server).closed_by == "client"
        assert udp_port_is_free(client.relay)


def test_stopping_the_server_ends_open_associations() -> None:
    server = SOCKS5Server().start()
    with UdpClient(server.address) as client:
        server.stop(timeout=1)
        assert recv_all(client.control) == b""
        assert udp_port_is_free(client.relay)
    assert association(server).outcome is Outcome.SERVER_STOPPED


def test_control_eof_right_after_the_request(server: SOCKS5Server) -> None:
    with connect(server.address) as sock:
        sock.sendall(GREETING + socks5_request("0.0.0.0", 0, command=3))
        sock.shutdown(socket.SHUT_WR)
        answer = recv_all(sock)
    assert answer[2:4] == b"\x05\x00"
    assert association(server).outcome is Outcome.CLOSED


# -- rules and mapping ------------------------------------------------------------------------


def test_a_refused_destination_is_dropped_without_sending(server: SOCKS5Server, echo) -> None:
    sent: list[tuple[str, int]] = []
    resolved: list[str] = []
    send = server._engine.dialler.send_datagram

    def recording_send(transport, data, address):
        sent.append(address)
        send(transport, data, address)

    async def no_resolve(host, port, kind):
        resolved.append(host)
        raise AssertionError("no lookup may happen")

    server._engine.dialler.send_datagram = recording_send  # type: ignore[method-assign]
    server._engine.dialler.resolve = no_resolve  # type: ignore[method-assign]
    with UdpClient(server.address) as client:
        client.send("192.0.2.1", 53, b"to TEST-NET-1")
        client.send("outside.example", 53, b"to a name")
        client.send(*echo, b"allowed")
        assert client.receive().data == b"allowed"
    record = association(server)
    assert sent == [echo]
    assert resolved == []
    assert record.datagrams_dropped == 2
    assert record.denied_by == "hermetic default: not loopback and not in host_map"
    assert record.drop_reasons[0].startswith(
        "UDP_ASSOCIATE 192.0.2.1:53 denied by the hermetic default"
    )
    assert record.drop_reasons[1].startswith("UDP_ASSOCIATE outside.example:53 denied")


def test_rules_apply_to_each_datagram(echo) -> None:
    with SOCKS5Server(rules=[Rule.deny(port=echo[1])]) as server, udp_echo() as other:
        with UdpClient(server.address) as client:
            client.send(*echo, b"refused")
            client.send(*other, b"fine")
            assert client.receive().data == b"fine"
        record = association(server)
    assert record.denied_by == f"Rule.deny(port={echo[1]})"


def test_the_association_itself_can_be_refused() -> None:
    with SOCKS5Server(rules=[Rule.deny(command="udp")]) as server, connect(server.address) as s:
        s.sendall(GREETING + socks5_request("0.0.0.0", 0, command=3))
        assert recv_exactly(s, 2) == b"\x05\x00"
        assert read_reply(s)[1] == Reply.CONNECTION_NOT_ALLOWED
        record = only_record(server)
    assert record.outcome is Outcome.REJECTED
    assert record.denied_by == "Rule.deny(command=Command.UDP_ASSOCIATE)"


def test_unresolvable_names_are_dropped(echo) -> None:
    with SOCKS5Server(host_map={"gone.test": None}) as server:
        with UdpClient(server.address) as client:
            client.send("gone.test", 53, b"nothing")
            client.send(*echo, b"something")
            assert client.receive().data == b"something"
        assert association(server).drop_reasons == (
            "gone.test is declared unresolvable by host_map",
        )


def test_virtual_destinations(echo) -> None:
    host_map = {"echo.test": ECHO, "time.test": Sink(response=b"12:00"), "null.test": Sink()}
    with SOCKS5Server(host_map=host_map) as server:
        with UdpClient(server.address) as client:
            client.send("echo.test", 7, b"ping")
            reply = client.receive()
            assert (reply.host, reply.port, reply.data) == ("echo.test", 7, b"ping")
            client.send("time.test", 37, b"what time is it?")
            assert client.receive().data == b"12:00"
            client.send("null.test", 9, b"into the void")
            client.send(*echo, b"after the void")
            assert client.receive().data == b"after the void"
        record = association(server)
    assert record.datagrams_from_client == 4
    assert record.datagrams_to_client == 3


def test_a_datagram_too_large_for_the_client_is_dropped_not_counted(make_server) -> None:
    """65,500 payload bytes and the SOCKS header exceed a UDP datagram: the relay cannot
    send it to the client, so it is a drop with its reason, not a delivered datagram."""
    host_map = {"big.test": Sink(response=b"x" * 65500), "echo.test": ECHO}
    server = make_server(host_map=host_map)
    with UdpClient(server.address) as client:
        port = client.sock.getsockname()[1]
        client.send("big.test", 9, b"q")
        client.send("echo.test", 7, b"after")
        assert client.receive().data == b"after"  # the first thing the client gets
    record = association(server)
    assert record.datagrams_from_client == 2
    assert (record.datagrams_to_client, record.datagram_bytes_to_client) == (1, 5)
    assert record.datagrams_dropped == 1
    (reason,) = record.drop_reasons
    assert reason.startswith(f"sending to the client 127.0.0.1:{port} failed: OSError(")


# -- faults -----------------------------------------------------------------------------------


def test_drop_exactly_one_datagram(echo) -> None:
    faults = UdpFaults(drop=1.0, direction="from_client", limit=1)
    with SOCKS5Server(udp_faults=faults) as server, UdpClient(server.address) as client:
        client.send(*echo, b"lost")
        client.send(*echo, b"kept")
        assert client.receive().data == b"kept"
        client.control.close()
        record = association(server)
    assert record.faults == ("udp-drop",)
    assert record.datagrams_dropped == 1
    assert record.drop_reasons == ("dropped by UdpFaults (from client)",)
    assert record.datagrams_from_client == 1


def test_drop_replies_to_the_client(echo) -> None:
    faults = UdpFaults(drop=1.0, direction="to_client", after=1, limit=1)
    with SOCKS5Server(udp_faults=faults) as server, UdpClient(server.address) as client:
        for word in (b"one", b"two", b"three"):
            client.send(*echo, word)
        assert [client.receive().data for _ in range(2)] == [b"one", b"three"]
        client.control.close()
        record = association(server)
    assert record.datagrams_from_client == 3
    assert record.datagrams_to_client == 2


def test_corrupt_changes_one_byte_of_the_payload(echo) -> None:
    payload = bytes(range(64))
    faults = UdpFaults(corrupt=1.0, direction="from_client", seed=3)
    with SOCKS5Server(udp_faults=faults) as server, UdpClient(server.address) as client:
        client.send(*echo, payload)
        got = client.receive().data
        client.control.close()
        record = association(server)
    assert len(got) == len(payload)
    assert sum(a != b for a, b in zip(got, payload, strict=True)) == 1
    assert record.faults == ("udp-corrupt",)


def test_delay_holds_datagrams_back(echo) -> None:
    faults = UdpFaults(delay=0.3, direction="to_client")
    with SOCKS5Server(udp_faults=faults) as server, UdpClient(server.address) as client:
        started = time.monotonic()
        client.send(*echo, b"slow")
        assert client.receive().data == b"slow"
        assert time.monotonic() - started >= 0.29
        client.control.close()
        assert association(server).faults == ("udp-delay",)


def test_close_the_control_connection_after_n_datagrams(echo) -> None:
    faults = UdpFaults(close_control_after=2)
    with SOCKS5Server(udp_faults=faults) as server, UdpClient(server.address) as client:
        client.send(*echo, b"one round trip")
        assert client.receive().data == b"one round trip"
        assert recv_all(client.control) == b"", "the proxy must close the control connection"
        record = association(server)
        assert udp_port_is_free(client.relay)
    assert record.outcome is Outcome.CLOSED
    assert record.closed_by == "server"
    assert record.faults == ("udp-close-control",)
    assert "after 2 datagram(s)" in (record.error or "")


def test_faults_can_be_configured_per_test(echo) -> None:
    with SOCKS5Server() as server:
        server.configure(udp_faults=UdpFaults(drop=1.0, limit=1))
        with UdpClient(server.address) as client:
            client.send(*echo, b"a")
            client.send(*echo, b"b")
            assert client.receive().data == b"b"
        server.reset()
        with UdpClient(server.address) as client:
            client.send(*echo, b"c")
            assert client.receive().data == b"c"
        with pytest.raises(TypeError, match="UdpFaults"):
            server.configure(udp_faults={"drop": 1.0})


def test_garbage_datagrams_never_disturb_the_relay(server: SOCKS5Server, echo) -> None:
    rng = random.Random(5)
    heads = [b"", b"\x00\x00\x00", b"\x00\x00\x00\x03", b"\x00\x00\x00\x04"]
    with UdpClient(server.address) as client:
        for batch in range(15):  # in batches, so that no socket buffer overflows
            for _ in range(20):
                client.send_raw(rng.choice(heads) + rng.randbytes(rng.randrange(0, 40)))
            client.send(*echo, b"still relaying %d" % batch)
            assert client.receive().data == b"still relaying %d" % batch
    record = association(server)
    assert record.datagrams_dropped + record.datagrams_from_client == 315
    assert record.datagrams_to_client == 15
    assert server.errors == []


def test_an_abandoned_endpoint_closes_its_transport_whenever_it_is_made() -> None:
    """A UDP endpoint whose creation was cancelled closes its transport, before or after
    the transport reaches it (uvloop leaves a cancelled endpoint's transport open, and its
    loop then never finishes closing)."""
    from pytest_socks5._udp_endpoint import UdpEndpoint

    closed: list[object] = []

    class Transport:
        def close(self) -> None:
            closed.append(self)

    def ignore(exc: Exception) -> None:
        raise exc

    early = UdpEndpoint(lambda data, addr: None, ignore)
    early.abandon()  # cancelled before the loop made the transport
    first = Transport()
    early.connection_made(first)  # type: ignore[arg-type]
    late = UdpEndpoint(lambda data, addr: None, ignore)
    second = Transport()
    late.connection_made(second)  # type: ignore[arg-type]
    assert closed == [first]  # a transport made for a live endpoint stays open
    late.abandon()
    assert closed == [first, second]


def test_a_client_gone_before_it_was_accepted_is_a_reset_not_a_bug(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A client that resets between accept and ``connection_made`` has no peer address
    (uvloop asks the socket): a UDP ASSOCIATE for 0.0.0.0:0 then has no address to relay
    for. The record says the client was gone; the server has no error."""
    monkeypatch.setattr(_connection, "address_of", lambda sockname: None)  # no address
    with SOCKS5Server() as server:
        with connect(server.address) as control:
            control.sendall(GREETING + socks5_request("0.0.0.0", 0, command=Command.UDP_ASSOCIATE))
            assert recv_exactly(control, 2) == b"\x05\x00"
            assert recv_all(control) == b""  # closed, never answered
        (record,) = server.wait_for_connections(ended=True)
    assert (record.outcome, record.closed_by, record.error) == (
        Outcome.RESET,
        "client",
        "the client was gone",
    )
    assert server.errors == []


@pytest.mark.parametrize("given", ["request hook", "reply hook", "greeting hook", "reply gate"])
def test_a_transfer_fault_given_for_a_udp_association_fails_the_test_with_why(
    make_server: Callable[..., SOCKS5Server], given: str
) -> None:
    """A transfer fault acts on a tunnel, and UDP ASSOCIATE opens none: one a gate or a
    hook gives for an association is the user's mistake, never accepted and ignored. A
    hook at the request or the reply knows the command, and is named; one given earlier
    is refused when the association would open."""
    server = make_server()
    fault = CloseAfter(after=1)
    phase, how = given.split()
    gate = server.hold(phase) if how == "gate" else None
    if gate is None:
        server.on(phase, lambda record: fault)
    with connect(server.address) as control:
        control.sendall(GREETING + socks5_request("0.0.0.0", 0, command=Command.UDP_ASSOCIATE))
        if gate is not None:
            gate.wait()
            with pytest.raises(ValueError, match="cannot act on a UDP association"):
                gate.release(fault)  # refused where given, whatever it holds
            gate.release()
            assert recv_exactly(control, 2) == b"\x05\x00"
            assert read_reply(control)[1] == Reply.SUCCEEDED  # opened, without the fault
            return
        assert recv_exactly(control, 2) == b"\x05\x00"
        assert recv_all(control) == b""  # closed, never answered
    record = only_record(server, command=Command.UDP_ASSOCIATE)
    assert record.outcome is Outcome.USER_CODE_ERROR
    with pytest.raises(ValueError, match="cannot act on a UDP association") as raised:
        server.raise_errors()
    assert str(raised.value) == (
        ("a gate or hook gave" if phase == "greeting" else f"the on({phase!r}) hook returned")
        + " CloseAfter(direction=both, after=1), which cannot act on a UDP association: a"
        " transfer fault acts on a tunnel, and UDP ASSOCIATE opens none"
        " (udp_faults=UdpFaults(...) acts on its datagrams)"
    )
    server.reset()
