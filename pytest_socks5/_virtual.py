"""Virtual destinations over TCP: ``ECHO`` and ``Sink`` served inside the proxy.

Strategy: a virtual destination is a small :class:`asyncio.Protocol` on one end of a
:func:`socket.socketpair`; the other end becomes the tunnel's upstream
:class:`~pytest_socks5._relay.RelaySide`, exactly as if the proxy had dialled a real
server. So the relay, its backpressure, half-close handling and fault hooks are the same
code for real and virtual destinations, and nothing leaves the process.
"""

from __future__ import annotations

import asyncio
import functools
import socket
from collections.abc import Callable

from ._guard import GuardedProtocol, KeptError, OnError
from ._hosts import Echo, Sink, VirtualDestination
from ._read_buffer import BufferedReads
from ._recorder import LiveRecord
from ._relay import RelaySide
from ._sockets import WRITE_HIGH_WATER

__all__ = ["open_virtual"]


class _Service(GuardedProtocol, asyncio.Protocol, BufferedReads):
    """The far end of a virtual tunnel; a bug in it goes where the tunnel's upstream
    side sends its own (``side``, set once that side exists)."""

    def __init__(self, destination: VirtualDestination) -> None:
        self.destination = destination
        self.transport: asyncio.Transport | None = None
        self.answered = False
        self.side: RelaySide | None = None
        #: A bug before ``side`` exists (a sink that speaks first answers at connect).
        self.kept = KeptError()

    @property
    def on_error(self) -> OnError:
        return self.side.on_error if self.side is not None else self.kept

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        # A stream's transport, never checked: uvloop's transports are not asyncio classes.
        self.transport = transport
        transport.set_write_buffer_limits(high=WRITE_HIGH_WATER)
        if isinstance(self.destination, Sink) and self.destination.on_connect:
            self._answer()

    def _answer(self) -> None:
        sink = self.destination
        assert isinstance(sink, Sink)
        assert self.transport is not None
        self.answered = True
        if sink.response:
            self.transport.write(sink.response)
            if sink.close and self.transport.can_write_eof():
                self.transport.write_eof()

    def data_received(self, data: bytes) -> None:
        assert self.transport is not None
        if isinstance(self.destination, Echo):
            self.transport.write(data)
        elif not self.answered:
            self._answer()

    def eof_received(self) -> bool:
        assert self.transport is not None
        if isinstance(self.destination, Echo) and self.transport.can_write_eof():
            self.transport.write_eof()
            return True
        return False  # the sink is done when the client is

    def pause_writing(self) -> None:
        if self.transport is not None:
            self.transport.pause_reading()

    def resume_writing(self) -> None:
        if self.transport is not None:
            self.transport.resume_reading()


async def open_virtual(
    destination: VirtualDestination,
    record: LiveRecord,
    on_end: Callable[[Callable[[], None]], None],
) -> RelaySide:
    """Start ``destination`` on one end of a socket pair; return the tunnel's upstream side.

    ``on_end`` registers the closing of the service's transport for when the connection
    ends, so nothing outlives the tunnel.
    """
    loop = asyncio.get_running_loop()
    ours, theirs = socket.socketpair()
    try:
        service_transport, service = await loop.connect_accepted_socket(
            functools.partial(_Service, destination), sock=theirs
        )
    except BaseException:
        ours.close()
        theirs.close()
        raise
    on_end(service_transport.close)
    try:
        _, side = await loop.create_connection(
            functools.partial(RelaySide, record, "upstream"), sock=ours
        )
    except BaseException:
        ours.close()
        service_transport.close()
        raise
    service.side = side
    if service.kept.error is not None:  # raised when the connection takes the side
        side.on_error(service.kept.error)
    return side
