"""Transfer faults on a kept-alive forwarding connection that moves on to a later origin
(``GET http://a/…`` then ``GET http://b/…`` on one connection): which faults join there,
from where they count, and what the record says when the later origin is never reached.
Every test runs on asyncio and uvloop against loopback origins in threads."""

from __future__ import annotations

import socket
from collections.abc import Callable

from pytest_socks5 import Outcome, SOCKS5Server
from pytest_socks5.faults import CloseAfter

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
