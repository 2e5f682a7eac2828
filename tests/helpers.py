"""Loopback-only test peers: echo/sink/HTTP targets, closed ports; the raw SOCKS client.

The raw client is :mod:`pytest_socks5.rawclient`; its functions are re-exported here under
the names the tests use.
"""

from __future__ import annotations

import hashlib
import http.server
import socket
import socketserver
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from pytest_socks5 import ConnectionRecord, SOCKS5Server, rawclient
from pytest_socks5.rawclient import (
    TIMEOUT,
    connect,
    read_reply,
    recv_all,
    recv_exactly,
    reply_size,
    socks5_request,
)
from pytest_socks5.rawclient import tunnel as socks5_tunnel

__all__ = [
    "NO_HYPOTHESIS",
    "PYTESTER_ECHO_CONFTEST",
    "SILENCE",
    "TIMEOUT",
    "TWO_WORKERS",
    "VERSIONS",
    "assert_silent",
    "closed_port",
    "connect",
    "connect_request",
    "digest_target",
    "echo_target",
    "exchange",
    "http_target",
    "only_record",
    "open_any_tunnel",
    "read_reply",
    "read_until_closed",
    "recv_all",
    "recv_exactly",
    "reply_size",
    "socks5_request",
    "socks5_tunnel",
    "tcp_target",
]


def exchange(server: SOCKS5Server, *messages: bytes) -> bytes:
    """Send the messages to ``server``, half-close, and return everything it sent until EOF."""
    return rawclient.exchange(server.address, *messages)


#: The CONNECTs a test can run on every path: SOCKS5 (with its greeting), SOCKS 4, HTTP.
VERSIONS: list[int | str] = [5, 4, "http"]


def connect_request(target: tuple[str, int], version: int | str) -> bytes:
    """A CONNECT to ``target`` in SOCKS5 (with the greeting), SOCKS 4 or HTTP."""
    if version == 5:
        return b"\x05\x01\x00" + socks5_request(*target)
    if version == 4:
        return rawclient.socks4_request(*target)
    authority = f"{target[0]}:{target[1]}"
    return f"CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n\r\n".encode()


def open_any_tunnel(
    server: SOCKS5Server, target: tuple[str, int], version: int | str
) -> socket.socket:
    """A client through ``server`` (started with ``socks4=True`` for version 4) to
    ``target``, the success reply read."""
    client = socket.create_connection(server.address, TIMEOUT)
    client.settimeout(TIMEOUT)
    client.sendall(connect_request(target, version))
    if version == 5:
        assert recv_exactly(client, 2) == b"\x05\x00"
        assert recv_exactly(client, 10)[:2] == b"\x05\x00"
    elif version == 4:
        assert recv_exactly(client, 8)[:2] == b"\x00\x5a"
    else:
        head = b""
        while not head.endswith(b"\r\n\r\n"):
            head += recv_exactly(client, 1)
        assert head.startswith(b"HTTP/1.1 200")
    return client


#: How long "no answer" or "nothing more arrives" is watched for.
SILENCE = 0.3


def assert_silent(sock: socket.socket) -> None:
    """Nothing arrives on ``sock`` for :data:`SILENCE` seconds: no byte and no EOF."""
    sock.settimeout(SILENCE)
    try:
        data = sock.recv(100)
    except TimeoutError:
        return
    raise AssertionError(f"expected silence, got {data.hex(' ') or 'EOF'}")


def read_until_closed(sock: socket.socket) -> bytes:
    """Everything the peer sends until it closes: EOF or a reset (the proxy told the
    client, rather than leaving it in silence)."""
    sock.settimeout(TIMEOUT)
    received = bytearray()
    try:
        while chunk := sock.recv(65536):
            received += chunk
    except ConnectionResetError:
        pass
    return bytes(received)


def only_record(server: SOCKS5Server, **criteria: Any) -> ConnectionRecord:
    """The one ended connection matching ``criteria`` (a failure if there are more)."""
    (record,) = server.wait_for_connections(1, ended=True, **criteria)
    return record


#: For an inner pytest run in processes of its own: Hypothesis's pytest plugin is left
#: out. It imports all of Hypothesis (~0.7 s, more under coverage) at the end of every
#: process's session, and no inner suite uses Hypothesis.
NO_HYPOTHESIS = ("-p", "no:hypothesispytest")
#: Options for an inner pytest run on two pytest-xdist workers (three processes).
TWO_WORKERS = ("-n", "2", *NO_HYPOTHESIS)


#: A conftest for pytester runs: an ``echo`` fixture (a loopback TCP echo server's
#: ``(host, port)``) and ``tunnel(proxy, target, auth=None)``, a socket tunnelled to
#: ``target`` (the raw client's :func:`~pytest_socks5.rawclient.open_tunnel`).
PYTESTER_ECHO_CONFTEST = """
import socket, threading
import pytest
from pytest_socks5.rawclient import open_tunnel

@pytest.fixture
def echo():
    listener = socket.create_server(("127.0.0.1", 0))
    def serve():
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            with conn:
                try:
                    while data := conn.recv(65536):
                        conn.sendall(data)
                except ConnectionError:
                    pass  # a test that resets the tunnel resets this side too
    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield listener.getsockname()
    listener.shutdown(socket.SHUT_RDWR)  # wakes the accept() above; close() alone does not
    listener.close()
    thread.join(5)

def tunnel(proxy, target, auth=None):
    return open_tunnel(proxy, *target, auth=auth)
"""


class _Echo(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        try:
            while data := self.request.recv(65536):
                self.request.sendall(data)
            self.request.shutdown(socket.SHUT_WR)
        except ConnectionError:
            pass  # tests that reset the tunnel reset this side too


class _EchoAfterEof(socketserver.BaseRequestHandler):
    """Reads until EOF, then answers with the SHA-256 of everything read and its length."""

    def handle(self) -> None:
        digest, total = hashlib.sha256(), 0
        while data := self.request.recv(65536):
            digest.update(data)
            total += len(data)
        self.request.sendall(digest.hexdigest().encode() + b" %d" % total)
        self.request.shutdown(socket.SHUT_WR)


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    block_on_close = False

    def handle_error(self, request: object, client_address: object) -> None:
        # A client reset by a fault (the tests' business) is not this server's error.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)  # type: ignore[arg-type]


class _Server6(_Server):
    address_family = socket.AF_INET6


#: The loopback targets' serve_forever loops poll every 5 ms: shutdown() waits for the next
#: poll, and a target is stopped after every test that used one (2,000 teardowns a run).
@contextmanager
def tcp_target(
    handler: type[socketserver.BaseRequestHandler], host: str = "127.0.0.1"
) -> Iterator[tuple[str, int]]:
    cls = _Server6 if ":" in host else _Server
    server = cls((host, 0), handler)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.005}, daemon=True
    )
    thread.start()
    try:
        yield server.server_address[:2]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(TIMEOUT)


def echo_target(host: str = "127.0.0.1") -> contextmanager[tuple[str, int]]:  # type: ignore[type-arg]
    return tcp_target(_Echo, host)


def digest_target(host: str = "127.0.0.1") -> contextmanager[tuple[str, int]]:  # type: ignore[type-arg]
    return tcp_target(_EchoAfterEof, host)


class _Hello(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        body = f"hello from {self.path}".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Content-Type", "text/plain")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


class _HTTPServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def handle_error(self, request: object, client_address: object) -> None:
        # A client reset by a fault (the tests' business) is not this server's error.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)  # type: ignore[arg-type]


class _HTTPServer6(_HTTPServer):
    address_family = socket.AF_INET6


@contextmanager
def http_target(host: str = "127.0.0.1") -> Iterator[tuple[str, int]]:
    cls = _HTTPServer6 if ":" in host else _HTTPServer
    server = cls((host, 0), _Hello)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.005}, daemon=True
    )
    thread.start()
    try:
        yield server.server_address[:2]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(TIMEOUT)


@contextmanager
def closed_port(host: str = "127.0.0.1") -> Iterator[int]:
    """A loopback port that is bound but not listening: connecting to it is refused."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        yield sock.getsockname()[1]
