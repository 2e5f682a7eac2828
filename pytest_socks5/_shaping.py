"""Transfer faults on an open tunnel: latency, bandwidth, slicing, blackholes, closes, resets.

Strategy: a tunnel that no transfer fault hits never sees this module — its relay writes
each chunk straight through. When a fault hits, the direction it acts on gets a
:class:`Shaper`: chunks go into a queue (with their arrival time) and one task per
direction delivers them as the faults say, in order. The queue is bounded: past
``QUEUE_HIGH`` bytes the source is told to stop (a tunnel's side stops reading; the
forwarder of ``http://`` requests pulls no more events, so the queue may pass the bound
by the one write it was making), so a slow fault never makes the server buffer without
limit.
"""

from __future__ import annotations

import asyncio
import collections
import random
from typing import Protocol

from ._fault_types import (
    Bandwidth,
    Blackhole,
    CloseAfter,
    Direction,
    Latency,
    ResetAfter,
    Slicer,
    SlowClose,
    TransferFault,
)
from ._guard import OnError, watch_task

__all__ = ["QUEUE_HIGH", "ShapedSide", "Shaper", "shape", "timed_resets"]

QUEUE_HIGH = 1024 * 1024
QUEUE_LOW = QUEUE_HIGH // 4

_EOF = b""


class ShapedSide(Protocol):
    """What a shaper needs of the tunnel side whose bytes it delivers."""

    def pause_source(self) -> None:
        """Stop reading this side."""

    def resume_source(self) -> None:
        """Read this side again."""

    def peer_writable(self) -> bool:
        """Whether the other side can still be written to."""

    def deliver(self, data: bytes) -> None:
        """Write ``data`` to the other side (and count it as delivered)."""

    def forward_eof(self) -> None:
        """Pass this side's EOF on."""

    def close_tunnel(self, *, abort: bool) -> None:
        """Close both sides (FIN, or RST with ``abort``)."""

    def reset_tunnel(self, fault: str) -> None:
        """End both sides with RST because ``fault`` fired."""

    @property
    def on_error(self) -> OnError:
        """Where a bug in the shaper's task goes."""


class Shaper:
    """Delivers one direction of a tunnel (``source`` → its peer) through transfer faults."""

    def __init__(
        self, source: ShapedSide, faults: list[TransferFault], rng: random.Random
    ) -> None:
        self.source = source
        self.faults: list[TransferFault] = []
        self.rng = rng
        self.queue: collections.deque[tuple[float, bytes]] = collections.deque()
        self.queued = 0
        #: Bytes read from the source, and bytes taken from the queue (a blackhole's
        #: swallowed bytes included).
        self.received = 0
        self.forwarded = 0
        #: Where each fault (by id) started counting: ``received`` and ``forwarded`` as
        #: it joined (see :meth:`add`).
        self._since: dict[int, tuple[int, int]] = {}
        self.add(faults)
        self._ready = asyncio.Event()
        #: Set while every byte fed so far is handled (delivered, swallowed, or the
        #: shaper is over): see :meth:`drained`.
        self._idle = asyncio.Event()
        self._idle.set()
        self._paused = False
        self._loop = asyncio.get_running_loop()
        self._last_due = 0.0
        self.task = self._loop.create_task(self._run())
        watch_task(self.task, self)

    # -- input, from the source's protocol callbacks ------------------------------------

    def add(self, faults: list[TransferFault]) -> None:
        """``faults`` act from now on; an ``after=N`` counts the bytes from now: a fault
        that joins a shaper already delivering counts as a fresh shaper's would."""
        self.faults += faults
        for fault in faults:
            self._since[id(fault)] = (self.received, self.forwarded)

    def feed(self, data: bytes) -> None:
        self._idle.clear()
        self.queue.append((self._loop.time(), data))
        self.queued += len(data)
        self.received += len(data)
        self._ready.set()
        if self.queued > QUEUE_HIGH and not self._paused:
            self._paused = True
            self.source.pause_source()

    def feed_eof(self) -> None:
        self.queue.append((self._loop.time(), _EOF))
        self._ready.set()

    def cancel(self) -> None:
        self.task.cancel()

    async def drained(self) -> None:
        """Until every byte fed so far is handled: delivered (a slicer's last pause
        waited), swallowed by a blackhole, or dropped because the tunnel ended."""
        await self._idle.wait()

    @property
    def swallows_close(self) -> bool:
        """Whether a blackhole has opened (the source sent its ``after`` bytes): then the
        source's close, FIN or RST, is swallowed too and the other side hears nothing."""
        return any(
            isinstance(f, Blackhole) and self.received - self._since[id(f)][0] >= f.after
            for f in self.faults
        )

    @property
    def on_error(self) -> OnError:
        return self.source.on_error

    # -- delivery --------------------------------------------------------------------------

    async def _run(self) -> None:
        try:
            await self._deliver_queue()
        finally:
            self._idle.set()  # over: nothing more will be delivered

    async def _deliver_queue(self) -> None:
        while True:
            while not self.queue:
                self._idle.set()
                self._ready.clear()
                await self._ready.wait()
            arrived, data = self.queue.popleft()
            self.queued -= len(data)
            if self._paused and self.queued < QUEUE_LOW:
                self._paused = False
                self.source.resume_source()
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
                assert fault.after is not None
                limit = fault.after + self._since[id(fault)][1]
                room = max(0, limit - self.forwarded)
                if len(data) >= room and not isinstance(fault, Blackhole):
                    await self._write(data[:room])
                    if isinstance(fault, CloseAfter):
                        self.source.close_tunnel(abort=False)
                    else:
                        self.source.reset_tunnel(fault.describe())
                    return False
                if isinstance(fault, Blackhole) and len(data) > room:
                    await self._write(data[:room])
                    self.forwarded += len(data) - room  # counted as taken, never delivered
                    return True
        await self._write(data)
        return True

    async def _write(self, data: bytes) -> None:
        source = self.source
        if not data or not source.peer_writable():
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
            if not source.peer_writable():
                return
            source.deliver(piece)
            self.forwarded += len(piece)
            pause = delay + (len(piece) / rate if rate else 0.0)
            if pause:
                await asyncio.sleep(pause)


def shape(
    faults: list[TransferFault],
    rng: random.Random,
    from_client: ShapedSide,
    to_client: ShapedSide,
    shapers: tuple[Shaper | None, Shaper | None] = (None, None),
) -> tuple[Shaper | None, Shaper | None]:
    """The shapers of a tunnel's two directions (the side whose bytes go to the
    destination, then the side whose bytes go to the client) for the transfer ``faults``
    that hit it: one for each direction a fault acts on (``direction``), else ``None``.
    A direction that has a shaper already (``shapers``) keeps it, the faults added
    (counting from now, as on a new shaper: :meth:`Shaper.add`)."""
    ways = ((from_client, Direction.FROM_CLIENT), (to_client, Direction.TO_CLIENT))
    result: list[Shaper | None] = []
    for (side, direction), shaper in zip(ways, shapers, strict=True):
        acting = [f for f in faults if f.flows.includes(direction)]
        if acting and shaper is not None:
            shaper.add(acting)
        elif acting:
            shaper = Shaper(side, acting, rng)
        result.append(shaper)
    return result[0], result[1]


def timed_resets(faults: list[TransferFault]) -> list[ResetAfter]:
    """The ``ResetAfter(seconds=...)`` among ``faults``: a time is the tunnel's, from its
    opening, whichever direction the fault names."""
    return [f for f in faults if isinstance(f, ResetAfter) and f.seconds is not None]
