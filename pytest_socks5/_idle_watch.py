"""Closing a tunnel that moved no byte either way for ``idle_timeout`` seconds.

Strategy: nothing per chunk. A timer compares the record's byte counters and both sides'
write queues with what it saw last; the relay (:mod:`pytest_socks5._relay`) knows
nothing of it.
"""

from __future__ import annotations

import asyncio

from ._guard import OnError, guarded
from ._records import Outcome
from ._relay import RelaySide

__all__ = ["IdleWatch"]


class IdleWatch:
    """Close a tunnel that moved no byte either way for ``timeout`` seconds.

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

    @property
    def on_error(self) -> OnError:
        return self.side.on_error

    def _moved(self) -> tuple[int, ...]:
        """Bytes read from each side and bytes still queued for each side: any change is
        traffic (a slow reader draining its queue is not idle)."""
        record, sides = self.side.record, (self.side, self.side.peer)
        queued = (
            s.transport.get_write_buffer_size() if s and s.transport and not s.lost else -1
            for s in sides
        )
        return (record.bytes_from_client, record.bytes_to_client, *queued)

    @guarded
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
        for side, transport in self.side.open_sides():
            if transport.get_write_buffer_size():
                side.drop(reset=False)
            else:
                transport.close()

    def cancel(self) -> None:
        """Stop watching (the tunnel has ended)."""
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
