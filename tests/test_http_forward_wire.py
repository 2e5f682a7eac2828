"""Forwarded HTTP on the wire: an HTTP/1.0 server behind the proxy, the proxy's own
version and fields on each hop, and records that count and close as a tunnel's do.

Every origin here is a loopback server in a thread; every client is given only the
proxy (no environment)."""

from __future__ import annotations

import http.client
import http.server
import socket
import threading
from collections.abc import Callable, Iterator

import pytest
import requests

from pytest_socks5 import ConnectionRecord, Outcome, SOCKS5Server
from pytest_socks5.rawclient import connect, open_tunnel, recv_all, recv_exactly

TIMEOUT = 5


class _Http10(http.server.BaseHTTPRequestHandler):
    """An HTTP/1.0 server, as ``python -m http.server`` is: it closes after each response."""

    protocol_version = "HTTP/1.0"
    hosts: list[str | None]

    def do_GET(self) -> None:
        self.hosts.append(self.headers.get("Host"))
        self.send_response(200)
        if self.path == "/until-close":  # no Content-Length: the body ends at the close
            self.end_headers()
            self.wfile.write(b"hello until the close")
            return
        self.send_header("Content-Length", "5")
        if self.path == "/kept":  # HTTP/1.0 keep-alive: hop-by-hop, never passed on
            self.send_header("Connection", "keep-alive")
            self.send_header("Keep-Alive", "timeout=5")
        self.end_headers()
        self.wfile.write(b"hello")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def http10() -> Iterator[tuple[int, list[str | None]]]:
    """``(port, hosts)``: an HTTP/1.0 server on 127.0.0.1 and each request's ``Host``."""
    hosts: list[str | None] = []
    handler = type("Handler", (_Http10,), {"hosts": hosts})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.005})
    thread.start()
    yield server.server_address[1], hosts
    server.shutdown()
    server.server_close()
    thread.join(TIMEOUT)


def ended(server: SOCKS5Server, **criteria: object) -> ConnectionRecord:
    return server.wait_for_connections(ended=True, timeout=TIMEOUT, **criteria)[0]


def forward(server: SOCKS5Server, request: bytes) -> bytes:
    """Send one raw request to the proxy; everything it sends back until it closes."""
    with connect(server.address, timeout=TIMEOUT) as sock:
        sock.sendall(request)
        return recv_all(sock)


# -- an HTTP/1.0 server behind the proxy ------------------------------------------------


def test_an_http10_server_answers_a_raw_client(
    make_server: Callable[..., SOCKS5Server], http10: tuple[int, list[str | None]]
) -> None:
    server, port = make_server(), http10[0]
    url = f"http://127.0.0.1:{port}/five"
    got = forward(server, f"GET {url} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode())
    head, _, body = got.partition(b"\r\n\r\n")
    lines = head.lower().split(b"\r\n")
    assert lines[0] == b"http/1.1 200 ok"  # the proxy's own version (RFC 9110 section 6.2)
    assert (lines[-2], lines[-1]) == (b"content-length: 5", b"connection: close")
    assert body == b"hello"
    record = ended(server, protocol="http")
    assert (record.outcome, record.error) == (Outcome.CLOSED, None)
    assert (record.closed_by, record.closed_how) == ("upstream", "fin")  # it closed first
    assert record.http_statuses == (200,)
    assert record.bytes_to_client == len(got)  # the head and the body, as a tunnel counts
    assert record.message("http response") == head + b"\r\n\r\n"


def test_an_http10_keep_alive_response_is_the_last_on_its_connection(
    make_server: Callable[..., SOCKS5Server], http10: tuple[int, list[str | None]]
) -> None:
    """h11 keeps no HTTP/1.0 connection alive: the client is told ``Connection: close``,
    the 1.0 hop's ``Keep-Alive`` is not passed on, and the proxy is the side that closes."""
    server, port = make_server(), http10[0]
    url = f"http://127.0.0.1:{port}/kept"
    got = forward(server, f"GET {url} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode())
    head, _, body = got.partition(b"\r\n\r\n")
    lines = head.lower().split(b"\r\n")
    assert lines[0] == b"http/1.1 200 ok"
    assert [line for line in lines if b"alive" in line or b"connection" in line] == [
        b"connection: close"
    ]
    assert body == b"hello"
    record = ended(server, protocol="http")
    assert (record.outcome, record.closed_by, record.closed_how) == (
        Outcome.CLOSED,
        "server",
        "fin",
    )


def test_an_http10_body_that_ends_at_the_close_reaches_the_client_chunked(
    make_server: Callable[..., SOCKS5Server], http10: tuple[int, list[str | None]]
) -> None:
    server, port = make_server(), http10[0]
    client = http.client.HTTPConnection(*server.address, timeout=TIMEOUT)
    client.request("GET", f"http://127.0.0.1:{port}/until-close")
    response = client.getresponse()
    assert (response.version, response.status) == (11, 200)
    assert response.getheader("Transfer-Encoding") == "chunked"
    assert response.getheader("Connection") == "close"
    assert response.read() == b"hello until the close"
    client.close()
    record = ended(server, protocol="http")
    assert (record.outcome, record.closed_by, record.http_statuses) == (
        Outcome.CLOSED,
        "upstream",
        (200,),
    )


def test_requests_through_the_proxy_to_an_http10_server(
    make_server: Callable[..., SOCKS5Server], http10: tuple[int, list[str | None]]
) -> None:
    server, port = make_server(), http10[0]
    proxies = {"http": server.url_for("http")}
    with requests.Session() as session:
        session.trust_env = False
        five = session.get(f"http://127.0.0.1:{port}/five", proxies=proxies, timeout=TIMEOUT)
        rest = session.get(f"http://127.0.0.1:{port}/until-close", proxies=proxies)
    assert (five.status_code, five.text) == (200, "hello")
    assert (rest.status_code, rest.text) == (200, "hello until the close")
    first, second = server.wait_for_connections(2, ended=True, timeout=TIMEOUT)
    assert (first.outcome, first.http_statuses) == (Outcome.CLOSED, (200,))
    # requests closes once it has read Content-Length bytes, racing the server's close
    assert first.closed_by in ("upstream", "client")
    # the end of this body is the server's close: nobody can close before it
    assert (second.outcome, second.closed_by, second.http_statuses) == (
        Outcome.CLOSED,
        "upstream",
        (200,),
    )


def test_an_http10_request_without_host_gets_one_from_its_target(
    socks5_server: SOCKS5Server, http10: tuple[int, list[str | None]]
) -> None:
    port, hosts = http10
    url = f"http://127.0.0.1:{port}/five"
    got = forward(socks5_server, f"GET {url} HTTP/1.0\r\n\r\n".encode())
    assert got.startswith(b"HTTP/1.1 200 ")
    assert got.endswith(b"\r\n\r\nhello")
    assert hosts == [f"127.0.0.1:{port}"]  # RFC 9112 section 3.2.2
    record = ended(socks5_server, protocol="http")
    assert record.http_request == f"GET {url} HTTP/1.0"  # as the client sent it
    assert record.outcome is Outcome.CLOSED


# -- what a record says: counted where delivered, closed by whoever closed first ------------


class _ScriptedOrigin:
    """One connection: reads a request (head and ``Content-Length`` body), sends
    ``response``, then closes (``linger=False``) or reads on until the peer's EOF."""

    def __init__(self, response: bytes, *, linger: bool) -> None:
        self.response, self.linger = response, linger
        self.received = bytearray()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self.listener.getsockname()[1]
        self.thread = threading.Thread(target=self._serve)
        self.thread.start()

    def _serve(self) -> None:
        self.listener.settimeout(TIMEOUT)
        sock, _ = self.listener.accept()
        with sock:
            sock.settimeout(TIMEOUT)
            while b"\r\n\r\n" not in self.received:
                self.received += sock.recv(65536)
            head, _, body = bytes(self.received).partition(b"\r\n\r\n")
            length = [
                int(v)
                for k, _, v in (x.partition(b":") for x in head.split(b"\r\n"))
                if k.strip().lower() == b"content-length"
            ]
            if length:
                self.received += recv_exactly(sock, length[0] - len(body))
            sock.sendall(self.response)
            while self.linger and (data := sock.recv(65536)):
                self.received += data

    def wait(self) -> bytes:
        self.thread.join(TIMEOUT)
        self.listener.close()
        return bytes(self.received)


CLOSING = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello"


@pytest.mark.parametrize("path", ["socks5 tunnel", "http forward"])
def test_a_record_counts_and_closes_alike_on_both_paths(
    make_server: Callable[..., SOCKS5Server], path: str
) -> None:
    server, origin = make_server(), _ScriptedOrigin(CLOSING, linger=False)
    url = f"http://127.0.0.1:{origin.port}/up"
    request = f"POST {url} HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\nhello world"
    if path == "http forward":
        got = forward(server, request.encode())
    else:
        with open_tunnel(server.address, "127.0.0.1", origin.port, timeout=TIMEOUT) as sock:
            sock.sendall(request.replace(url, "/up").encode())
            got = recv_all(sock)
    received = origin.wait()
    assert received.endswith(b"\r\n\r\nhello world")
    assert got.endswith(b"\r\n\r\nhello")
    record = ended(server)
    assert (record.bytes_from_client, record.bytes_to_client) == (len(received), len(got))
    assert (record.closed_by, record.closed_how) == ("upstream", "fin")


def test_a_kept_alive_connection_ends_when_the_destination_closes(
    make_server: Callable[..., SOCKS5Server],
) -> None:
    server = make_server()
    origin = _ScriptedOrigin(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", linger=False)
    url = f"http://127.0.0.1:{origin.port}/"
    with connect(server.address, timeout=TIMEOUT) as sock:
        sock.sendall(f"GET {url} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        got = recv_all(sock)  # the response, then the proxy's close after the origin's
    assert got.startswith(b"HTTP/1.1 200 OK\r\n")
    assert got.endswith(b"\r\n\r\nhello")
    assert b"connection: close" not in got.lower()  # it said nothing of closing
    record = ended(server)
    assert (record.outcome, record.closed_by, record.closed_how) == (
        Outcome.CLOSED,
        "upstream",
        "fin",
    )
    assert record.bytes_from_client == len(origin.wait())


def test_the_client_closing_a_kept_alive_connection_is_the_clients_close(
    make_server: Callable[..., SOCKS5Server],
) -> None:
    server = make_server()
    origin = _ScriptedOrigin(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", linger=True)
    url = f"http://127.0.0.1:{origin.port}/"
    with connect(server.address, timeout=TIMEOUT) as sock:
        sock.sendall(f"GET {url} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        head = b""
        while not head.endswith(b"hello"):
            head += sock.recv(65536)
    record = ended(server)
    assert (record.outcome, record.closed_by, record.closed_how) == (
        Outcome.CLOSED,
        "client",
        "fin",
    )
    assert record.bytes_to_client == len(head)
    assert record.bytes_from_client == len(origin.wait())
