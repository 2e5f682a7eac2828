"""The same server on uvloop (``loop="uvloop"``, the ``fast`` extra)."""

from __future__ import annotations

import hashlib
import os
import socket

import pytest

from pytest_socks5 import Outcome, SOCKS5Server
from pytest_socks5.faults import Fragment, ResetAfter

from .helpers import (
    connect,
    digest_target,
    only_record,
    recv_all,
    recv_exactly,
    socks5_request,
    socks5_tunnel,
)

pytest.importorskip("uvloop")


def test_relay_and_half_close_on_uvloop() -> None:
    payload = os.urandom(512 * 1024)
    with SOCKS5Server(loop="uvloop") as server, digest_target() as target:
        with socks5_tunnel(server.address, *target) as (sock, reply):
            assert reply[1] == 0
            sock.sendall(payload)
            sock.shutdown(socket.SHUT_WR)
            answer = recv_all(sock)
        record = only_record(server)
    assert answer == hashlib.sha256(payload).hexdigest().encode() + b" %d" % len(payload)
    assert record.outcome is Outcome.CLOSED


def test_failure_answers_and_faults_on_uvloop(refused_port: int, echo_server) -> None:
    with SOCKS5Server(loop="uvloop") as server:
        with connect(server.address) as sock:
            sock.sendall(b"\x05\x01\x00" + socks5_request("127.0.0.1", refused_port))
            assert recv_all(sock) == b"\x05\x00\x05\x05\x00\x01" + b"\x00" * 6
        server.add_fault(Fragment(at="reply", size=2, delay=0.0))
        server.add_fault(ResetAfter(after=3, direction="to_client"))
        with socks5_tunnel(server.address, *echo_server) as (sock, reply):
            assert reply[1] == 0
            sock.sendall(b"abcdef")
            assert recv_exactly(sock, 3) == b"abc"
            with pytest.raises(ConnectionResetError):
                sock.recv(10)


def test_unknown_loop_name() -> None:
    with pytest.raises(
        ValueError, match=r"^loop must be one of 'auto', 'uvloop', 'asyncio', got 'trio'$"
    ):
        SOCKS5Server(loop="trio")
