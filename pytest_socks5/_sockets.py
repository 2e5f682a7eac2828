"""Small socket facts shared by every part of the I/O layer.

Strategy: the things every transport user needs and no layer owns — the write-buffer
bound that gives backpressure, closing with RST instead of FIN, and reading an address
off a transport — live here, below the connection, the relays and the dialler, so none
of them has to import another for a helper.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
from typing import Any

__all__ = ["WRITE_HIGH_WATER", "address_of", "reset_transport"]

#: Bytes a side may have queued for writing before the other side stops being read.
WRITE_HIGH_WATER = 1024 * 1024


def reset_transport(transport: asyncio.BaseTransport) -> None:
    """Close with RST, not FIN: SO_LINGER with a zero timeout, then abort."""
    sock = transport.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()  # type: ignore[attr-defined]


def address_of(sockname: Any) -> tuple[str, int] | None:
    """``(host, port)`` from a ``sockname``/``peername`` extra (``None`` if there is none)."""
    if not sockname:
        return None
    return (str(sockname[0]), int(sockname[1]))
