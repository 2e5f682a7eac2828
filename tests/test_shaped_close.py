"""A transfer fault that holds one direction back still delivers all of it, and its EOF,
when the other direction closes first; and a reset timed by ``ResetAfter(seconds=…)``
belongs to its tunnel: it acts once, and never after the tunnel ended.

A shaper (a latency, a bandwidth limit, a slicer, a slow close) holds a direction's bytes
and its EOF for a while. The tunnel used to close as soon as both EOFs had *arrived*, so
the other side's close threw away what the shaper still held: the receiver got an EOF
early and the record read as a clean close. On every variant, and on SOCKS5, SOCKS 4 and
HTTP CONNECT.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable

import pytest

from pytest_socks5 import Outcome, SOCKS5Server
from pytest_socks5._fault_types import TransferFault
from pytest_socks5.faults import Bandwidth, Latency, ResetAfter, Slicer, SlowClose
from pytest_socks5.rawclient import recv_all

from .helpers import VERSIONS, echo_target, only_record, open_any_tunnel

MakeServer = Callable[..., SOCKS5Server]

#: Each holds its direction's bytes (or its EOF) back for about 0.3 s or more.
HOLDERS: dict[str, Callable[[str], TransferFault]] = {
    "Latency": lambda direction: Latency(seconds=0.3, direction=direction),
    "Bandwidth": lambda direction: Bandwidth(bytes_per_second=40_000, direction=direction),
    "Slicer": lambda direction: Slicer(size=500, delay=0.01, direction=direction),
    "SlowClose": lambda direction: SlowClose(seconds=0.3, direction=direction),
}


def _exchange_with_the_held_side_closing_first(
    server: SOCKS5Server, version: int | str, held: str, *, slow_close: bool = False
) -> None:
    """Both ends send and half-close; the held one first, and the other only once the
    proxy has read the held end's EOF (while the fault still holds its bytes)."""
    from_client, to_client = os.urandom(20_000), os.urandom(20_000)
    with socket.create_server(("127.0.0.1", 0)) as listener:
        client = open_any_tunnel(server, listener.getsockname()[:2], version)
        destination, _ = listener.accept()
    with client, destination:
        destination.settimeout(client.gettimeout())
        first, first_data, second, second_data = (
            (client, from_client, destination, to_client)
            if held == "from_client"
            else (destination, to_client, client, from_client)
        )
        first.sendall(first_data)
        first.shutdown(socket.SHUT_WR)
        closed_at = time.monotonic()
        server.wait_for_connections(1, closed_by="client" if held == "from_client" else "upstream")
        second.sendall(second_data)
        second.shutdown(socket.SHUT_WR)
        assert recv_all(first) == second_data
        assert recv_all(second) == first_data  # all of it, then the EOF: not dropped
        held_eof_after = time.monotonic() - closed_at
    record = only_record(server)
    assert record.outcome is Outcome.CLOSED
    assert (record.bytes_from_client, record.bytes_to_client) == (20_000, 20_000)
    if slow_close:
        assert held_eof_after >= 0.25  # the slow close was not skipped either


@pytest.mark.parametrize("held", ["from_client", "to_client"])
@pytest.mark.parametrize("holder", list(HOLDERS))
def test_a_held_direction_is_delivered_in_full_when_the_other_closes_first(
    make_server: MakeServer, holder: str, held: str
) -> None:
    fault = HOLDERS[holder](held)
    server = make_server(faults=[fault])
    slow_close = isinstance(fault, SlowClose)
    _exchange_with_the_held_side_closing_first(server, 5, held, slow_close=slow_close)


@pytest.mark.parametrize("version", VERSIONS)
def test_a_held_direction_is_delivered_in_full_on_every_protocol(
    make_server: MakeServer, version: int | str
) -> None:
    server = make_server(socks4=True, faults=[Latency(seconds=0.3, direction="to_client")])
    _exchange_with_the_held_side_closing_first(server, version, "to_client")


def test_a_reset_in_time_acts_once_and_never_after_its_tunnel_ended(
    make_server: MakeServer,
) -> None:
    """``direction="both"`` names two directions but one tunnel: one reset, noted once. A
    tunnel that ended cleanly first is left alone: its timer is gone with it."""
    fault = ResetAfter(seconds=0.3)
    server = make_server(faults=[fault])
    with echo_target() as target:
        with open_any_tunnel(server, target, 5) as early:
            early.sendall(b"ping")
            early.shutdown(socket.SHUT_WR)
            assert recv_all(early) == b"ping"
        ended = only_record(server)
        with open_any_tunnel(server, target, 5) as late, pytest.raises(ConnectionResetError):
            late.recv(100)
        # The late tunnel's timer was set after the early one's, for as long: it fired
        # only after the early one's time was up too.
        server.wait_for_connections(2, ended=True)
    early_record, late_record = server.connections
    assert early_record == ended
    assert (early_record.outcome, early_record.faults) == (Outcome.CLOSED, (fault.describe(),))
    assert late_record.outcome is Outcome.FAULT
    assert late_record.faults == (fault.describe(), fault.describe() + " fired")
