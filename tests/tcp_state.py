"""What a loopback TCP socket's kernel says it holds, for tests that check a record's
counts against what really reached a socket (Linux: ``TCP_INFO`` and ``FIONREAD``)."""

from __future__ import annotations

import fcntl
import socket
import struct
import termios

import pytest

__all__ = ["queued", "reset", "window_and_probes"]

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


def queued(sock: socket.socket) -> int:
    """The bytes in ``sock``'s receive queue: they reached it, not read yet."""
    return int(struct.unpack("i", fcntl.ioctl(sock.fileno(), termios.FIONREAD, b"\0" * 4))[0])


def reset(sock: socket.socket) -> None:
    """Close ``sock`` with RST (``SO_LINGER`` 0)."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()
