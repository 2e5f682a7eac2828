"""The zero-copy relay (``splice=True``): same guarantees as the ordinary relay."""

from __future__ import annotations

import hashlib
import os
import socket
import threading
from collections.abc import Iterator

import pytest

from pytest_socks5 import Outcome, SOCKS5Server
from pytest_socks5._splice import AVAILABLE
from pytest_socks5.faults import Slicer

from .helpers import connect, digest_target, recv_all, recv_exactly, socks5_request, socks5_tunnel

pytestmark = pytest.mark.skipif(not AVAILABLE, reason="os.splice is Linux-only")


@pytest.fixture
def server() -> Iterator[SOCKS5Server]:
    with SOCKS5Server(splice=True) as server:
        yield server


def test_echo_is_byte_exact_both_ways(server: SOCKS5Server, echo_server) -> None:
    payload = os.urandom(8 * 1024 * 1024 + 3)
    received = bytearray()
    with socks5_tunnel(server.address, *echo_server) as (sock, reply):
        assert reply[1] == 0

        def reader() -> None:
            while len(received) < len(payload) and (chunk := sock.recv(1 << 16)):
                received.extend(chunk)

        thread = threading.Thread(target=reader)
        thread.start()
        sock.sendall(payload)
        thread.join(20)
    assert hashlib.sha256(received).digest() == hashlib.sha256(payload).digest()
    (record,) = server.wait_for_connections(1, ended=True)
    assert record.bytes_from_client == len(payload)
    assert record.bytes_to_client == len(payload)
    assert record.outcome is Outcome.CLOSED


def test_client_half_close_still_receives_the_whole_response(server: SOCKS5Server) -> None:
    payload = os.urandom(2 * 1024 * 1024)
    with digest_target() as target, socks5_tunnel(server.address, *target) as (sock, _):
        sock.sendall(payload)
        sock.shutdown(socket.SHUT_WR)
        answer = recv_all(sock)
    assert answer == hashlib.sha256(payload).hexdigest().encode() + b" %d" % len(payload)
    (record,) = server.wait_for_connections(1, ended=True)
    assert record.closed_by == "client"


def test_upstream_half_close_lets_the_client_keep_sending(server: SOCKS5Server) -> None:
    got = []
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()

        def target() -> None:
            conn, _ = listener.accept()
            with conn:
                conn.sendall(b"banner")
                conn.shutdown(socket.SHUT_WR)
                got.append(recv_all(conn))

        thread = threading.Thread(target=target)
        thread.start()
        with socks5_tunnel(server.address, *listener.getsockname()) as (sock, _):
            assert recv_all(sock) == b"banner"
            sock.sendall(b"late data")
            sock.shutdown(socket.SHUT_WR)
            thread.join(5)
    assert got == [b"late data"]


def test_payload_sent_with_the_request_is_not_lost(server: SOCKS5Server, echo_server) -> None:
    with connect(server.address) as sock:
        sock.sendall(b"\x05\x01\x00" + socks5_request(*echo_server) + b"early bytes")
        sock.shutdown(socket.SHUT_WR)
        answer = recv_all(sock)
    assert answer[12:] == b"early bytes"


def test_a_reset_is_passed_on(server: SOCKS5Server) -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        with socks5_tunnel(server.address, *listener.getsockname()) as (sock, _):
            conn, _ = listener.accept()
            conn.setsockopt(
                socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00"
            )
            conn.close()  # RST
            with pytest.raises(ConnectionResetError):
                sock.recv(10)
    (record,) = server.wait_for_connections(1, ended=True)
    assert record.outcome is Outcome.RESET


def test_many_concurrent_tunnels(server: SOCKS5Server, echo_server) -> None:
    errors: list[BaseException] = []

    def one(i: int) -> None:
        try:
            data = os.urandom(10_000 + i)
            with socks5_tunnel(server.address, *echo_server) as (sock, _):
                sock.sendall(data)
                assert recv_exactly(sock, len(data)) == data
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(40)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    assert errors == []
    assert len(server.wait_for_connections(40, ended=True)) == 40


def test_stop_closes_spliced_tunnels(echo_server) -> None:
    server = SOCKS5Server(splice=True).start()
    with socks5_tunnel(server.address, *echo_server) as (sock, _):
        sock.sendall(b"x")
        assert recv_exactly(sock, 1) == b"x"
        server.stop(timeout=1)
        assert recv_all(sock) == b""
    (record,) = server.connections
    assert record.outcome is Outcome.SERVER_STOPPED


def test_a_transfer_fault_takes_the_ordinary_relay(server: SOCKS5Server, echo_server) -> None:
    server.add_fault(Slicer(size=3))
    with socks5_tunnel(server.address, *echo_server) as (sock, _):
        sock.sendall(b"abcdefgh")
        assert recv_exactly(sock, 8) == b"abcdefgh"
    (record,) = server.wait_for_connections(1, ended=True)
    assert record.faults
