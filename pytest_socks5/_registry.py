"""Which connections are open, and closing them all when the server stops or resets.

Strategy: the registry is the one owner of the set of open connections. A connection adds
itself when it is accepted and leaves when its record is settled and its socket closed;
the engine asks the registry how many are open (``max_connections``) and has it close
them all on :meth:`~pytest_socks5._engine.Engine.stop` — first gracefully, then, after
the grace period, with RST — or, at a server reset, those an earlier test left open.
Connections closed at accept (over the limit, or accepted while the server stops) are
held too, uncounted, so that a stop waits for their sockets as well. Once a stop has
begun the registry is ``closing``: a connection accepted after that closes at once. It
knows a connection only by the few things it needs of it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from typing import Protocol

__all__ = ["ConnectionRegistry", "Registered"]

_Which = Callable[["Registered"], bool]


class Registered(Protocol):
    """What the registry needs of a connection."""

    #: The registry's generation when the connection was accepted.
    generation: int
    #: Resolved once the connection is over and its record settled.
    done: asyncio.Future[None]

    def shutdown(self, *, abort: bool, error: str | None = None) -> None:
        """Close for a server stop (or reset, which ``error`` explains): FIN (flushing
        what is queued), or RST."""


class ConnectionRegistry:
    """The open connections of one engine."""

    def __init__(self) -> None:
        self._open: set[Registered] = set()
        #: Closed at accept, not yet gone: waited for by a stop, never counted.
        self._ending: set[Registered] = set()
        #: Bumped on every server reset: connections left open by an earlier test do not
        #: count towards this test's ``max_connections``.
        self.generation = 0
        #: A stop has begun: a connection accepted now is closed at once.
        self.closing = False

    def __iter__(self) -> Iterator[Registered]:
        return iter(list(self._open))

    def __len__(self) -> int:
        return len(self._open)

    def add(self, connection: Registered, *, counted: bool = True) -> None:
        """Hold ``connection`` until :meth:`discard`; ``counted=False`` for one closed at
        accept (not open for ``max_connections``, not shut down, but waited for)."""
        connection.generation = self.generation
        (self._open if counted else self._ending).add(connection)

    def discard(self, connection: Registered) -> None:
        self._open.discard(connection)
        self._ending.discard(connection)

    def open_count(self) -> int:
        """Connections open now that were accepted since the last reset."""
        generation = self.generation
        return sum(1 for c in list(self._open) if c.generation == generation)

    def new_generation(self) -> None:
        self.generation += 1

    async def close_all(self, timeout: float) -> None:
        """Close every connection, wait up to ``timeout`` seconds for them to finish, then
        abort what is left (and wait a little more for those)."""
        self.closing = True
        await self._end(lambda c: True, timeout, None)

    async def end_earlier(self, timeout: float, error: str) -> None:
        """Close the connections accepted before the current generation (left open by an
        earlier test), recorded with ``error``, as :meth:`close_all` does."""
        await self._end(self._earlier(), timeout, error)

    def shut_down_earlier(self, error: str, grace: float) -> None:
        """:meth:`end_earlier` without waiting (on the loop, which must not block): FIN
        to each now, RST to those still open ``grace`` seconds later."""
        earlier = self._earlier()
        for connection in [c for c in self._open if earlier(c)]:
            connection.shutdown(abort=False, error=error)

        def abort_the_rest() -> None:
            for connection in [*self._open, *self._ending]:
                if earlier(connection):
                    connection.shutdown(abort=True, error=error)

        asyncio.get_running_loop().call_later(grace, abort_the_rest)

    def _earlier(self) -> _Which:
        generation = self.generation
        return lambda c: c.generation < generation

    async def _end(self, which: _Which, timeout: float, error: str | None) -> None:
        chosen = [c for c in self._open if which(c)]
        for connection in chosen:
            connection.shutdown(abort=False, error=error)
        if await self._settled(which, timeout):
            return
        for connection in [*self._open, *self._ending]:
            if which(connection):
                connection.shutdown(abort=True, error=error)
        await self._settled(which, 1.0)

    def _pending(self, which: _Which) -> list[asyncio.Future[None]]:
        held = [*self._open, *self._ending]
        return [c.done for c in held if which(c) and not c.done.done()]

    async def _settled(self, which: _Which, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds until no chosen connection is held, including
        any accepted meanwhile; whether none is."""
        deadline = time.monotonic() + timeout
        while pending := self._pending(which):
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            await asyncio.wait(pending, timeout=left, return_when=asyncio.FIRST_COMPLETED)
            await asyncio.sleep(0)  # let a finished connection's socket close and leave
        return True
