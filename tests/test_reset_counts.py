"""A side that resets with bytes still on their way to it: the record counts what reached
its socket, not what the proxy had written towards it.

The truth is measured on the receiving socket, not guessed: what it read, plus what was
left readable in its receive queue (``FIONREAD``) when it closed with RST. Before it closes,
the receiver waits for the moment that count is settled: its kernel has advertised a zero
window (``tcpi_rcv_wnd``, Linux 6.2+), so nothing more can arrive and everything that
arrived is acknowledged; and a segment with no data has come since (the proxy's kernel
probing the closed window), so the proxy's kernel has heard that acknowledgement. Every
relay and loop (``make_server``), and every protocol (``VERSIONS``).
"""

from __future__ import annotations

import contextlib
import socket
import sys
import threading
import time
from collections.abc import Callable

import pytest

from pytest_socks5 import Outcome, SOCKS5Server

from .helpers import TIMEOUT, VERSIONS, open_any_tunnel, recv_exactly
from .tcp_state import queued, reset, window_and_probes

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="the truth is read from Linux's TCP_INFO"
)

MakeServer = Callable[..., SOCKS5Server]
#: More than every buffer between the two ends can hold: the sender is always blocked.
SIZE = 8 * 1024 * 1024
READ = 1000


def reset_with_unread_data(sock: socket.socket) -> int:
    """Read :data:`READ` bytes, wait until what reached the socket is settled (see the
    module's docstring), close with RST; return how many bytes reached the socket (read,
    and left in its receive queue)."""
    assert len(recv_exactly(sock, READ)) == READ
    # The first probe comes an RTO (200 ms) after the window closed, then each later
    # one twice as late: a deadline that would hide a hang, not a slow machine.
    deadline = time.monotonic() + 4 * TIMEOUT
    closed_at: int | None = None  # segments with no data when the window was seen closed
    while True:
        window, empty = window_and_probes(sock)
        if window:
            closed_at = None
        elif closed_at is None:
            closed_at = empty
        elif empty > closed_at:  # probed since: the zero window was heard
            break
        assert time.monotonic() < deadline, f"window {window}, {empty} probes: never settled"
        time.sleep(0.001)  # polling a condition, not timing anything
    in_queue = queued(sock)
    reset(sock)
    return READ + in_queue


def send_until_stopped(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.sendall(b"x" * SIZE)


@pytest.mark.parametrize("version", VERSIONS)
def test_a_client_that_resets_with_unread_bytes_counts_what_reached_it(
    make_server: MakeServer, version: int | str
) -> None:
    """The auditor's case: a download the client stops reading and resets. What the proxy
    still held for it (its write buffer, its kernel's send queue) never reached it."""
    server = make_server(socks4=True)
    with socket.create_server(("127.0.0.1", 0)) as target:
        accepted: list[socket.socket] = []

        def destination() -> None:
            conn, _ = target.accept()
            accepted.append(conn)
            conn.settimeout(TIMEOUT)
            send_until_stopped(conn)

        thread = threading.Thread(target=destination, daemon=True)
        thread.start()
        sock = open_any_tunnel(server, target.getsockname(), version)
        reached = reset_with_unread_data(sock)
        (record,) = server.wait_for_connections(1, ended=True, timeout=TIMEOUT)
        thread.join(TIMEOUT)
        for conn in accepted:
            conn.close()
    assert (record.outcome, record.closed_by, record.closed_how) == (
        Outcome.RESET,
        "client",
        "rst",
    )
    assert record.bytes_to_client == reached


@pytest.mark.parametrize("version", VERSIONS)
def test_a_destination_that_resets_with_unread_bytes_counts_what_reached_it(
    make_server: MakeServer, version: int | str
) -> None:
    """The other way: an upload the destination stops reading and resets."""
    server = make_server(socks4=True)
    with socket.create_server(("127.0.0.1", 0)) as target:
        reached: list[int] = []

        def destination() -> None:
            conn, _ = target.accept()
            conn.settimeout(TIMEOUT)
            reached.append(reset_with_unread_data(conn))

        thread = threading.Thread(target=destination, daemon=True)
        thread.start()
        with open_any_tunnel(server, target.getsockname(), version) as sock:
            send_until_stopped(sock)
            (record,) = server.wait_for_connections(1, ended=True, timeout=TIMEOUT)
        thread.join(TIMEOUT)
    assert (record.outcome, record.closed_by, record.closed_how) == (
        Outcome.RESET,
        "upstream",
        "rst",
    )
    assert record.bytes_from_client == reached[0]
