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
import fcntl
import socket
import struct
import sys
import termios
import threading
import time
from collections.abc import Callable

import pytest

from pytest_socks5 import Outcome, SOCKS5Server

from .helpers import TIMEOUT, VERSIONS, connect_request, recv_exactly

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="the truth is read from Linux's TCP_INFO"
)

MakeServer = Callable[..., SOCKS5Server]
#: More than every buffer between the two ends can hold: the sender is always blocked.
SIZE = 8 * 1024 * 1024
READ = 1000
#: ``struct tcp_info``: ``tcpi_segs_in`` and ``tcpi_data_segs_in`` (u32), ``tcpi_rcv_wnd``
#: (u32, Linux 6.2+: the window last advertised).
SEGS_IN_AT, DATA_SEGS_IN_AT, RCV_WND_AT = 140, 152, 232


def window_and_probes(sock: socket.socket) -> tuple[int, int]:
    """The receive window ``sock`` last advertised, and how many segments with no data it
    received; skips the test where the kernel does not tell the window."""
    info = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 512)
    if len(info) < RCV_WND_AT + 4:
        pytest.skip("this kernel's TCP_INFO has no tcpi_rcv_wnd (Linux 6.2+)")
    segments, data_segments, window = (
        struct.unpack_from("I", info, at)[0] for at in (SEGS_IN_AT, DATA_SEGS_IN_AT, RCV_WND_AT)
    )
    return window, segments - data_segments


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
    queued = struct.unpack("i", fcntl.ioctl(sock.fileno(), termios.FIONREAD, b"\0" * 4))[0]
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()
    return READ + queued


def open_tunnel(
    sock: socket.socket, server: SOCKS5Server, target: tuple[str, int], version: int | str
) -> None:
    """The CONNECT on ``sock`` (a socket not yet connected), its success reply read."""
    sock.settimeout(TIMEOUT)
    sock.connect(server.address)
    sock.sendall(connect_request(target, version))
    if version == 5:
        assert recv_exactly(sock, 12)[2:4] == b"\x05\x00"
    elif version == 4:
        assert recv_exactly(sock, 8)[:2] == b"\x00\x5a"
    else:
        head = b""
        while not head.endswith(b"\r\n\r\n"):
            head += recv_exactly(sock, 1)
        assert head.startswith(b"HTTP/1.1 200")


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
        sock = socket.socket()
        open_tunnel(sock, server, target.getsockname(), version)
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
        with socket.socket() as sock:
            open_tunnel(sock, server, target.getsockname(), version)
            send_until_stopped(sock)
            (record,) = server.wait_for_connections(1, ended=True, timeout=TIMEOUT)
        thread.join(TIMEOUT)
    assert (record.outcome, record.closed_by, record.closed_how) == (
        Outcome.RESET,
        "upstream",
        "rst",
    )
    assert record.bytes_from_client == reached[0]
