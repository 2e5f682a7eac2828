"""Which connections are open, and closing them all when the server stops.

Strategy: the registry is the one owner of the set of open connections. A connection adds
itself when it is accepted and leaves when its record is settled; the engine asks the
registry how many are open (``max_connections``) and has it close them all on
:meth:`~pytest_socks5._engine.Engine.stop` — first gracefully, then, after the grace
period, with RST. It knows a connection only by the three things it needs of it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Protocol

__all__ = ["ConnectionRegistry", "Registered"]


class Registered(Protocol):
    """What the registry needs of a connection."""

    #: The registry's generation when the connection was accepted.
    generation: int
    #: Resolved once the connection is over and its record settled.
    done: asyncio.Future[None]

    def shutdown(self, *, abort: bool) -> None:
        """Close for a server stop: FIN (flushing what is queued), or RST."""


class ConnectionRegistry:
    """The open connections of one engine."""

    def __init__(self) -> None:
        self._open: set[Registered] = set()
        #: Bumped on every server reset: connections left open by an earlier test do not
        #: count towards this test's ``max_connections``.
        self.generation = 0

    def __iter__(self) -> Iterator[Registered]:
        return iter(list(self._open))

    def __len__(self) -> int:
        return len(self._open)

    def add(self, connection: Registered) -> None:
        connection.generation = self.generation
        self._open.add(connection)

    def discard(self, connection: Registered) -> None:
        self._open.discard(connection)

    def open_count(self) -> int:
        """Connections open now that were accepted since the last reset."""
        generation = self.generation
        return sum(1 for c in list(self._open) if c.generation == generation)

    def new_generation(self) -> None:
        self.generation += 1

    async def close_all(self, timeout: float) -> None:
        """Close every connection, wait up to ``timeout`` seconds for them to finish, then
        abort what is left (and wait a little more for those)."""
        for connection in list(self._open):
            connection.shutdown(abort=False)
        pending = [c.done for c in self._open]
        if not pending:
            return
        _, still = await asyncio.wait(pending, timeout=timeout)
        if still:
            for connection in list(self._open):
                connection.shutdown(abort=True)
            await asyncio.wait(still, timeout=1.0)
