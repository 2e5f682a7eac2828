"""Transfer faults on a kept-alive forwarding connection that moves on to a later origin
(``GET http://a/…`` then ``GET http://b/…`` on one connection): which faults join there,
from where they count, and what the record says when the later origin is never reached.
Every test runs on asyncio and uvloop against loopback origins in threads."""

from __future__ import annotations

import socket
from collections.abc import Callable

from pytest_socks5 import Outcome, SOCKS5Server
from pytest_socks5.faults import CloseAfter, Latency

from . import test_http_forward_faults as forwarded
from .helpers import read_until_closed

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
