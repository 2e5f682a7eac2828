"""Fixtures shared by the documentation examples: a tiny website and a WebSocket echo
server on loopback.

Nothing here leaves the machine. The website answers every ``GET`` with
``hello from <path>`` and listens on 127.0.0.1 and, where the machine has it, on ::1 with
the same port, so ``http://localhost:<port>/`` works whichever address ``localhost``
resolves to first.
"""

from __future__ import annotations

import errno
import http.server
import socket
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from websockets.sync.server import serve

#: Example projects that tests run as pytest sessions of their own, with pytester.
collect_ignore = ["suite_defaults", "debugging", "xdist_project", "pcap_project"]

PROXY_VARIABLES = (
    "ALL_PROXY",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "NO_PROXY",
    "all_proxy",
    "http_proxy",
    "https_proxy",
    "no_proxy",
)


@pytest.fixture(autouse=True)
def no_proxy_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Clients read proxy settings from the environment; a CI machine's NO_PROXY or
    ALL_PROXY must not decide whether an example uses the proxy under test."""
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)


class _Hello(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        body = f"hello from {self.path}".encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def handle_error(self, request: object, client_address: object) -> None:
        # A client reset by a fault (the tests' business) is not this server's error.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)  # type: ignore[arg-type]


class _Server6(_Server):
    address_family = socket.AF_INET6


@dataclass(frozen=True)
class Website:
    port: int

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>/``"""
        return f"http://127.0.0.1:{self.port}/"


def _serve(server: _Server) -> threading.Thread:
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.005}, daemon=True
    )
    thread.start()
    return thread


def _bind_both() -> list[_Server]:
    """One server on 127.0.0.1 and, if possible, one on ::1 with the same port."""
    for _ in range(20):
        v4 = _Server(("127.0.0.1", 0), _Hello)
        try:
            v6 = _Server6(("::1", v4.server_address[1]), _Hello)
        except OSError as exc:
            if exc.errno != errno.EADDRINUSE:
                return [v4]  # this machine has no IPv6 loopback
            v4.server_close()
            continue
        return [v4, v6]
    raise RuntimeError("could not bind 127.0.0.1 and ::1 on one port")


@pytest.fixture
def website() -> Iterator[Website]:
    """A loopback HTTP server answering ``hello from <path>``."""
    servers = _bind_both()
    threads = [_serve(server) for server in servers]
    try:
        yield Website(port=servers[0].server_address[1])
    finally:
        for server, thread in zip(servers, threads, strict=True):
            server.shutdown()
            server.server_close()
            thread.join(5)


@pytest.fixture
def echo_server():
    """A WebSocket server on 127.0.0.1 that sends every message back."""

    def echo(websocket):
        for message in websocket:
            websocket.send(message)

    with serve(echo, "127.0.0.1", 0) as server:
        thread = threading.Thread(target=server.serve_forever)
        thread.start()
        yield f"ws://127.0.0.1:{server.socket.getsockname()[1]}/"
        server.shutdown()
        thread.join()
