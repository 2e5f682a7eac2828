"""One UDP socket of a UDP association, as an asyncio datagram protocol.

Strategy: it only passes each datagram on (``on_datagram``) and keeps its transport, so
that whoever made it can close it even when the making was cancelled: uvloop leaves the
transport of a cancelled ``create_datagram_endpoint`` open, and its loop would never
finish closing. What a datagram means is ``_udp.py``'s business.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from ._guard import GuardedProtocol, OnError

__all__ = ["UdpEndpoint"]


class UdpEndpoint(GuardedProtocol, asyncio.DatagramProtocol):
    """A UDP socket of the association: passes what it receives to ``on_datagram``."""

    def __init__(
        self, on_datagram: Callable[[bytes, tuple[str, int]], None], on_error: OnError
    ) -> None:
        self.on_datagram = on_datagram
        self.on_error = on_error
        self.transport: asyncio.BaseTransport | None = None
        #: Its creation was cancelled (the association closed meanwhile): close the
        #: transport as soon as it exists, for uvloop leaves it open and its loop would
        #: never finish closing.
        self.abandoned = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        if self.abandoned:
            transport.close()

    def abandon(self) -> None:
        """Close the transport now, or when it is made (see :attr:`abandoned`)."""
        self.abandoned = True
        if self.transport is not None:
            self.transport.close()

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        self.on_datagram(data, (str(addr[0]), int(addr[1])))

    def error_received(self, exc: Exception) -> None:
        """ICMP errors (a closed port on loopback): UDP promises nothing, so neither do we."""
