"""The server's lifecycle: listeners, accept, graceful shutdown.

Strategy: :class:`Engine` is plain asyncio and runs in whatever loop calls :meth:`start`
(the server's private thread, or the caller's own loop). Each accepted socket becomes a
:class:`~pytest_socks5._connection.ClientConnection` served by the front ends
(``_frontends.py``); what the connections share — configuration, faults, records, the
registry of open connections and the dialler — is one
:class:`~pytest_socks5._context.ServerContext`. The configuration is a frozen value
swapped atomically, so each connection sees one consistent configuration.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Callable, Coroutine
from typing import Any

from ._config import EngineConfig
from ._connection import ClientConnection
from ._context import ServerContext
from ._dialler import Dialler
from ._fault_set import FaultSet
from ._frontends import serve_client
from ._recorder import LiveRecord, Recorder
from ._registry import ConnectionRegistry
from ._selector_paths import Listener, listen, listening, serves_selectors

__all__ = ["Engine"]


class Engine:
    """The asyncio server; runs in whatever event loop calls :meth:`start`."""

    def __init__(
        self,
        hosts: tuple[str, ...],
        port: int,
        *,
        config: EngineConfig,
        recorder: Recorder,
        backlog: int = 1024,
    ) -> None:
        self.hosts = hosts
        self.requested_port = port
        self.backlog = backlog
        self.context: ServerContext[ClientConnection] = ServerContext(
            config=config, recorder=recorder, serve=serve_client
        )
        self._placeholders: list[socket.socket] = []
        self.sockets: list[tuple[str, int]] = []
        self._servers: list[asyncio.Server | Listener] = []
        self._unserved: list[socket.socket] = []

    # -- what the connections share ------------------------------------------------

    @property
    def config(self) -> EngineConfig:
        return self.context.config

    @config.setter
    def config(self, config: EngineConfig) -> None:
        self.context.config = config

    @property
    def recorder(self) -> Recorder:
        return self.context.recorder

    @property
    def faults(self) -> FaultSet:
        return self.context.faults

    @property
    def errors(self) -> list[str]:
        return self.context.errors

    @property
    def registry(self) -> ConnectionRegistry:
        return self.context.registry

    @property
    def dialler(self) -> Dialler:
        return self.context.dialler

    @property
    def generation(self) -> int:
        """Bumped by a server reset: connections left open by an earlier test do not
        count towards this test's ``max_connections``."""
        return self.context.registry.generation

    @generation.setter
    def generation(self, value: int) -> None:
        self.context.registry.generation = value

    def open_connections(self) -> int:
        """Connections open now that were accepted since the last reset."""
        return self.context.registry.open_count()

    def report_error(self, record: LiveRecord | None) -> str:
        """Keep the traceback of an unexpected exception so the test that caused it fails."""
        return self.context.report_error(record)

    # -- lifecycle ---------------------------------------------------------------

    async def start(self, port: int | None = None) -> None:
        """Bind every listener (all on one port: ``port``, by default the one asked for at
        construction) and start accepting. If one cannot be bound, those bound are closed
        and the error raised; a restart after :meth:`stop` forgets the old addresses."""
        self.context.registry.closing = False  # a restart after stop()
        self.sockets = []
        port = self.requested_port if port is None else port
        try:
            for host in self.hosts:
                server = await self._listen(host, port)
                sockname = server.sockets[0].getsockname()
                port = sockname[1]
                self.sockets.append((sockname[0], sockname[1]))
        except BaseException:
            await self._close_listeners()
            self._servers.clear()
            self.sockets = []
            raise
        self.recorder.serving(True)

    def _factory(self, loop: asyncio.AbstractEventLoop) -> Callable[[], ClientConnection]:
        context = self.context

        def new_connection() -> ClientConnection:
            return ClientConnection(context, loop)

        return new_connection

    async def _listen(self, host: str, port: int) -> asyncio.Server | Listener:
        loop = asyncio.get_running_loop()
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        new_connection = self._factory(loop)
        if serves_selectors(loop):  # asyncio's own: a transport at accept, no task
            listeners = await listen(loop, host, port, family, new_connection, self.backlog)
            self._servers.extend(listeners)
            return listeners[0]
        server = await loop.create_server(
            new_connection,
            host=host,
            port=port,
            backlog=self.backlog,
            reuse_address=True,
            family=family,
        )
        self._servers.append(server)
        return server

    async def stop(self, timeout: float = 2.0) -> None:
        """Stop accepting, close every connection (flushing what is queued), wait up to
        ``timeout`` seconds for them to finish, then abort what is left. A connection
        accepted while this runs is closed at once."""
        self.context.registry.closing = True
        self.context.checkpoints.close()  # held connections are closed with the rest
        for holder in [*self._placeholders, *self._unserved]:  # before any await: an up()
            holder.close()  # not served yet must not be served now (_serve skips it)
        self._placeholders.clear()
        self._unserved = []
        await self._close_listeners()
        await self.context.registry.close_all(timeout)
        for server in self._servers:
            server.close()  # again: one _serve added after _close_listeners, too
            # Python 3.12+ waits here for every accepted connection; all were aborted
            # above, but a bounded wait keeps teardown bounded whatever asyncio does.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(1.0):
                    await server.wait_closed()
        self._servers.clear()
        self.recorder.serving(False)  # every record has ended

    async def _close_listeners(self) -> None:
        """Close the listeners, then let the connections accepted a moment before
        register, so that whoever closes connections next sees them. (Each listener
        makes a socket's transport at accept, so closing one loses no accepted socket:
        uvloop's do, and ``_selector_paths`` does on asyncio's own loop.)"""
        for server in self._servers:
            server.close()
        await asyncio.sleep(0)

    @property
    def is_down(self) -> bool:
        return bool(self._placeholders)

    def go_down(self) -> None:
        """Refuse new connections (RST, as a closed port) but keep the port reserved:
        the listeners close and a bound, non-listening socket holds each address. At
        once, on the loop's thread (a hook may call it)."""
        if self._placeholders:
            return
        for server in self._servers:
            server.close()
        self._servers.clear()
        for sock in self._unserved:  # listening since go_up, not served yet
            sock.close()
        self._unserved = []
        for host, port in self.sockets:
            family = socket.AF_INET6 if ":" in host else socket.AF_INET
            holder = socket.socket(family, socket.SOCK_STREAM)
            holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            holder.bind((host, port))
            self._placeholders.append(holder)

    def go_up(self) -> Coroutine[Any, Any, None] | None:
        """Listen again on the same port(s) after :meth:`go_down`, at once, on the loop's
        thread: a client that connects now waits in the backlog until the socket is
        served. On asyncio's own loop it is served now too; elsewhere (uvloop) the
        coroutine returned serves it."""
        if not self._placeholders:
            return None
        for holder in self._placeholders:
            holder.close()
        self._placeholders.clear()
        loop = asyncio.get_running_loop()
        socks = [listening(host, port, self.backlog) for host, port in self.sockets]
        if serves_selectors(loop):
            factory = self._factory(loop)
            self._servers.extend(Listener(loop, s, factory, self.backlog) for s in socks)
            return None
        self._unserved = socks
        return self._serve(socks)

    async def _serve(self, socks: list[socket.socket]) -> None:
        loop = asyncio.get_running_loop()
        for sock in socks:
            if sock.fileno() != -1:  # not closed by a go_down since
                server = await loop.create_server(
                    self._factory(loop), sock=sock, backlog=self.backlog
                )
                self._servers.append(server)
        self._unserved = [s for s in self._unserved if s not in socks]
