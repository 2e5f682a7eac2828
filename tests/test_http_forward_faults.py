"""Transfer faults and ``on("data")`` hooks on forwarded HTTP requests (``GET http://…``),
as on a tunnel: what the client and the destination get, and records that count what
was delivered. Every test runs on asyncio and uvloop, with a real client (requests,
httpx) or a raw socket, against a loopback origin in a thread (no name reaches DNS)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import httpx
import pytest
import requests

from pytest_socks5 import ConnectionRecord, Outcome, SOCKS5Server
from pytest_socks5._fault_types import TransferFault
from pytest_socks5.faults import (
    Bandwidth,
    Blackhole,
    CloseAfter,
    Latency,
    ResetAfter,
    Slicer,
    SlowClose,
    Truncate,
)

from .helpers import SILENCE, TIMEOUT, assert_silent, read_until_closed, recv_exactly

BODY = b"abcdefghij" * 400


@dataclass
class _Exchange:
    """One connection the origin accepted: every byte it received, and when it ended."""

    received: bytearray = field(default_factory=bytearray)
    lines: list[bytes] = field(default_factory=list)
    closed: threading.Event = field(default_factory=threading.Event)
    closed_at: float = 0.0


class Origin:
    """A loopback HTTP/1.1 origin: each request (head, and a body of its Content-Length)
    is answered with :data:`BODY`; a path with ``close`` is answered with ``Connection:
    close``, then the origin closes; a path with ``stall`` is never answered."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.exchanges: list[_Exchange] = []
        self.accepted = threading.Condition()
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def exchange(self, index: int = 0) -> _Exchange:
        with self.accepted:
            assert self.accepted.wait_for(lambda: len(self.exchanges) > index, TIMEOUT)
            return self.exchanges[index]

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            exchange = _Exchange()
            with self.accepted:
                self.exchanges.append(exchange)
                self.accepted.notify_all()
            threading.Thread(target=self._serve, args=(conn, exchange), daemon=True).start()

    def _serve(self, conn: socket.socket, exchange: _Exchange) -> None:
        buffer = b""
        with conn:
            conn.settimeout(TIMEOUT * 2)
            try:
                while chunk := conn.recv(65536):
                    exchange.received += chunk
                    buffer += chunk
                    while b"\r\n\r\n" in buffer:
                        head, _, rest = buffer.partition(b"\r\n\r\n")
                        length = _content_length(head)
                        if len(rest) < length:
                            break
                        buffer = rest[length:]
                        line = head.split(b"\r\n", 1)[0]
                        exchange.lines.append(line)
                        if b"stall" in line:
                            continue
                        close = b"close" in line
                        conn.sendall(
                            b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n%s\r\n"
                            % (len(BODY), b"Connection: close\r\n" if close else b"")
                            + BODY
                        )
                        if close:
                            return
            except OSError:
                pass
            finally:
                exchange.closed_at = time.monotonic()
                exchange.closed.set()

    def close(self) -> None:
        self.listener.shutdown(socket.SHUT_RDWR)  # wakes the accept()
        self.listener.close()
        self.thread.join(TIMEOUT)


def _content_length(head: bytes) -> int:
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value)
    return 0


@pytest.fixture
def origin() -> Iterator[Origin]:
    server = Origin()
    yield server
    server.close()


@pytest.fixture(params=["asyncio", "uvloop"])
def proxy(request: pytest.FixtureRequest) -> Iterator[Callable[..., SOCKS5Server]]:
    """Start a proxy on this test's loop with the faults given (all stopped at the end)."""
    if request.param == "uvloop":
        pytest.importorskip("uvloop")
    servers: list[SOCKS5Server] = []

    def make(*faults: TransferFault) -> SOCKS5Server:
        server = SOCKS5Server(loop=request.param).start()
        servers.append(server)
        for fault in faults:
            server.add_fault(fault)
        return server

    yield make
    for server in servers:
        server.stop()


def ended(server: SOCKS5Server) -> ConnectionRecord:
    (record,) = server.wait_for_connections(1, ended=True, timeout=TIMEOUT)
    return record


def get(server: SOCKS5Server, url: str, timeout: float = TIMEOUT) -> requests.Response:
    with requests.Session() as session:
        session.trust_env = False
        return session.get(url, proxies={"http": server.http_url}, timeout=timeout)


def raw_request(origin: Origin, path: str, *, close: bool = True) -> bytes:
    """A forwarded request as a raw client writes it (``Connection: close`` unless
    ``close`` is false)."""
    host = f"127.0.0.1:{origin.port}"
    fields = f"Host: {host}\r\n" + ("Connection: close\r\n" if close else "")
    return f"GET {origin.url(path)} HTTP/1.1\r\n{fields}\r\n".encode()


def raw_client(server: SOCKS5Server) -> socket.socket:
    sock = socket.create_connection(server.address, timeout=TIMEOUT)
    sock.settimeout(TIMEOUT)
    return sock


def assert_counts(record: ConnectionRecord, origin: Origin, to_client: int) -> None:
    """The record counts what the client got and what the destination got."""
    exchange = origin.exchange()
    assert exchange.closed.wait(TIMEOUT)
    assert record.bytes_from_client == len(exchange.received)
    assert record.bytes_to_client == to_client


# -- Latency, Bandwidth, Slicer: the bytes come late or in pieces, all of them -----------


@pytest.mark.parametrize("direction", ["from_client", "to_client", "both"])
def test_latency_delays_a_forwarded_request_each_way(
    proxy: Callable[..., SOCKS5Server], origin: Origin, direction: str
) -> None:
    server = proxy(Latency(seconds=0.2, direction=direction))
    started = time.monotonic()
    response = get(server, origin.url("/close"))
    elapsed = time.monotonic() - started
    assert response.content == BODY
    assert elapsed >= (0.4 if direction == "both" else 0.2) - 0.01
    record = ended(server)
    assert record.faults == (f"Latency(direction={direction}, seconds=0.2, jitter=0.0)",)
    assert record.outcome is Outcome.CLOSED


def test_latency_keeps_a_raw_clients_bytes_whole_and_counted(
    proxy: Callable[..., SOCKS5Server], origin: Origin
) -> None:
    server = proxy(Latency(seconds=0.05))
    with raw_client(server) as sock:
        sock.sendall(raw_request(origin, "/a"))
        received = read_until_closed(sock)
    assert received.startswith(b"HTTP/1.1 200 ")
    assert received.endswith(BODY)
    record = ended(server)
    assert record.faults == ("Latency(direction=both, seconds=0.05, jitter=0.0)",)
    assert_counts(record, origin, len(received))
    assert record.closed_by == "server"


def test_bandwidth_slows_a_forwarded_response(
    proxy: Callable[..., SOCKS5Server], origin: Origin
) -> None:
    server = proxy(Bandwidth(bytes_per_second=8000, direction="to_client"))
    client = httpx.Client(proxy=server.http_url, trust_env=False, timeout=TIMEOUT)
    started = time.monotonic()
    with client:
        assert client.get(origin.url("/close")).content == BODY
    assert time.monotonic() - started >= len(BODY) / 8000 - 0.05  # 4,000 bytes at 8 kB/s
    record = ended(server)
    assert record.faults == ("Bandwidth(direction=to_client, bytes_per_second=8000)",)
    assert record.bytes_to_client > len(BODY)  # the head, then the body


def test_bandwidth_paces_a_raw_clients_request_and_counts_what_arrived(
    proxy: Callable[..., SOCKS5Server], origin: Origin
) -> None:
    server = proxy(Bandwidth(bytes_per_second=200, direction="from_client"))
    started = time.monotonic()
    with raw_client(server) as sock:
        sock.sendall(raw_request(origin, "/paced"))
        received = read_until_closed(sock)
    elapsed = time.monotonic() - started
    assert received.endswith(BODY)
    record = ended(server)
    # writes of 10 bytes, each followed by its 0.05 s: the origin answers after the last
    assert elapsed >= (record.bytes_from_client // 10 - 1) * 0.05
    assert record.bytes_from_client >= 40
    assert record.faults == ("Bandwidth(direction=from_client, bytes_per_second=200)",)
    assert_counts(record, origin, len(received))


def test_a_slicer_delays_a_forwarded_request_for_requests(
    proxy: Callable[..., SOCKS5Server], origin: Origin
) -> None:
    server = proxy(Slicer(size=10, delay=0.02, direction="from_client"))
    started = time.monotonic()
    assert get(server, origin.url("/sliced-request-close")).content == BODY
    assert time.monotonic() - started >= 0.1  # a head of 60 bytes or more, 10 at a time
    assert origin.exchange().lines == [b"GET /sliced-request-close HTTP/1.1"]
    record = ended(server)
    assert record.faults == ("Slicer(direction=from_client, size=10, delay=0.02)",)
    assert_counts(record, origin, record.bytes_to_client)


def test_a_slicer_writes_a_forwarded_response_in_pieces_apart(
    proxy: Callable[..., SOCKS5Server], origin: Origin
) -> None:
    server = proxy(Slicer(size=1000, delay=0.05, direction="to_client"))
    started = time.monotonic()
    with raw_client(server) as sock:
        sock.sendall(raw_request(origin, "/sliced"))
        received = read_until_closed(sock)
    assert time.monotonic() - started >= 0.2  # 5 pieces or more, each 0.05 s after
    assert received.endswith(BODY)
    record = ended(server)
    assert record.faults == ("Slicer(direction=to_client, size=1000, delay=0.05)",)
    assert_counts(record, origin, len(received))


# -- CloseAfter, ResetAfter: the connection is cut after so many bytes (or seconds) ------


def test_close_after_cuts_a_forwarded_response(
    proxy: Callable[..., SOCKS5Server], origin: Origin
) -> None:
    server = proxy(CloseAfter(after=100, direction="to_client"))
    with raw_client(server) as sock:
        sock.sendall(raw_request(origin, "/cut"))
        received = read_until_closed(sock)
    assert len(received) == 100
    assert received.startswith(b"HTTP/1.1 200 ")
    record = ended(server)
    assert record.outcome is Outcome.CLOSED
    assert (record.closed_by, record.closed_how) == ("server", "fin")
    assert record.faults == ("CloseAfter(direction=to_client, after=100)",)
    assert_counts(record, origin, 100)


def test_close_after_cuts_a_forwarded_request(
    proxy: Callable[..., SOCKS5Server], origin: Origin
) -> None:
    """Cut after 20 bytes to the destination: it never gets the whole head, and the
    client's requests sees the connection close without a response."""
    server = proxy(CloseAfter(after=20, direction="from_client"))
    with pytest.raises(requests.exceptions.ConnectionError):
        get(server, origin.url("/never-whole"))
    exchange = origin.exchange()
    assert exchange.closed.wait(TIMEOUT)
    assert len(exchange.received) == 20
    assert exchange.lines == []  # no complete request head arrived
    record = ended(server)
    assert record.faults == ("CloseAfter(direction=from_client, after=20)",)
    assert_counts(record, origin, 0)


def test_close_after_counts_across_kept_alive_requests(
    proxy: Callable[..., SOCKS5Server], origin: Origin
) -> None:
    """The connection is the tunnel: its bytes count across its requests."""
    server = proxy(CloseAfter(after=len(BODY) + 200, direction="to_client"))
    with httpx.Client(proxy=server.http_url, trust_env=False, timeout=TIMEOUT) as client:
        assert client.get(origin.url("/one")).content == BODY
        with pytest.raises(httpx.RemoteProtocolError):
            client.get(origin.url("/two"))
    record = ended(server)
    assert record.bytes_to_client == len(BODY) + 200
    assert record.http_statuses == (200, 200)


def test_reset_after_bytes_resets_a_forwarded_response(
    proxy: Callable[..., SOCKS5Server], origin: Origin
) -> None:
    fault = ResetAfter(after=100, direction="to_client")
    server = proxy(fault)
    with raw_client(server) as sock:
        sock.sendall(raw_request(origin, "/reset"))
        received = read_until_closed(sock)
    assert 0 < len(received) <= 100
    record = ended(server)
    assert record.outcome is Outcome.FAULT
    assert (record.closed_by, record.closed_how) == ("server", "rst")
    assert record.faults == (fault.describe(), f"{fault.describe()} fired")
    assert_counts(record, origin, len(received))


def test_reset_after_seconds_resets_a_stalled_forwarded_request(
    proxy: Callable[..., SOCKS5Server], origin: Origin
) -> None:
    fault = ResetAfter(seconds=0.2)
    server = proxy(fault)
    client = httpx.Client(proxy=server.http_url, trust_env=False, timeout=TIMEOUT)
    with client, pytest.raises((httpx.ReadError, httpx.RemoteProtocolError)):
        client.get(origin.url("/stall"))
    record = ended(server)
    assert record.outcome is Outcome.FAULT
    assert record.error == "reset by an injected fault"
    assert record.faults == (fault.describe(), f"{fault.describe()} fired")
    assert_counts(record, origin, 0)


# -- Blackhole: after so many bytes nothing more arrives, not even the close -------------


def test_a_blackhole_swallows_a_forwarded_response_and_the_destinations_close(
    proxy: Callable[..., SOCKS5Server], origin: Origin
) -> None:
    server = proxy(Blackhole(after=50, direction="to_client"))
    with raw_client(server) as sock:
        sock.sendall(raw_request(origin, "/close"))
        assert recv_exactly(sock, 50).startswith(b"HTTP/1.1 200 ")
        assert origin.exchange().closed.wait(TIMEOUT)  # the destination closed
        server.wait_for_connections(1, closed_by="upstream", timeout=TIMEOUT)
        assert_silent(sock)  # neither the rest nor the close came through
        (record,) = server.connections
        assert record.outcome is Outcome.OPEN
    record = ended(server)  # the client's close ended it
    assert record.outcome is Outcome.CLOSED
    assert record.closed_by == "upstream"
    assert record.faults == ("Blackhole(direction=to_client, after=50)",)
    assert_counts(record, origin, 50)


def test_a_blackhole_keeps_a_forwarded_request_from_the_destination(
    proxy: Callable[..., SOCKS5Server], origin: Origin
) -> None:
    server = proxy(Blackhole(after=10, direction="from_client"))
    with pytest.raises(requests.exceptions.ReadTimeout):
        get(server, origin.url("/lost"), timeout=SILENCE)
    exchange = origin.exchange()
    server.wait_for_connections(1, closed_by="client", timeout=TIMEOUT)
    # the client's close went into the hole too: the destination still waits
    assert not exchange.closed.wait(SILENCE)
    assert bytes(exchange.received) == b"GET /lost "
    (record,) = server.connections
    assert record.outcome is Outcome.OPEN
    assert record.bytes_from_client == 10
    server.stop()
    assert ended(server).outcome is Outcome.SERVER_STOPPED


# -- SlowClose: the close comes late; what came before it comes on time ------------------


def test_slow_close_delays_the_destinations_close_to_the_client(
    proxy: Callable[..., SOCKS5Server], origin: Origin
) -> None:
    server = proxy(SlowClose(seconds=0.3, direction="to_client"))
    with raw_client(server) as sock:
        sock.sendall(raw_request(origin, "/close", close=False))
        received = bytearray()
        while not received.endswith(BODY):
            chunk = sock.recv(65536)
            assert chunk, "closed before the whole response"
            received += chunk
        got_it = time.monotonic()
        assert sock.recv(1) == b""
        assert time.monotonic() - got_it >= 0.25
    record = ended(server)
    assert record.faults == ("SlowClose(direction=to_client, seconds=0.3)",)
    assert record.closed_by == "upstream"
    assert_counts(record, origin, len(received))


def test_slow_close_leaves_an_httpx_response_whole(
    proxy: Callable[..., SOCKS5Server], origin: Origin
) -> None:
    server = proxy(SlowClose(seconds=0.2))
    with httpx.Client(proxy=server.http_url, trust_env=False, timeout=TIMEOUT) as client:
        assert client.get(origin.url("/close")).content == BODY
    record = ended(server)
    assert record.faults == ("SlowClose(direction=both, seconds=0.2)",)
    assert record.outcome is Outcome.CLOSED
    assert_counts(record, origin, record.bytes_to_client)


def test_slow_close_delays_the_clients_close_to_the_destination(
    proxy: Callable[..., SOCKS5Server], origin: Origin
) -> None:
    server = proxy(SlowClose(seconds=0.3, direction="from_client"))
    with raw_client(server) as sock:
        sock.sendall(raw_request(origin, "/kept", close=False))
        received = bytearray()
        while not received.endswith(BODY):
            received += sock.recv(65536)
        sock.shutdown(socket.SHUT_WR)
        closed = time.monotonic()
        assert read_until_closed(sock) == b""
    exchange = origin.exchange()
    assert exchange.closed.wait(TIMEOUT)
    assert exchange.closed_at - closed >= 0.25
    record = ended(server)
    assert record.closed_by == "client"
    assert_counts(record, origin, len(received))


# -- selection: by direction, and from a hook ---------------------------------------------


def test_a_fault_for_the_other_direction_leaves_a_forwarded_response_alone(
    proxy: Callable[..., SOCKS5Server], origin: Origin
) -> None:
    server = proxy(CloseAfter(after=10_000, direction="from_client"))
    assert get(server, origin.url("/close")).content == BODY
    record = ended(server)
    assert record.faults == ("CloseAfter(direction=from_client, after=10000)",)
    assert record.outcome is Outcome.CLOSED


def test_a_transfer_fault_from_a_hook_acts_on_a_forwarded_request(
    proxy: Callable[..., SOCKS5Server], origin: Origin
) -> None:
    server = proxy()
    server.on("request", lambda record: CloseAfter(after=30, direction="to_client"))
    with raw_client(server) as sock:
        sock.sendall(raw_request(origin, "/hooked"))
        received = read_until_closed(sock)
    assert len(received) == 30
    record = ended(server)
    assert record.faults == ("CloseAfter(direction=to_client, after=30)",)
    assert_counts(record, origin, 30)


def test_a_transfer_fault_a_hook_gives_for_a_later_origin_joins_the_connection(
    proxy: Callable[..., SOCKS5Server], origin: Origin
) -> None:
    later = Origin()
    server = proxy()
    fault = CloseAfter(after=10, direction="to_client")
    server.on("request", lambda record: fault if record.port == later.port else None)
    try:
        with raw_client(server) as sock:
            sock.sendall(raw_request(origin, "/first", close=False))
            first = bytearray()
            while not first.endswith(BODY):
                first += sock.recv(65536)
            sock.sendall(raw_request(later, "/second", close=False))
            second = read_until_closed(sock)
    finally:
        later.close()
    assert len(second) == 10
    assert second.startswith(b"HTTP/1.1 ")
    record = ended(server)
    assert record.faults == (fault.describe(),)
    assert record.outcome is Outcome.CLOSED
    assert record.bytes_to_client == len(first) + 10


def test_a_truncated_response_head_is_delivered_through_the_transfer_faults(
    proxy: Callable[..., SOCKS5Server], origin: Origin
) -> None:
    """A reply fault that closes after its bytes waits until the transfer faults have
    delivered them: the client gets the cut head, late, then the close."""
    server = proxy(Latency(seconds=0.05, direction="to_client"))
    server.add_fault(Truncate(length=8, at="reply"))
    with raw_client(server) as sock:
        sock.sendall(raw_request(origin, "/truncated"))
        assert read_until_closed(sock) == b"HTTP/1.1"
    record = ended(server)
    assert record.outcome is Outcome.FAULT
    assert record.message("http response") == b"HTTP/1.1"
    assert record.faults == (
        "Latency(direction=to_client, seconds=0.05, jitter=0.0)",
        "Truncate(length=8, then='close') at reply",
    )
    assert_counts(record, origin, 8)


# -- on("data"): each write, head or body piece, seen and rewritten -----------------------


def test_a_data_hook_rewrites_a_forwarded_body(
    proxy: Callable[..., SOCKS5Server], origin: Origin
) -> None:
    server = proxy()
    seen: list[tuple[str, bytes]] = []

    def hook(direction: str, data: bytes) -> bytes | None:
        seen.append((str(direction), data))
        if direction == "from_client":
            return data.replace(b"/secret", b"/public")
        return data.replace(b"abcdefghij", b"ABCDEFGHIJ")

    server.on("data", hook)
    assert get(server, origin.url("/secret-close")).content == BODY.upper()
    assert origin.exchange().lines == [b"GET /public-close HTTP/1.1"]
    record = ended(server)
    assert record.faults == ()
    heads = [data for direction, data in seen if direction == "to_client"]
    assert heads[0].startswith(b"HTTP/1.1 200 ")  # the head is one write, the body others
    assert b"".join(heads[1:]) == BODY
    assert_counts(record, origin, sum(len(data) for data in heads))


def test_a_data_hook_that_shortens_a_forwarded_body_is_counted_as_delivered(
    proxy: Callable[..., SOCKS5Server], origin: Origin
) -> None:
    server = proxy()
    server.on("data", lambda direction, data: data[:10] if data == BODY else None)
    with raw_client(server) as sock:
        sock.sendall(raw_request(origin, "/short"))
        received = read_until_closed(sock)
    assert received.endswith(b"\r\n\r\n" + BODY[:10])
    record = ended(server)
    assert_counts(record, origin, len(received))
