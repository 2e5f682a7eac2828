"""The tunnel: byte-exact both ways, half-close honoured, IPv6 and SOCKS4/4a."""

from __future__ import annotations

import gc
import hashlib
import os
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from pytest_socks5 import AddressType, Outcome, SOCKS5Server
from pytest_socks5._connection import ClientConnection
from pytest_socks5._relay import RelaySide
from pytest_socks5._splice import AVAILABLE as SPLICE_AVAILABLE
from pytest_socks5._splice import SpliceTunnel

from .helpers import (
    closed_port,
    connect,
    digest_target,
    echo_target,
    only_record,
    recv_all,
    recv_exactly,
    socks5_request,
    socks5_tunnel,
)

LINGER_ZERO = struct.pack("ii", 1, 0)


@pytest.fixture(params=[False, True], ids=["relay", "splice"])
def server(request: pytest.FixtureRequest) -> Iterator[SOCKS5Server]:
    """Every tunnel test runs on the ordinary relay and on the zero-copy splice relay."""
    if request.param and not SPLICE_AVAILABLE:
        pytest.skip("os.splice is Linux-only")
    with SOCKS5Server(splice=request.param) as server:
        yield server


def test_echo_is_byte_exact_both_ways(server: SOCKS5Server, echo_server) -> None:
    payload = os.urandom(3 * 1024 * 1024 + 17)
    received = bytearray()
    with socks5_tunnel(server.address, *echo_server) as (sock, reply):
        assert reply[1] == 0

        def reader() -> None:
            while len(received) < len(payload):
                chunk = sock.recv(1 << 16)
                if not chunk:
                    break
                received.extend(chunk)

        thread = threading.Thread(target=reader)
        thread.start()
        sock.sendall(payload)  # concurrently with reading: backpressure must not deadlock
        thread.join(10)
    assert hashlib.sha256(received).digest() == hashlib.sha256(payload).digest()
    record = only_record(server)
    assert record.bytes_from_client == len(payload)
    assert record.bytes_to_client == len(payload)


def test_client_half_close_still_receives_the_whole_response(server: SOCKS5Server) -> None:
    payload = os.urandom(1024 * 1024)
    with digest_target() as target, socks5_tunnel(server.address, *target) as (sock, _):
        sock.sendall(payload)
        sock.shutdown(socket.SHUT_WR)  # the target answers only after our EOF
        answer = recv_all(sock)
    assert answer == hashlib.sha256(payload).hexdigest().encode() + b" %d" % len(payload)
    record = only_record(server)
    assert record.outcome is Outcome.CLOSED
    assert record.closed_by == "client"


def test_upstream_half_close_lets_the_client_keep_sending(server: SOCKS5Server) -> None:
    """The target says hello and shuts down its write side, then reads until EOF."""
    got = []
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()

        def target() -> None:
            conn, _ = listener.accept()
            with conn:
                conn.sendall(b"banner")
                conn.shutdown(socket.SHUT_WR)
                got.append(recv_all(conn))

        thread = threading.Thread(target=target)
        thread.start()
        with socks5_tunnel(server.address, *listener.getsockname()) as (sock, _):
            assert recv_all(sock) == b"banner"  # EOF forwarded to us...
            sock.sendall(b"late data")  # ...but our direction is still open
            sock.shutdown(socket.SHUT_WR)
            thread.join(5)
    assert got == [b"late data"]
    record = only_record(server)
    assert record.closed_by == "upstream"


def test_payload_sent_before_the_reply_is_not_lost(server: SOCKS5Server, echo_server) -> None:
    with connect(server.address) as sock:
        sock.sendall(b"\x05\x01\x00" + socks5_request(*echo_server) + b"early bytes")
        sock.shutdown(socket.SHUT_WR)
        answer = recv_all(sock)
    assert answer[:2] == b"\x05\x00"
    assert answer[12:] == b"early bytes"


def test_nothing_from_the_destination_precedes_the_reply(server: SOCKS5Server) -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        with connect(server.address) as sock:
            sock.sendall(b"\x05\x01\x00" + socks5_request(*listener.getsockname()))
            conn, _ = listener.accept()
            with conn:
                conn.sendall(b"greeting from the destination")
                answer = recv_exactly(sock, 2 + 10 + 29)
    assert answer[2:4] == b"\x05\x00"
    assert answer[12:] == b"greeting from the destination"


def test_ipv6_listener_and_ipv6_destination() -> None:
    with SOCKS5Server("::1") as server, echo_target("::1") as target:
        assert server.url == f"socks5://[::1]:{server.port}"
        with socks5_tunnel(server.address, *target) as (sock, reply):
            assert reply[3] == AddressType.IPV6
            sock.sendall(b"over v6")
            assert recv_exactly(sock, 7) == b"over v6"
        (record,) = server.connections
        assert record.address_type == AddressType.IPV6
        assert record.host == "::1"


def test_localhost_listens_on_both_loopback_addresses_on_one_port() -> None:
    with SOCKS5Server("localhost") as server, echo_target() as target:
        assert {a[0] for a in server.listen_addresses} == {"127.0.0.1", "::1"}
        assert len({a[1] for a in server.listen_addresses}) == 1
        for host in ("127.0.0.1", "::1"):
            with socks5_tunnel((host, server.port), *target) as (sock, _):
                sock.sendall(b"x")
                assert recv_exactly(sock, 1) == b"x"
        assert {r.client_address[0] for r in server.connections} == {"127.0.0.1", "::1"}


def test_domain_destination_is_resolved_by_the_server(server: SOCKS5Server, echo_server) -> None:
    with socks5_tunnel(server.address, "localhost", echo_server[1]) as (_sock, reply):
        assert reply[1] == 0
    record = server.assert_connected(host="localhost", address_type=AddressType.DOMAIN)
    assert record.raw_address == b"localhost"
    assert record.upstream_address is not None
    assert record.upstream_address[1] == echo_server[1]


def test_host_map_sends_a_name_to_a_local_address(echo_server) -> None:
    target = f"{echo_server[0]}:{echo_server[1]}"
    with SOCKS5Server(host_map={"api.example.test": target}) as server:
        with socks5_tunnel(server.address, "api.example.test", 443) as (sock, reply):
            assert reply[1] == 0
            sock.sendall(b"mapped")
            assert recv_exactly(sock, 6) == b"mapped"
        record = server.assert_connected(host="api.example.test", port=443)
    assert record.upstream_address == echo_server


@pytest.mark.parametrize("variant", ["4", "4a"])
def test_socks4_and_4a_on_the_same_port(server: SOCKS5Server, echo_server, variant: str) -> None:
    port = echo_server[1].to_bytes(2, "big")
    if variant == "4":
        request = b"\x04\x01" + port + socket.inet_aton("127.0.0.1") + b"me\x00"
    else:
        request = b"\x04\x01" + port + b"\x00\x00\x00\x01" + b"me\x00localhost\x00"
    with connect(server.address) as sock:
        sock.sendall(request + b"ping")
        answer = recv_exactly(sock, 12)
    assert answer[:2] == b"\x00\x5a"
    assert answer[8:] == b"ping"
    (record,) = server.connections
    assert record.version == 4
    assert record.user_id == b"me"
    assert record.host == ("127.0.0.1" if variant == "4" else "localhost")


def test_socks4_can_be_refused() -> None:
    with SOCKS5Server(socks4=False) as server, connect(server.address) as sock:
        sock.sendall(b"\x04\x01\x00\x50\x7f\x00\x00\x01\x00")
        assert recv_all(sock) == b""


def test_many_concurrent_tunnels(server: SOCKS5Server, echo_server) -> None:
    errors: list[BaseException] = []

    def one(i: int) -> None:
        try:
            data = os.urandom(1000 + i)
            with socks5_tunnel(server.address, *echo_server) as (sock, _):
                sock.sendall(data)
                assert recv_exactly(sock, len(data)) == data
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert errors == []
    assert len(server.wait_for_connections(50, ended=True)) == 50


def test_stop_closes_open_tunnels_promptly(echo_server) -> None:
    before = set(threading.enumerate())
    server = SOCKS5Server().start()
    with socks5_tunnel(server.address, *echo_server) as (sock, _):
        server.stop(timeout=1)
        assert recv_all(sock) == b""
    (record,) = server.connections
    assert record.outcome is Outcome.SERVER_STOPPED
    leftover = [
        t for t in set(threading.enumerate()) - before if t.name.startswith("pytest-socks5")
    ]
    assert leftover == [], "the server's thread must be gone"


def test_a_reset_is_passed_on(server: SOCKS5Server) -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        with socks5_tunnel(server.address, *listener.getsockname()) as (sock, _):
            conn, _ = listener.accept()
            conn.setsockopt(
                socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00"
            )
            conn.close()  # RST
            with pytest.raises(ConnectionResetError):
                sock.recv(10)
    record = only_record(server)
    assert record.outcome is Outcome.RESET


@pytest.mark.parametrize(
    "ending", ["client closes", "client resets", "refused", "socks4 tunnel", "http tunnel"]
)
def test_a_finished_connection_leaves_nothing_for_the_garbage_collector(
    make_server: Callable[..., SOCKS5Server], echo_server: tuple[str, int], ending: str
) -> None:
    """Once a connection is over, reference counting frees the objects of ours it used
    (the connection, the relay sides or splice tunnel): none waits in a reference cycle
    for the collector, which is off here, on every variant."""
    server = make_server()
    records = server._recorder._records

    def left() -> list[str]:
        """The connections, relay sides and splice tunnels of this server still alive."""
        held = {id(r) for r in records}
        return sorted(
            type(o).__qualname__
            for o in gc.get_objects()
            if isinstance(o, ClientConnection | RelaySide | SpliceTunnel) and id(o.record) in held
        )

    gc.collect()
    gc.disable()
    try:
        with closed_port() as refusing:
            for _ in range(5):
                one_connection(server.address, ending, echo_server[1], refusing)
        server.wait_for_connections(5, ended=True, timeout=5)
        deadline = time.monotonic() + 5
        while left() and time.monotonic() < deadline:  # the loop's last callbacks
            time.sleep(0.01)
        assert left() == []
    finally:
        gc.enable()


def one_connection(proxy: tuple[str, int], ending: str, echo_port: int, refusing: int) -> None:
    """A connection through ``proxy`` that ends as ``ending`` says."""
    if ending == "refused":  # answered with a failure: no tunnel
        with connect(proxy) as sock:
            sock.sendall(b"\x05\x01\x00" + socks5_request("127.0.0.1", refusing))
            assert recv_all(sock)[:4] == b"\x05\x00\x05\x05"  # REP 0x05
        return
    if ending in ("socks4 tunnel", "http tunnel"):
        with connect(proxy) as sock:
            if ending == "socks4 tunnel":
                sock.sendall(b"\x04\x01" + echo_port.to_bytes(2, "big") + b"\x7f\0\0\x01\0")
                assert recv_exactly(sock, 8)[1] == 0x5A  # granted
            else:
                target = f"127.0.0.1:{echo_port}"
                sock.sendall(f"CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n".encode())
                head = b""
                while b"\r\n\r\n" not in head:
                    head += sock.recv(1024)
                assert head.startswith(b"HTTP/1.1 200")
            sock.sendall(b"ping")
            assert recv_exactly(sock, 4) == b"ping"
        return
    with socks5_tunnel(proxy, "127.0.0.1", echo_port) as (sock, _):
        sock.sendall(b"ping")
        assert recv_exactly(sock, 4) == b"ping"
        if ending == "client resets":
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, LINGER_ZERO)
