"""Transfer faults on an open tunnel: latency, bandwidth, slicing, blackholes, closes, resets.

Strategy: a tunnel that no transfer fault hits never sees this module — its relay writes
each chunk straight through. When a fault hits, the direction it acts on gets a
:class:`Shaper`: chunks go into a queue (with their arrival time) and one task per
direction delivers them as the faults say, in order. The queue is bounded: past
``QUEUE_HIGH`` bytes the source stops being read, so a slow fault never makes the server
buffer without limit.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import random
import socket
import struct
from typing import TYPE_CHECKING

from ._fault_types import (
    Bandwidth,
    Blackhole,
    CloseAfter,
    Latency,
    ResetAfter,
    Slicer,
    SlowClose,
    TransferFault,
)

if TYPE_CHECKING:
    from ._relay import RelaySide

__all__ = ["QUEUE_HIGH", "Shaper", "reset_transport"]

QUEUE_HIGH = 1024 * 1024
QUEUE_LOW = QUEUE_HIGH // 4

_EOF = b""


def reset_transport(transport: asyncio.Transport) -> None:
    """Close with RST, not FIN: SO_LINGER with a zero timeout, then close."""
    sock = transport.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()


class Shaper:
    """Delivers one direction of a tunnel (``source`` → its peer) through transfer faults."""

    def __init__(self, source: RelaySide, faults: list[TransferFault], rng: random.Random) -> None:
        self.source = source
        self.faults = faults
        self.rng = rng
        self.queue: collections.deque[tuple[float, bytes]] = collections.deque()
        self.queued = 0
        self.forwarded = 0
        self._ready = asyncio.Event()
        self._paused = False
        self._loop = asyncio.get_running_loop()
        self._last_due = 0.0
        self.task = self._loop.create_task(self._run())
        for fault in faults:
            if isinstance(fault, ResetAfter) and fault.seconds is not None:
                self._loop.call_later(fault.seconds, self._reset, fault)

    # -- input, from the source's protocol callbacks ------------------------------------

    def feed(self, data: bytes) -> None:
        self.queue.append((self._loop.time(), data))
        self.queued += len(data)
        self._ready.set()
        transport = self.source.transport
        if self.queued > QUEUE_HIGH and not self._paused and transport is not None:
            self._paused = True
            transport.pause_reading()

    def feed_eof(self) -> None:
        self.queue.append((self._loop.time(), _EOF))
        self._ready.set()

    def cancel(self) -> None:
        self.task.cancel()

    # -- delivery --------------------------------------------------------------------------

    async def _run(self) -> None:
        while True:
            while not self.queue:
                self._ready.clear()
                await self._ready.wait()
            arrived, data = self.queue.popleft()
            self.queued -= len(data)
            if self._paused and self.queued < QUEUE_LOW and self.source.transport is not None:
                self._paused = False
                self.source.transport.resume_reading()
            await self._wait_latency(arrived)
            if data is _EOF or not data:
                await self._slow_close()
                self.source.forward_eof()
                return
            if not await self._deliver(data):
                return

    async def _wait_latency(self, arrived: float) -> None:
        for fault in self.faults:
            if isinstance(fault, Latency):
                jitter = self.rng.uniform(-fault.jitter, fault.jitter) if fault.jitter else 0.0
                due = max(arrived + max(0.0, fault.seconds + jitter), self._last_due)
                self._last_due = due
                delay = due - self._loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)

    async def _slow_close(self) -> None:
        for fault in self.faults:
            if isinstance(fault, SlowClose):
                await asyncio.sleep(fault.seconds)

    async def _deliver(self, data: bytes) -> bool:
        """Forward ``data`` as the faults allow; ``False`` once the tunnel is ended."""
        for fault in self.faults:
            if isinstance(fault, Blackhole | CloseAfter) or (
                isinstance(fault, ResetAfter) and fault.after is not None
            ):
                limit = fault.after
                assert limit is not None
                room = max(0, limit - self.forwarded)
                if len(data) >= room and not isinstance(fault, Blackhole):
                    await self._write(data[:room])
                    if isinstance(fault, CloseAfter):
                        self.source.close_tunnel(abort=False)
                    else:
                        self._reset(fault)
                    return False
                if isinstance(fault, Blackhole) and len(data) > room:
                    await self._write(data[:room])
                    self.forwarded += len(data) - room  # counted as taken, never delivered
                    return True
        await self._write(data)
        return True

    async def _write(self, data: bytes) -> None:
        peer = self.source.peer
        if not data or peer is None or peer.transport is None or peer.transport.is_closing():
            return
        size = len(data)
        delay = 0.0
        rate = 0
        for fault in self.faults:
            if isinstance(fault, Slicer):
                size = min(size, max(1, fault.size))
                delay = max(delay, fault.delay)
            elif isinstance(fault, Bandwidth):
                rate = fault.bytes_per_second if not rate else min(rate, fault.bytes_per_second)
        if rate:
            size = min(size, max(1, rate // 20))  # ~50 ms of data per write
        for start in range(0, len(data), size):
            piece = data[start : start + size]
            if peer.transport.is_closing():
                return
            peer.transport.write(piece)
            self.forwarded += len(piece)
            pause = delay + (len(piece) / rate if rate else 0.0)
            if pause:
                await asyncio.sleep(pause)

    def _reset(self, fault: TransferFault) -> None:
        self.source.record.faults.append(f"{fault.describe()} fired")
        self.source.reset_tunnel()
