"""An exception in any callback of the I/O layer is never swallowed: it ends its
connection as INTERNAL_ERROR, lands in ``server.errors``, and fails the test with the
original exception type — on every variant (asyncio, uvloop, with and without splice;
the failing test's report is checked in test_plugin.py).

Each test makes one callback raise by breaking something it calls (a method of the
record, of the sans-I/O connection, ``os.splice``), so the callback itself keeps its guard."""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Callable
from typing import Any

import pytest

from pytest_socks5 import Command, Outcome, ServerError, Sink, SOCKS5Server, _guard
from pytest_socks5._protocol import ServerConnection
from pytest_socks5._recorder import LiveRecord
from pytest_socks5._relay import RelaySide
from pytest_socks5._virtual import _Service
from pytest_socks5.faults import Latency
from pytest_socks5.rawclient import read_reply, reply_address, socks5_request

from .helpers import connect, only_record, read_until_closed, socks5_tunnel
from .peers import UdpClient

MakeServer = Callable[..., SOCKS5Server]


def explode(*args: Any, **kwargs: Any) -> None:
    raise ZeroDivisionError("a bug in a callback")


def break_connection_made(monkeypatch: pytest.MonkeyPatch) -> None:
    """A bug in the relay side's ``connection_made``, under its guard as the class has it:
    on the dialled side of a tunnel, a BIND peer's and a forwarded request's."""
    monkeypatch.setattr(RelaySide, "connection_made", _guard._guarded_setup(explode))


def assert_ended_by_the_bug(server: SOCKS5Server) -> None:
    record = only_record(server)
    assert record.outcome is Outcome.INTERNAL_ERROR
    assert record.error is not None
    assert "ZeroDivisionError: a bug in a callback" in record.error
    (error,) = server.errors
    assert "ZeroDivisionError: a bug in a callback" in error
    with pytest.raises(ServerError) as raised:
        server.raise_errors()
    assert isinstance(raised.value.__cause__, ZeroDivisionError)
    assert [type(e) for e in raised.value.exceptions] == [ZeroDivisionError]


def test_the_client_connections_callback(
    make_server: MakeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = make_server()
    monkeypatch.setattr(ServerConnection, "receive_data", explode)
    with connect(server.address) as sock:
        sock.sendall(b"\x05\x01\x00")
        read_until_closed(sock)
    assert_ended_by_the_bug(server)


def test_a_relay_callback(
    make_server: MakeServer, echo_server: tuple[str, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Client bytes: the ordinary relay's ``data_received``, or the splice relay's
    reader callback."""
    server = make_server()
    monkeypatch.setattr(LiveRecord, "delivered_from_client", explode)
    monkeypatch.setattr(os, "splice", explode)
    with socks5_tunnel(server.address, *echo_server) as (sock, _):
        sock.sendall(b"ping")
        read_until_closed(sock)
    assert_ended_by_the_bug(server)


def test_the_shapers_task(
    make_server: MakeServer, echo_server: tuple[str, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    server = make_server()
    server.add_fault(Latency(seconds=0.01, direction="to_client"))
    monkeypatch.setattr(LiveRecord, "delivered_to_client", explode)
    with socks5_tunnel(server.address, *echo_server) as (sock, _):
        sock.sendall(b"ping")
        read_until_closed(sock)
    assert_ended_by_the_bug(server)


def test_the_virtual_service(make_server: MakeServer, monkeypatch: pytest.MonkeyPatch) -> None:
    server = make_server(host_map={"sink.test": Sink(response=b"hello")})
    monkeypatch.setattr(_Service, "_answer", explode)
    with socks5_tunnel(server.address, "sink.test", 80) as (sock, _):
        sock.sendall(b"ping")
        read_until_closed(sock)
    assert_ended_by_the_bug(server)


def test_a_udp_endpoint(make_server: MakeServer, monkeypatch: pytest.MonkeyPatch) -> None:
    server = make_server()
    monkeypatch.setattr(LiveRecord, "udp_client", explode)
    with UdpClient(server.address) as client:
        client.send("127.0.0.1", 9, b"ping")
        read_until_closed(client.control)
    assert_ended_by_the_bug(server)


def test_the_dialled_sides_connection_made(
    make_server: MakeServer, echo_server: tuple[str, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The destination's side runs its first callback inside the dial, before the
    connection takes it: the bug is kept and raised when it does."""
    server = make_server()
    break_connection_made(monkeypatch)
    with connect(server.address) as sock:
        sock.sendall(b"\x05\x01\x00")
        assert sock.recv(2) == b"\x05\x00"
        sock.sendall(socks5_request("127.0.0.1", echo_server[1]))
        read_until_closed(sock)
    assert_ended_by_the_bug(server)


def test_a_virtual_service_answering_at_connect(
    make_server: MakeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A sink that speaks first answers inside its ``connection_made``, before the tunnel
    has an upstream side to report through."""
    server = make_server(host_map={"banner.test": Sink(response=b"hi", on_connect=True)})
    monkeypatch.setattr(_Service, "_answer", explode)
    with connect(server.address) as sock:
        sock.sendall(b"\x05\x01\x00")
        assert sock.recv(2) == b"\x05\x00"
        sock.sendall(socks5_request("banner.test", 25))
        read_until_closed(sock)
    assert_ended_by_the_bug(server)


def test_a_bind_peers_connection_made(
    make_server: MakeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The BIND peer is accepted by the proxy's listener before the connection takes it:
    the wait for the peer raises the bug."""
    server = make_server(bind_timeout=5)
    break_connection_made(monkeypatch)
    with connect(server.address) as sock:
        sock.sendall(b"\x05\x01\x00" + socks5_request("127.0.0.1", 0, command=Command.BIND))
        assert sock.recv(2) == b"\x05\x00"
        listening = read_reply(sock)
        with socket.create_connection(reply_address(listening), timeout=5) as peer:
            read_until_closed(sock)
            read_until_closed(peer)
    assert_ended_by_the_bug(server)


def test_an_exception_that_reaches_the_loop_itself(make_server: MakeServer) -> None:
    """Outside every guarded callback (a loop's own failure, such as uvloop giving up a
    socket's watcher): the private loop's handler keeps it for the test to fail with."""
    server = make_server()
    loop, ran = server._loop, threading.Event()
    assert loop is not None
    loop.call_soon_threadsafe(explode)
    loop.call_soon_threadsafe(ran.set)  # callbacks run in order: explode has run
    assert ran.wait(5)
    (error,) = server.errors
    assert "ZeroDivisionError: a bug in a callback" in error
    with pytest.raises(ServerError) as raised:
        server.raise_errors()
    assert isinstance(raised.value.__cause__, ZeroDivisionError)


def test_the_dialled_sides_connection_made_for_a_forwarded_http_request(
    make_server: MakeServer, echo_server: tuple[str, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The HTTP front end dials the same way for a forwarded request (not a tunnel): the
    bug is raised there too."""
    server = make_server()
    break_connection_made(monkeypatch)
    host, port = echo_server
    with connect(server.address) as sock:
        sock.sendall(f"GET http://{host}:{port}/ HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
        read_until_closed(sock)
    assert_ended_by_the_bug(server)
