"""A close the proxy makes cleanly is a FIN on the wire, even while the peer still sends.

Closing a socket whose peer's bytes are not all read sends RST and no FIN (Linux), so a
clean close that crossed the client's bytes reached the client as a reset: its read
failed with ECONNRESET while the record said "fin". In each test a client keeps sending
while the proxy closes, and must read everything up to EOF; on every variant, and for
SOCKS 4 and HTTP CONNECT as well as SOCKS5.
"""

from __future__ import annotations

import socket
import socketserver
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest

from pytest_socks5 import SOCKS5Server
from pytest_socks5.faults import CloseAfter
from pytest_socks5.rawclient import recv_all

from .helpers import (
    TIMEOUT,
    VERSIONS,
    closed_port,
    connect_request,
    only_record,
    open_any_tunnel,
    tcp_target,
)

MakeServer = Callable[..., SOCKS5Server]


class _Sink(socketserver.BaseRequestHandler):
    """A destination that reads and drops everything until EOF or a reset."""

    def handle(self) -> None:
        try:
            while self.request.recv(65536):
                pass
        except OSError:
            pass


@contextmanager
def flooding(sock: socket.socket) -> Iterator[None]:
    """Keep writing to ``sock`` from a thread until the proxy stops taking bytes."""
    done = threading.Event()

    def flood() -> None:
        chunk = bytes(65536)
        try:
            while not done.is_set():
                sock.sendall(chunk)
        except OSError:
            pass  # the proxy closed: a broken pipe or the reset that answers our bytes

    thread = threading.Thread(target=flood, daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join(TIMEOUT)
        assert not thread.is_alive()


@pytest.mark.parametrize("version", VERSIONS)
def test_a_fault_that_closes_the_tunnel_sends_fin_while_the_client_sends(
    make_server: MakeServer, version: int | str
) -> None:
    server = make_server(socks4=True, faults=[CloseAfter(after=0, direction="from_client")])
    with (
        tcp_target(_Sink) as target,
        open_any_tunnel(server, target, version) as client,
        flooding(client),
    ):
        assert recv_all(client) == b""  # EOF: a reset raises ConnectionResetError
    record = only_record(server)
    assert (record.closed_by, record.closed_how) == ("server", "fin")


@pytest.mark.parametrize("version", VERSIONS)
def test_a_refusal_sends_its_reply_and_fin_while_the_client_sends(
    make_server: MakeServer, version: int | str
) -> None:
    """A client that sends data after its request without waiting for the reply (as
    "optimistic data" clients do) still reads the refusal, then EOF."""
    server = make_server(socks4=True)
    with closed_port() as port, socket.create_connection(server.address, TIMEOUT) as client:
        client.settimeout(TIMEOUT)
        client.sendall(connect_request(("127.0.0.1", port), version))
        with flooding(client):
            answer = recv_all(client)
    if version == 5:
        assert answer[:2] == b"\x05\x00"
        assert answer[2:4] == b"\x05\x05"  # REP 5: connection refused
        assert len(answer) == 12
    elif version == 4:
        assert answer[:2] == b"\x00\x5b"  # CD 91: rejected or failed
        assert len(answer) == 8
    else:
        assert answer.startswith(b"HTTP/1.1 502 ")
    assert only_record(server).closed_by == "server"


class _Stuck(socketserver.BaseRequestHandler):
    """A destination that accepts and never reads: the proxy stops reading the client,
    whose bytes then wait unread in the proxy's socket."""

    released = threading.Event()

    def handle(self) -> None:
        self.released.wait(TIMEOUT)


def test_a_server_stop_closes_a_stuck_tunnel_with_fin(make_server: MakeServer) -> None:
    """The client's bytes wait unread (the destination takes none); the stop closes the
    client's side with a FIN all the same (the destination's, which cannot flush, is
    aborted after the stop's timeout)."""
    server = make_server()
    _Stuck.released.clear()
    try:
        with (
            tcp_target(_Stuck) as target,
            open_any_tunnel(server, target, 5) as client,
            flooding(client),
        ):
            server.stop(timeout=0.2)
            assert recv_all(client) == b""
    finally:
        _Stuck.released.set()
    record = only_record(server)
    assert (record.closed_by, record.closed_how) == ("server", "fin")
