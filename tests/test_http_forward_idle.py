"""``idle_timeout`` on forwarded HTTP requests (``GET http://…``) means what it means on a
tunnel: no byte moved either way for that long, and the connection ends
``idle-timeout`` — whether a blackhole swallows a response, the origin never answers,
or the client stops reading. Every test runs on asyncio and uvloop against loopback
origins in threads; each waits for the record to end (no sleeps)."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest

from pytest_socks5 import ConnectionRecord, Outcome, SOCKS5Server
from pytest_socks5.faults import Blackhole

from . import test_http_forward_faults as forwarded
from .helpers import TIMEOUT

IDLE = 0.3
Origin = forwarded.Origin
origin = forwarded.origin
raw_request = forwarded.raw_request


@pytest.fixture(params=["asyncio", "uvloop"])
def idle_proxy(request: pytest.FixtureRequest) -> Iterator[SOCKS5Server]:
    """A proxy on this test's loop with ``idle_timeout=IDLE``."""
    if request.param == "uvloop":
        pytest.importorskip("uvloop")
    server = SOCKS5Server(loop=request.param, idle_timeout=IDLE).start()
    yield server
    server.stop()


def _idle_ended(server: SOCKS5Server) -> ConnectionRecord:
    (record,) = server.wait_for_connections(1, ended=True, timeout=TIMEOUT)
    assert record.outcome is Outcome.IDLE_TIMEOUT, (record.outcome, record.error)
    assert record.error == f"no bytes either way for {IDLE:g}s (idle_timeout)"
    return record


def test_a_blackholed_forwarded_response_ends_idle(
    idle_proxy: SOCKS5Server, origin: Origin
) -> None:
    idle_proxy.add_fault(Blackhole(after=0, direction="to_client"))
    with socket.create_connection(idle_proxy.address, timeout=TIMEOUT) as sock:
        sock.sendall(raw_request(origin, "/close"))
        record = _idle_ended(idle_proxy)
    assert record.closed_by == "upstream"  # (its close swallowed: as on a tunnel)
    assert record.bytes_to_client == 0


def test_a_forwarded_request_the_origin_never_answers_ends_idle(
    idle_proxy: SOCKS5Server, origin: Origin
) -> None:
    with socket.create_connection(idle_proxy.address, timeout=TIMEOUT) as sock:
        sock.sendall(raw_request(origin, "/stall"))
        record = _idle_ended(idle_proxy)
        assert sock.recv(100) == b""  # the proxy closed the client's connection
    assert record.closed_by == "server"
    assert record.bytes_to_client == 0


@pytest.fixture
def flood() -> Iterator[int]:
    """An origin answering every request with a 256 MiB body it writes as fast as it
    may (until the proxy closes): its port."""
    listener = socket.create_server(("127.0.0.1", 0))
    size = 256 * 1024 * 1024

    def serve() -> None:
        try:
            conn, _ = listener.accept()
        except OSError:
            return
        with conn:
            try:
                conn.recv(65536)
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % size)
                piece = b"x" * 65536
                for _ in range(size // len(piece)):
                    conn.sendall(piece)
            except OSError:
                pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    listener.close()
    thread.join(TIMEOUT)


def test_a_forwarded_response_to_a_client_that_stops_reading_ends_idle(
    idle_proxy: SOCKS5Server, flood: int
) -> None:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.settimeout(TIMEOUT)
        sock.connect(idle_proxy.address)
        host = f"127.0.0.1:{flood}"
        sock.sendall(f"GET http://{host}/ HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
        assert sock.recv(16).startswith(b"HTTP/1.1 200")  # then it reads no more
        record = _idle_ended(idle_proxy)
    assert record.closed_by == "server"
    assert 0 < record.bytes_to_client < 256 * 1024 * 1024
