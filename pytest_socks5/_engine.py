"""The server's lifecycle: listeners, accept, dial, graceful shutdown.

Strategy: :class:`Engine` is plain asyncio and runs in whatever loop calls :meth:`start`
(the server's private thread, or the caller's own loop). Each accepted connection gets a
:class:`~pytest_socks5._handshake.Handshake`; the tunnel itself lives in ``_relay.py``.
Policy (auth, host mapping, dial errors, records) comes from the pure modules beside
this one; :class:`EngineConfig` holds the part that may change between tests, swapped
atomically so each connection sees one consistent configuration.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import socket
import traceback

from ._config import EngineConfig
from ._fault_set import FaultSet
from ._handshake import Handshake
from ._protocol import AddressType, address_type_for
from ._recording import LiveRecord, Outcome, Recorder
from ._relay import RelaySide

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
        self.config = config
        self.recorder = recorder
        self.backlog = backlog
        self.errors: list[str] = []
        self.faults = FaultSet()
        self._placeholders: list[socket.socket] = []
        self.sockets: list[tuple[str, int]] = []
        self._servers: list[asyncio.Server] = []
        self._active: set[Handshake] = set()
        #: Bumped by SOCKS5Server.reset(): connections left open by an earlier test do
        #: not count towards this test's max_connections.
        self.generation = 0
        self._loop: asyncio.AbstractEventLoop | None = None

    # -- lifecycle ---------------------------------------------------------------

    async def start(self) -> None:
        """Bind every listener (all on one port) and start accepting."""
        self._loop = asyncio.get_running_loop()
        port = self.requested_port
        for host in self.hosts:
            server = await self._listen(host, port)
            sockname = server.sockets[0].getsockname()
            port = sockname[1]
            self.sockets.append((sockname[0], sockname[1]))

    def open_connections(self) -> int:
        """Connections open now that were accepted since the last reset."""
        generation = self.generation
        return sum(1 for h in list(self._active) if h.generation == generation)

    async def _listen(self, host: str, port: int) -> asyncio.Server:
        server = await asyncio.get_running_loop().create_server(
            lambda: Handshake(self),
            host=host,
            port=port,
            backlog=self.backlog,
            reuse_address=True,
            family=socket.AF_INET6 if ":" in host else socket.AF_INET,
        )
        self._servers.append(server)
        return server

    async def stop(self, timeout: float = 2.0) -> None:
        """Stop accepting, close every connection (flushing what is queued), wait up to
        ``timeout`` seconds for them to finish, then abort what is left."""
        for server in self._servers:
            server.close()
        for holder in self._placeholders:
            holder.close()
        self._placeholders.clear()
        for handshake in list(self._active):
            handshake.shutdown(abort=False)
        pending = [h.done for h in self._active]
        if pending:
            _, still = await asyncio.wait(pending, timeout=timeout)
            if still:
                for handshake in list(self._active):
                    handshake.shutdown(abort=True)
                await asyncio.wait(still, timeout=1.0)
        for server in self._servers:
            # Python 3.12+ waits here for every accepted connection; all were aborted
            # above, but a bounded wait keeps teardown bounded whatever asyncio does.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(1.0):
                    await server.wait_closed()
        self._servers.clear()

    @property
    def is_down(self) -> bool:
        return bool(self._placeholders)

    async def go_down(self) -> None:
        """Refuse new connections (RST, as a closed port) but keep the port reserved:
        the listeners close and a bound, non-listening socket holds each address."""
        if self._placeholders:
            return
        for server in self._servers:
            server.close()
        self._servers.clear()
        for host, port in self.sockets:
            family = socket.AF_INET6 if ":" in host else socket.AF_INET
            holder = socket.socket(family, socket.SOCK_STREAM)
            holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            holder.bind((host, port))
            self._placeholders.append(holder)

    async def go_up(self) -> None:
        """Accept connections again on the same port(s) after :meth:`go_down`."""
        if not self._placeholders:
            return
        for holder in self._placeholders:
            holder.close()
        self._placeholders.clear()
        for host, port in self.sockets:
            await self._listen(host, port)

    def report_error(self, record: LiveRecord | None) -> str:
        """Keep the traceback of an unexpected exception so the test that caused it fails."""
        text = traceback.format_exc()
        self.errors.append(text)
        if record is not None:
            record.end(Outcome.INTERNAL_ERROR, closed_by="server", how="error", error=text)
        return text

    # -- dialling ------------------------------------------------------------------

    # The three methods below are the only places where the proxy reaches out; tests
    # replace them on an instance to prove that a refused destination is never dialled.

    async def resolve(self, host: str, port: int, kind: int) -> list[tuple[int, str]]:
        """``(family, address)`` pairs for ``host`` (looked up only if it is a name)."""
        if address_type_for(host) is not AddressType.DOMAIN:
            return [(int(socket.AF_INET6 if ":" in host else socket.AF_INET), host)]
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=kind)
        except UnicodeError as exc:  # IDNA refuses it ("a..b", a 64-byte label, U+202E)
            raise socket.gaierror(
                socket.EAI_NONAME, f"{host!r} is not a valid host name: {exc}"
            ) from None
        return [(int(info[0]), str(info[4][0])) for info in infos]

    def send_datagram(self, sock: socket.socket, data: bytes, address: tuple[str, int]) -> None:
        """Send one UDP datagram to a destination (the UDP relay's only way out).

        ``sock`` is the relay's non-blocking upstream socket. It is written directly
        rather than through its asyncio transport, which (before Python 3.13) silently
        skips empty datagrams; an :exc:`OSError` means the datagram is lost.
        """
        sock.sendto(data, address)

    async def dial(self, host: str, port: int, handshake: Handshake) -> RelaySide:
        """Resolve (domain names only) and connect to a destination that ``host_map`` and
        the rules have already passed; raise the last error if every address fails."""
        loop = asyncio.get_running_loop()
        targets = await self.resolve(host, port, socket.SOCK_STREAM)
        error: BaseException | None = None
        make_side = functools.partial(RelaySide, handshake.record, "upstream")
        for family, ip in targets:
            handshake.record.dialled.append((ip, port))
            try:
                _, side = await loop.create_connection(
                    make_side, host=ip, port=port, family=family
                )
            except OSError as exc:
                error = exc
                continue
            return side
        assert error is not None
        raise error
