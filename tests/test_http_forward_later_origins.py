"""Transfer faults on a kept-alive forwarding connection that moves on to a later origin
(``GET http://a/…`` then ``GET http://b/…`` on one connection): which faults join there,
from where they count, and what the record says when the later origin is never reached.
Every test runs on asyncio and uvloop against loopback origins in threads."""

from __future__ import annotations

import socket
from collections.abc import Callable

from pytest_socks5 import ECHO, Outcome, SOCKS5Server
from pytest_socks5.faults import CloseAfter, Latency
from pytest_socks5.rawclient import open_tunnel

from . import test_http_forward_faults as forwarded
from .helpers import TIMEOUT, read_until_closed

BODY = forwarded.BODY
Origin = forwarded.Origin
origin = forwarded.origin
proxy = forwarded.proxy
ended, raw_client, raw_request = forwarded.ended, forwarded.raw_client, forwarded.raw_request


def _first_response(sock: socket.socket, origin: Origin) -> bytes:
    sock.sendall(raw_request(origin, "/first", close=False))
    first = bytearray()
    while not first.endswith(BODY):
        chunk = sock.recv(65536)
        assert chunk, "the proxy closed before the first response was whole"
        first += chunk
    return bytes(first)


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_a_fault_given_for_a_later_origin_that_is_answered_instead_never_acts(
    proxy: Callable[..., SOCKS5Server], origin: Origin
) -> None:
    """The later origin refuses the dial: the client is answered 502, nothing is
    transferred, and the hook's transfer fault is not in the record."""
    server, port = proxy(), _closed_port()
    fault = CloseAfter(after=10, direction="to_client")
    server.on("request", lambda record: fault if record.port == port else None)
    host = f"127.0.0.1:{port}"
    with raw_client(server) as sock:
        _first_response(sock, origin)
        sock.sendall(f"GET http://{host}/second HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
        answer = read_until_closed(sock)
    assert answer.startswith(b"HTTP/1.1 502 ")
    record = ended(server)
    assert record.outcome is Outcome.REJECTED
    assert record.faults == ()


def _second_response(server: SOCKS5Server, origin: Origin, later: Origin) -> bytes:
    """The first response from ``origin``, then everything the connection carries after
    a request to ``later`` on it, until the proxy closes."""
    with raw_client(server) as sock:
        _first_response(sock, origin)
        sock.sendall(raw_request(later, "/second", close=False))
        return read_until_closed(sock)


def test_a_server_fault_that_selects_a_later_origin_joins_the_connection(
    proxy: Callable[..., SOCKS5Server], origin: Origin
) -> None:
    later = Origin()
    server = proxy()
    fault = CloseAfter(after=10, direction="to_client", when=lambda r: r.port == later.port)
    server.add_fault(fault)
    try:
        second = _second_response(server, origin, later)
    finally:
        later.close()
    assert second == b"HTTP/1.1 2"
    record = ended(server)
    assert record.faults == (fault.describe(),)
    assert record.outcome is Outcome.CLOSED


def test_a_server_fault_acting_already_does_not_join_again_at_a_later_origin(
    proxy: Callable[..., SOCKS5Server], origin: Origin
) -> None:
    later = Origin()
    fault = Latency(seconds=0.001, direction="to_client")
    server = proxy(fault)
    try:
        with raw_client(server) as sock:
            _first_response(sock, origin)
            sock.sendall(raw_request(later, "/second"))
            second = read_until_closed(sock)
    finally:
        later.close()
    assert second.endswith(BODY)
    assert ended(server).faults == (fault.describe(),)


def test_a_fault_joining_at_a_later_origin_counts_from_there_beside_another(
    proxy: Callable[..., SOCKS5Server], origin: Origin
) -> None:
    """``CloseAfter(after=10)`` given for the later origin lets 10 bytes of its response
    through, whether or not a fault in the same direction acted already."""
    later = Origin()
    server = proxy(Latency(seconds=0.001, direction="to_client"))
    fault = CloseAfter(after=10, direction="to_client")
    server.on("request", lambda record: fault if record.port == later.port else None)
    try:
        second = _second_response(server, origin, later)
    finally:
        later.close()
    assert second == b"HTTP/1.1 2"
    assert ended(server).outcome is Outcome.CLOSED


def test_a_fault_acting_already_uses_up_no_times_at_a_later_origin(
    proxy: Callable[..., SOCKS5Server], origin: Origin
) -> None:
    """``times=2``: two connections get it, whether or not the first moves on to a later
    origin (the fault acting on it already is not picked, counted or drawn again)."""
    later = Origin()
    fault = Latency(seconds=0.001, direction="to_client", times=2)
    server = proxy(fault)
    try:
        with raw_client(server) as sock:
            _first_response(sock, origin)
            sock.sendall(raw_request(later, "/second"))
            assert read_until_closed(sock).endswith(BODY)
        for _ in range(2):
            with raw_client(server) as sock:
                sock.sendall(raw_request(origin, "/again"))
                assert read_until_closed(sock).endswith(BODY)
    finally:
        later.close()
    records = server.wait_for_connections(3, ended=True)
    assert [r.faults for r in records] == [(fault.describe(),)] * 2 + [()]


def test_a_later_origins_handshake_is_no_idle_time(origin: Origin) -> None:
    """A gate holds the later origin's request longer than ``idle_timeout``: the
    connection goes on once released, as a first origin's held request does."""
    later = Origin()
    server = SOCKS5Server(idle_timeout=0.3, host_map={"idle.test": ECHO}).start()
    try:
        gate = server.hold("request", port=later.port)
        with raw_client(server) as sock:
            _first_response(sock, origin)
            sock.sendall(raw_request(later, "/second"))
            gate.wait()
            # Held past idle_timeout's reach (1.25 x): two idle tunnels, opened now one
            # after the other, each end idle (no sleep: the proxy's own clock).
            for ended_idle in (1, 2):
                with open_tunnel(server.address, "idle.test", 7, timeout=TIMEOUT):
                    idle = server.wait_for_connections(
                        ended_idle, outcome=Outcome.IDLE_TIMEOUT, ended=True
                    )
                    assert len(idle) == ended_idle
            gate.release()
            assert read_until_closed(sock).endswith(BODY)
        first = server.wait_for_connections(3, ended=True)[0]
        assert first.outcome is Outcome.CLOSED
    finally:
        server.stop()
        later.close()
