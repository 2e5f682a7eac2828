"""Small socket facts shared by every part of the I/O layer.

Strategy: the things every transport user needs and no layer owns — the write-buffer
bound that gives backpressure, closing with RST instead of FIN (and how many written
bytes that loses), and reading an address off a transport — live here, below the
connection, the relays and the dialler, so none of them has to import another for a
helper.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import socket
import struct
from typing import Any

__all__ = [
    "WRITE_HIGH_WATER",
    "address_of",
    "reset_on_close",
    "reset_transport",
    "unsent_in_kernel",
]

#: Bytes a side may have queued for writing before the other side stops being read.
WRITE_HIGH_WATER = 1024 * 1024
#: Linux's ioctl for the bytes in a socket's send queue not yet sent (``SIOCOUTQNSD``).
_SIOCOUTQNSD = 0x894B


def reset_on_close(sock: Any) -> None:
    """Make closing ``sock`` send RST, not FIN: SO_LINGER with a zero timeout (nothing,
    if the socket is already gone)."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


def reset_transport(transport: asyncio.BaseTransport) -> None:
    """Close with RST, not FIN: :func:`reset_on_close`, then abort."""
    sock = transport.get_extra_info("socket")
    if sock is not None:
        reset_on_close(sock)
    transport.abort()  # type: ignore[attr-defined]


def unsent_in_kernel(sock: Any) -> int:
    """Bytes written to ``sock`` (anything with ``fileno()``) that its kernel has not sent
    yet: a reset discards them. 0 where the kernel cannot tell (not Linux, not TCP,
    closed)."""
    try:
        answer = fcntl.ioctl(sock.fileno(), _SIOCOUTQNSD, b"\0\0\0\0")
    except (OSError, ValueError, AttributeError):
        return 0
    return max(0, int(struct.unpack("i", answer)[0]))


def address_of(sockname: Any) -> tuple[str, int] | None:
    """``(host, port)`` from a ``sockname``/``peername`` extra (``None`` if there is none)."""
    if not sockname:
        return None
    return (str(sockname[0]), int(sockname[1]))
