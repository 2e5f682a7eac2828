"""Small socket facts shared by every part of the I/O layer.

Strategy: the things every transport user needs and no layer owns — the write-buffer
bound that gives backpressure, closing with RST instead of FIN (and how many written
bytes that loses), closing with a FIN that comes first, and reading an address off a
transport — live here, below the connection, the relays and the dialler, so none of them
has to import another for a helper.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import socket
import struct
from typing import Any

__all__ = [
    "WRITE_HIGH_WATER",
    "address_of",
    "duplicate",
    "fin_first",
    "lost_to_reset",
    "reset_on_close",
    "reset_transport",
    "send_fin",
    "sent_mark",
    "unsent_in_kernel",
]

#: Bytes a side may have queued for writing before the other side stops being read.
WRITE_HIGH_WATER = 1024 * 1024
#: Linux's ioctl for the bytes in a socket's send queue not yet sent (``SIOCOUTQNSD``).
_SIOCOUTQNSD = 0x894B
#: Linux's ioctl for the bytes in a socket's send queue not yet acknowledged (``SIOCOUTQ``).
_SIOCOUTQ = 0x5411
#: Linux's ``struct tcp_info``, as far as it is read: ``tcpi_state`` (u8, at 0),
#: ``tcpi_unacked`` (segments in flight, u32 at 24), ``tcpi_bytes_acked`` (u64 at 120,
#: Linux 4.1+) and ``tcpi_notsent_bytes`` (u32 at 144, Linux 4.6+).
_TCP_INFO = getattr(socket, "TCP_INFO", None)
_INFO = struct.Struct("=B23xI92xQ16xI")
#: The state a reset (or a failed connection) leaves a socket in.
_TCP_CLOSE = 7
#: ``SO_LINGER`` on, with a zero timeout: closing sends RST, not FIN.
_RESET_LINGER = struct.pack("ii", 1, 0)


def reset_on_close(sock: Any) -> None:
    """Make closing ``sock`` send RST, not FIN: SO_LINGER with a zero timeout (nothing,
    if the socket is already gone)."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _RESET_LINGER)


def reset_transport(transport: asyncio.BaseTransport) -> None:
    """Close with RST, not FIN: :func:`reset_on_close`, then abort."""
    sock = transport.get_extra_info("socket")
    if sock is not None:
        reset_on_close(sock)
    transport.abort()  # type: ignore[attr-defined]


def duplicate(sock: Any) -> socket.socket:
    """A socket of its own on a duplicate of ``sock``'s descriptor (a transport's socket
    included): both name the same connection, and closing one leaves the other open."""
    return socket.socket(fileno=os.dup(sock.fileno()))


def send_fin(sock: Any) -> None:
    """Shut the write side of ``sock``: a FIN after every byte its kernel holds (nothing,
    if the peer is gone or it was shut already).

    Why before a close: closing a socket with bytes from its peer not yet read sends RST
    and no FIN (Linux; RFC 1122 4.2.2.13), so a clean close that crossed the peer's
    bytes would reach the peer as a reset, and what our kernel had not sent yet would be
    lost. After the FIN, such a RST only answers the peer's later bytes: the peer's
    reads still end with EOF.
    """
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_WR)


def fin_first(transport: asyncio.BaseTransport) -> None:
    """From a protocol's ``connection_lost`` of a close the proxy made (both loops close
    the socket as it returns): :func:`send_fin`, unless the socket is set to reset
    (:func:`reset_on_close`), which must stay a RST with no FIN before it.

    It works on a :func:`duplicate` (uvloop's transport sockets refuse ``shutdown``).
    """
    sock = transport.get_extra_info("socket")
    if sock is None:
        return
    with contextlib.suppress(OSError), duplicate(sock) as same:
        # Read as two fields, not compared with _RESET_LINGER: BSDs report "on" as 0x80.
        on, seconds = struct.unpack("ii", same.getsockopt(socket.SOL_SOCKET, socket.SO_LINGER, 8))
        if not (on and seconds == 0):
            send_fin(same)


def unsent_in_kernel(sock: Any) -> int:
    """Bytes written to ``sock`` (anything with ``fileno()``) that its kernel has not sent
    yet: a reset discards them. 0 where the kernel cannot tell (not Linux, not TCP,
    closed)."""
    try:
        answer = fcntl.ioctl(sock.fileno(), _SIOCOUTQNSD, b"\0\0\0\0")
    except (OSError, ValueError, AttributeError):
        return 0
    return max(0, int(struct.unpack("i", answer)[0]))


def _tcp_info(sock: Any) -> tuple[int, int, int, int] | None:
    """``sock``'s TCP state, segments in flight, bytes its peer acknowledged (SYN and FIN
    count one each) and bytes not sent yet, in one ``TCP_INFO``; ``None`` where the
    kernel cannot tell (not Linux, not TCP, closed)."""
    if _TCP_INFO is None:
        return None
    try:
        info = sock.getsockopt(socket.IPPROTO_TCP, _TCP_INFO, _INFO.size)
    except (OSError, ValueError, AttributeError):
        return None
    if len(info) < _INFO.size:
        return None
    return _INFO.unpack(info)


def sent_mark(sock: Any) -> int | None:
    """Where the next byte written to ``sock`` stands in its kernel's count of
    acknowledged bytes (acknowledged so far, plus written and not yet acknowledged);
    ``None`` where the kernel cannot tell. Taken before a tunnel's first payload byte, it
    lets :func:`lost_to_reset` count what of the payload reached the peer. One syscall
    when nothing is in flight (the usual case), two otherwise."""
    info = _tcp_info(sock)
    if info is None:
        return None
    _, in_flight, acked, not_sent = info
    if not in_flight:
        return acked + not_sent
    try:
        answer = fcntl.ioctl(sock.fileno(), _SIOCOUTQ, b"\0\0\0\0")
    except (OSError, ValueError, AttributeError):
        return None
    return acked + max(0, int(struct.unpack("i", answer)[0]))


def lost_to_reset(sock: Any, mark: int | None, written: int) -> int | None:
    """Of the ``written`` payload bytes handed to ``sock`` since its :func:`sent_mark`
    ``mark``, those that never reached its peer, if the peer reset the connection (or it
    failed): the kernel then drops its send queue, and only what the peer acknowledged
    was delivered. ``None`` if the connection is not over that way (the kernel still
    holds its queue) or the kernel cannot tell.

    A peer that reset with bytes it had received and not yet acknowledged (a delayed
    ACK) had them too; the count leaves them out, as the proxy's kernel never heard."""
    if mark is None:
        return None
    info = _tcp_info(sock)
    if info is None or info[0] != _TCP_CLOSE:
        return None
    return max(0, written - max(0, info[2] - mark))


def address_of(sockname: Any) -> tuple[str, int] | None:
    """``(host, port)`` from a ``sockname``/``peername`` extra (``None`` if there is none)."""
    if not sockname:
        return None
    return (str(sockname[0]), int(sockname[1]))
