"""Closing a connection that moved no byte either way for ``idle_timeout`` seconds.

Strategy: nothing per chunk. A timer compares the record's byte counters and both sides'
write queues with what it saw last; the code moving the bytes (the tunnel's relay,
:mod:`pytest_socks5._relay`, or the forwarder of ``http://`` requests,
:mod:`pytest_socks5._forward_flow`) knows nothing of it, and only says how to read its
queues and how to close its sides (:func:`tunnel_watch` for a tunnel).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from ._guard import OnError, guarded
from ._live_record import LiveRecord
from ._records import Outcome
from ._relay import RelaySide

__all__ = ["IdleWatch", "tunnel_watch"]


class IdleWatch:
    """End a connection that moved no byte either way for ``timeout`` seconds.

    It costs nothing per chunk: every ``timeout / 4`` seconds it compares the record's
    byte counters and both write queues (``queued``: ``-1`` for a side gone) with what
    it saw last, so a connection is ended between ``timeout`` and ``1.25 * timeout``
    seconds after its last byte moved: the record ends ``idle-timeout``, then ``close``
    closes the sides.
    """

    def __init__(
        self,
        record: LiveRecord,
        timeout: float,
        queued: Callable[[], tuple[int, ...]],
        close: Callable[[], None],
        on_error: OnError,
    ) -> None:
        self.record = record
        self.timeout = timeout
        self.queued = queued
        self.close = close
        self._on_error = on_error
        self._loop = asyncio.get_running_loop()
        self._seen = self._moved()
        self._since = self._loop.time()
        self._handle: asyncio.TimerHandle | None = self._loop.call_later(timeout / 4, self._check)

    @property
    def on_error(self) -> OnError:
        return self._on_error

    def _moved(self) -> tuple[int, ...]:
        """Bytes moved each way and bytes still queued for each side: any change is
        traffic (a slow reader draining its queue is not idle)."""
        return (self.record.bytes_from_client, self.record.bytes_to_client, *self.queued())

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
        self.record.end(
            Outcome.IDLE_TIMEOUT,
            closed_by="server",
            error=f"no bytes either way for {self.timeout:g}s (idle_timeout)",
        )
        self.close()

    def cancel(self) -> None:
        """Stop watching (the connection has ended, or waits where another timeout
        applies)."""
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def restart(self) -> None:
        """Watch again after :meth:`cancel`, as if a byte had just moved (unless the
        connection has ended)."""
        self.cancel()
        if self.record.outcome is not Outcome.OPEN:
            return
        self._seen, self._since = self._moved(), self._loop.time()
        self._handle = self._loop.call_later(self.timeout / 4, self._check)


def tunnel_watch(side: RelaySide, timeout: float) -> IdleWatch:
    """The idle watch of the tunnel whose client side is ``side``: sides with nothing
    queued get a FIN; a side whose peer stopped reading (bytes queued that cannot be
    delivered) is aborted."""
    sides = (side, side.peer)

    def queued() -> tuple[int, ...]:
        return tuple(
            s.transport.get_write_buffer_size() if s and s.transport and not s.lost else -1
            for s in sides
        )

    def close() -> None:
        for relay_side, transport in side.open_sides():
            if transport.get_write_buffer_size():
                relay_side.drop(reset=False)
            else:
                transport.close()

    return IdleWatch(side.record, timeout, queued, close, side.on_error)
