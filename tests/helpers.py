"""Loopback-only test peers: raw SOCKS clients, echo/sink/HTTP targets, closed ports."""

from __future__ import annotations

import hashlib
import http.server
import socket
import socketserver
import threading
from collections.abc import Iterator
from contextlib import contextmanager

TIMEOUT = 5.0


def recv_exactly(sock: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise EOFError(f"expected {n} bytes, got {len(data)} then EOF: {data.hex(' ')}")
        data += chunk
    return data


def recv_all(sock: socket.socket) -> bytes:
    """Everything until EOF."""
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


def reply_size(head: bytes) -> int:
    """Length of a SOCKS5 reply given its first 5 bytes."""
    atyp = head[3]
    return {1: 10, 4: 22}.get(atyp, 7 + head[4])


def connect(address: tuple[str, int]) -> socket.socket:
    family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.settimeout(TIMEOUT)
        sock.connect(address)
    except BaseException:
        sock.close()
        raise
    return sock


def socks5_request(host: str, port: int, command: int = 1) -> bytes:
    """``VER CMD RSV ATYP DST.ADDR DST.PORT`` for an IPv4/IPv6 literal or a domain."""
    import ipaddress

    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        raw = host.encode("idna")
        addr = bytes((3, len(raw))) + raw
    else:
        addr = bytes((1 if ip.version == 4 else 4,)) + ip.packed
    return bytes((5, command, 0)) + addr + port.to_bytes(2, "big")


@contextmanager
def socks5_tunnel(
    proxy: tuple[str, int], host: str, port: int, *, auth: tuple[bytes, bytes] | None = None
) -> Iterator[tuple[socket.socket, bytes]]:
    """A raw socket through the proxy; yields ``(socket, reply bytes)``."""
    sock = connect(proxy)
    try:
        if auth is None:
            sock.sendall(b"\x05\x01\x00")
            assert recv_exactly(sock, 2) == b"\x05\x00"
        else:
            sock.sendall(b"\x05\x01\x02")
            assert recv_exactly(sock, 2) == b"\x05\x02"
            user, pw = auth
            sock.sendall(b"\x01" + bytes((len(user),)) + user + bytes((len(pw),)) + pw)
            assert recv_exactly(sock, 2) == b"\x01\x00"
        sock.sendall(socks5_request(host, port))
        head = recv_exactly(sock, 5)
        reply = head + recv_exactly(sock, reply_size(head) - 5)
        yield sock, reply
    finally:
        sock.close()


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


class _Server6(_Server):
    address_family = socket.AF_INET6


@contextmanager
def tcp_target(
    handler: type[socketserver.BaseRequestHandler], host: str = "127.0.0.1"
) -> Iterator[tuple[str, int]]:
    cls = _Server6 if ":" in host else _Server
    server = cls((host, 0), handler)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
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


class _HTTPServer6(_HTTPServer):
    address_family = socket.AF_INET6


@contextmanager
def http_target(host: str = "127.0.0.1") -> Iterator[tuple[str, int]]:
    cls = _HTTPServer6 if ":" in host else _HTTPServer
    server = cls((host, 0), _Hello)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
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
