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
from dataclasses import dataclass, field, replace
from typing import Any

from ._auth import AuthPolicy
from ._handshake import Handshake
from ._hosts import HostMap, Unresolvable, map_destination
from ._protocol import AddressType, address_type_for
from ._recording import LiveRecord, Outcome, Recorder
from ._relay import RelaySide

__all__ = ["Engine", "EngineConfig"]


@dataclass(frozen=True, kw_only=True)
class EngineConfig:
    """Behaviour that can change between tests without rebinding the listener."""

    auth: AuthPolicy = field(default_factory=AuthPolicy)
    connect_timeout: float = 10.0
    handshake_timeout: float | None = 30.0
    socks4: bool = True
    host_map: HostMap = field(default_factory=dict)
    # -- issue 8: limits --
    #: Seconds a tunnel may move no byte either way before it is closed.
    idle_timeout: float | None = None
    #: Connections open at once; one more is closed at accept and recorded.
    max_connections: int | None = None

    def __post_init__(self) -> None:
        if self.idle_timeout is not None and not self.idle_timeout > 0:
            raise ValueError(f"idle_timeout must be None or > 0, got {self.idle_timeout!r}")
        if self.max_connections is not None and self.max_connections < 0:
            raise ValueError(f"max_connections must be None or >= 0, got {self.max_connections!r}")

    def with_changes(self, **changes: Any) -> EngineConfig:
        return replace(self, **changes)


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
        self.sockets: list[tuple[str, int]] = []
        self._servers: list[asyncio.Server] = []
        self._active: set[Handshake] = set()
        self._loop: asyncio.AbstractEventLoop | None = None

    # -- lifecycle ---------------------------------------------------------------

    async def start(self) -> None:
        """Bind every listener (all on one port) and start accepting."""
        self._loop = asyncio.get_running_loop()
        port = self.requested_port
        for host in self.hosts:
            server = await self._loop.create_server(
                lambda: Handshake(self),
                host=host,
                port=port,
                backlog=self.backlog,
                reuse_address=True,
                family=socket.AF_INET6 if ":" in host else socket.AF_INET,
            )
            self._servers.append(server)
            sockname = server.sockets[0].getsockname()
            port = sockname[1]
            self.sockets.append((sockname[0], sockname[1]))

    async def stop(self, timeout: float = 2.0) -> None:
        """Stop accepting, close every connection (flushing what is queued), wait up to
        ``timeout`` seconds for them to finish, then abort what is left."""
        for server in self._servers:
            server.close()
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

    def report_error(self, record: LiveRecord | None) -> str:
        """Keep the traceback of an unexpected exception so the test that caused it fails."""
        text = traceback.format_exc()
        self.errors.append(text)
        if record is not None:
            record.end(Outcome.INTERNAL_ERROR, closed_by="server", error=text)
        return text

    # -- dialling ------------------------------------------------------------------

    async def dial(self, host: str, port: int, handshake: Handshake) -> RelaySide:
        """Map, resolve (domain names only) and connect; raise the last error if all fail."""
        loop = asyncio.get_running_loop()
        try:
            host, port = map_destination(handshake.config.host_map, host, port)
        except Unresolvable as exc:
            raise socket.gaierror(socket.EAI_NONAME, str(exc)) from None
        if address_type_for(host) is AddressType.DOMAIN:
            try:
                infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
            except UnicodeError as exc:  # IDNA refuses it ("a..b", a 64-byte label, U+202E)
                raise socket.gaierror(
                    socket.EAI_NONAME, f"{host!r} is not a valid host name: {exc}"
                ) from None
            targets = [(int(info[0]), str(info[4][0])) for info in infos]
        else:
            targets = [(int(socket.AF_INET6 if ":" in host else socket.AF_INET), host)]
        error: BaseException | None = None
        make_side = functools.partial(RelaySide, handshake.record, "upstream")
        for family, ip in targets:
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
