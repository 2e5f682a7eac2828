"""The open tunnel: two protocols that forward each chunk straight to the other side.

Strategy: no streams, no queues, no copies. Each :class:`RelaySide` writes what it reads
to its peer's transport; when a transport's write buffer passes its high-water mark,
asyncio calls ``pause_writing`` and the *other* side stops reading (backpressure both
ways). EOF is forwarded one way at a time (``write_eof``), so half-close is honoured; the
tunnel closes when both directions have ended or one side is lost (a reset is passed on
as an abort).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from ._recording import LiveRecord, Outcome

__all__ = ["WRITE_HIGH_WATER", "IdleWatch", "RelaySide"]

#: Bytes a side may have queued for writing before the other side stops being read.
WRITE_HIGH_WATER = 1024 * 1024


class RelaySide(asyncio.Protocol):
    """One end of an open tunnel: what it reads goes to ``peer``'s transport."""

    def __init__(self, record: LiveRecord, name: str) -> None:
        self.record = record
        self.name = name
        self.transport: asyncio.Transport | None = None
        self.peer: RelaySide | None = None
        self.eof = False
        self.lost = False
        self.tunnel_done: Callable[[], None] = lambda: None
        self._counter = "bytes_from_client" if name == "client" else "bytes_to_client"

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # Only the upstream side is created by a connect; hold its bytes until the tunnel
        # is open, so nothing reaches the client before the success reply.
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.pause_reading()
        transport.set_write_buffer_limits(high=WRITE_HIGH_WATER)
        # asyncio's selector transports already set TCP_NODELAY on TCP sockets.

    def data_received(self, data: bytes) -> None:
        peer = self.peer
        assert peer is not None
        assert peer.transport is not None
        record = self.record
        if self.name == "client":
            record.bytes_from_client += len(data)
        else:
            record.bytes_to_client += len(data)
        peer.transport.write(data)

    def eof_received(self) -> bool:
        self.eof = True
        if self.record.closed_by is None:
            self.record.closed_by = self.name
        peer = self.peer
        assert peer is not None
        assert peer.transport is not None
        if peer.eof or peer.lost:
            self.close_tunnel(abort=False)
            return True
        if not peer.transport.is_closing():
            try:
                peer.transport.write_eof()
            except OSError as exc:  # the peer is already gone
                self.record.end(Outcome.RESET, closed_by=peer.name, error=f"{peer.name}: {exc!r}")
                self.close_tunnel(abort=True)
        return True

    def pause_writing(self) -> None:
        if self.peer is not None and self.peer.transport is not None:
            self.peer.transport.pause_reading()

    def resume_writing(self) -> None:
        if self.peer is not None and self.peer.transport is not None:
            self.peer.transport.resume_reading()

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        record = self.record
        if record.closed_by is None:
            record.closed_by = self.name
        if exc is not None:
            record.end(Outcome.RESET, closed_by=self.name, error=f"{self.name}: {exc!r}")
        peer = self.peer
        if peer is not None and peer.transport is not None and not peer.lost:
            if exc is not None:
                peer.transport.abort()
            else:
                peer.transport.close()
        if peer is None or peer.lost:
            record.end(Outcome.CLOSED, closed_by=record.closed_by)
            self.tunnel_done()

    def close_tunnel(self, *, abort: bool) -> None:
        for side in (self, self.peer):
            if side is not None and side.transport is not None and not side.lost:
                if abort:
                    side.transport.abort()
                else:
                    side.transport.close()


class IdleWatch:
    """Close a tunnel that moved no byte either way for ``timeout`` seconds (issue 8).

    It costs nothing per chunk: every ``timeout / 4`` seconds it compares the record's
    byte counters and both write queues with what it saw last, so a tunnel is closed
    between ``timeout`` and ``1.25 * timeout`` seconds after its last byte moved. Sides
    with nothing queued get a FIN; a side whose peer stopped reading (bytes queued that
    cannot be delivered) is aborted.
    """

    def __init__(self, side: RelaySide, timeout: float) -> None:
        self.side = side
        self.timeout = timeout
        self._loop = asyncio.get_running_loop()
        self._seen = self._moved()
        self._since = self._loop.time()
        self._handle: asyncio.TimerHandle | None = self._loop.call_later(timeout / 4, self._check)

    def _moved(self) -> tuple[int, ...]:
        """Bytes read from each side and bytes still queued for each side: any change is
        traffic (a slow reader draining its queue is not idle)."""
        record, sides = self.side.record, (self.side, self.side.peer)
        queued = (
            s.transport.get_write_buffer_size() if s and s.transport and not s.lost else -1
            for s in sides
        )
        return (record.bytes_from_client, record.bytes_to_client, *queued)

    def _check(self) -> None:
        now, moved = self._loop.time(), self._moved()
        if moved != self._seen:
            self._seen, self._since = moved, now
        elif now - self._since >= self.timeout:
            self._handle = None
            self._expire()
            return
        self._handle = self._loop.call_later(self.timeout / 4, self._check)

    def _expire(self) -> None:
        self.side.record.end(
            Outcome.IDLE_TIMEOUT,
            closed_by="server",
            error=f"no bytes either way for {self.timeout:g}s (idle_timeout)",
        )
        for side in (self.side, self.side.peer):
            if side is not None and side.transport is not None and not side.lost:
                if side.transport.get_write_buffer_size():
                    side.transport.abort()
                else:
                    side.transport.close()

    def cancel(self) -> None:
        """Stop watching (the tunnel has ended)."""
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
