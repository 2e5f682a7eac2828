"""The zero-copy relay (``splice=True``). The tunnel tests in test_server_relay.py run on
both relays; these are the splice-only parts: shutdown, and the fallback for faults."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from pytest_socks5 import Outcome, SOCKS5Server
from pytest_socks5._splice import AVAILABLE
from pytest_socks5.faults import Slicer

from .helpers import only_record, recv_all, recv_exactly, socks5_tunnel

pytestmark = pytest.mark.skipif(not AVAILABLE, reason="os.splice is Linux-only")


@pytest.fixture
def server() -> Iterator[SOCKS5Server]:
    with SOCKS5Server(splice=True) as server:
        yield server


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
    record = only_record(server)
    assert record.faults
