"""A connection's life at its edges: closed before a byte or between messages, accepted
while the server stops, left open by the previous test of a session server."""

from __future__ import annotations

import socket
import struct
from collections.abc import Iterator

import pytest

from pytest_socks5 import Outcome, SOCKS5Server

from .helpers import connect, only_record, recv_all, recv_exactly


@pytest.fixture
def server() -> Iterator[SOCKS5Server]:
    with SOCKS5Server(socks4=True, users={"alice": "s3cret"}) as server:
        yield server


# -- closed cleanly between messages: the client went away, it broke nothing -----------


@pytest.mark.parametrize(
    ("sent", "answer"),
    [
        (b"", b""),  # a port probe, a readiness check
        (b"\x05\x01\x02", b"\x05\x02"),  # after the greeting's answer
        (b"\x05\x01\x02\x01\x05alice\x06s3cret", b"\x05\x02\x01\x00"),  # after the auth
    ],
    ids=["no-byte", "after-greeting", "after-auth"],
)
def test_a_clean_close_between_messages_is_client_closed(
    server: SOCKS5Server, sent: bytes, answer: bytes
) -> None:
    with connect(server.address) as sock:
        sock.sendall(sent)
        assert recv_exactly(sock, len(answer)) == answer
        sock.shutdown(socket.SHUT_WR)
        assert recv_all(sock) == b""
    record = only_record(server)
    assert record.outcome is Outcome.CLIENT_CLOSED
    assert (record.closed_by, record.closed_how) == ("client", "fin")
    assert record.error is None
    assert not any(m.name == "unparsed" for m in record.handshake)


def test_a_probe_that_closes_at_once_is_client_closed(server: SOCKS5Server) -> None:
    socket.create_connection(server.address, timeout=5).close()
    assert only_record(server).outcome is Outcome.CLIENT_CLOSED


def test_a_probe_that_resets_is_client_closed(server: SOCKS5Server) -> None:
    sock = socket.create_connection(server.address, timeout=5)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()
    record = only_record(server)
    assert record.outcome is Outcome.CLIENT_CLOSED
    assert (record.closed_by, record.closed_how) == ("client", "rst")


def test_a_close_in_the_middle_of_a_message_is_still_a_protocol_error(
    server: SOCKS5Server,
) -> None:
    with connect(server.address) as sock:
        sock.sendall(b"\x05\x01")
        sock.shutdown(socket.SHUT_WR)
        assert recv_all(sock) == b""
    record = only_record(server)
    assert record.outcome is Outcome.PROTOCOL_ERROR
    assert "in the middle of the greeting (received: 05 01)" in (record.error or "")
