"""``SOCKS5Server``: the public handle on the engine, hosted on its own thread or in the
caller's event loop.

Strategy: :class:`~pytest_socks5._engine.Engine` is pure asyncio and runs in any loop.
For sync tests (and for async tests whose loop must not be blocked or shared) the server
starts a private loop on a daemon thread; ``async with SOCKS5Server()`` instead runs the
engine in the caller's own loop, with no thread at all. Everything a test calls from its
own thread — records, configuration, assertions — is thread-safe.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import warnings
from collections.abc import Callable, Coroutine, Iterable, Iterator, Mapping
from types import TracebackType
from typing import Any, Self

from ._auth import AuthPolicy, Validator
from ._engine import Engine, EngineConfig
from ._hosts import HostMap
from ._recording import ConnectionRecord, NoMatchingConnection, Recorder, check_criteria
from ._url import proxy_url
from .faults import Fault

__all__ = ["SOCKS5Server", "ServerError"]

#: ``host="localhost"`` (or ``"dual"``) listens on both loopback addresses, one port.
_DUAL_STACK = ("127.0.0.1", "::1")
_LOOPBACK = {"127.0.0.1", "::1", "localhost", "dual"}


class ServerError(RuntimeError):
    """Raised when the server had an internal error (a bug in pytest-socks5)."""


Users = Mapping[str, str] | Mapping[bytes, bytes] | Iterable[tuple[str, str]]


class SOCKS5Server:
    """A SOCKS5 (RFC 1928) proxy with RFC 1929 authentication and SOCKS 4/4a.

    :param host: address to listen on. ``"127.0.0.1"`` (default), ``"::1"``, or
        ``"localhost"`` for both loopback addresses on one port.
    :param port: port to listen on; ``0`` picks a free one.
    :param users: accepted ``{username: password}`` pairs. With users (or a
        ``validator``) the server requires username/password authentication.
    :param validator: a callable ``(username, password) -> bool`` deciding on
        credentials not found in ``users``.
    :param connect_timeout: seconds allowed for resolving and connecting upstream;
        beyond it the reply is REP 0x06 (TTL expired).
    :param handshake_timeout: seconds a client has from accept to a complete request;
        ``None`` for no limit.
    :param socks4: also accept SOCKS 4 and 4a on the same port.
    :param host_map: ``{name or "name:port": "address[:port]" or None}``: dial a local
        address for a requested name; ``None`` makes a name unresolvable (REP 0x04)
        without any DNS lookup.
    :param faults: faults to apply from the start (see :mod:`pytest_socks5.faults`).
    :param seed: seeds the RNG of faults with a ``probability``, so runs replay exactly.
    :param on_connection_end: called (on the server's thread) with each finished record.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        users: Users | None = None,
        validator: Validator | None = None,
        connect_timeout: float = 10.0,
        handshake_timeout: float | None = 30.0,
        socks4: bool = True,
        host_map: HostMap | None = None,
        faults: Iterable[Fault] = (),
        seed: int = 0,
        backlog: int = 1024,
        on_connection_end: Callable[[ConnectionRecord], None] | None = None,
    ) -> None:
        if host not in _LOOPBACK and not host.startswith("127."):
            warnings.warn(
                f"SOCKS5Server listening on {host!r}: anyone who can reach it can use it "
                "as an open proxy",
                UserWarning,
                stacklevel=2,
            )
        self._listen_host = host
        self._hosts = _DUAL_STACK if host in ("localhost", "dual") else (host,)
        self._default_config = EngineConfig(
            auth=AuthPolicy.build(users, validator),
            connect_timeout=connect_timeout,
            handshake_timeout=handshake_timeout,
            socks4=socks4,
            host_map=dict(host_map or {}),
        )
        self._recorder = Recorder(on_end=on_connection_end)
        self._engine = Engine(
            self._hosts,
            port,
            config=self._default_config,
            recorder=self._recorder,
            backlog=backlog,
        )
        self._engine.faults.seed = seed
        self._default_faults = tuple(faults)
        for fault in self._default_faults:
            self._engine.faults.add(fault)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._owns_loop = False

    # -- lifecycle -----------------------------------------------------------------

    @property
    def is_running(self) -> bool:
        """Whether the server is started and not yet stopped."""
        return self._loop is not None

    def start(self, *, timeout: float = 10.0) -> Self:
        """Start on a private event loop in a daemon thread; return once bound."""
        if self._loop is not None:
            raise RuntimeError("the server is already running")
        loop = asyncio.new_event_loop()
        ready = threading.Event()

        def run() -> None:
            asyncio.set_event_loop(loop)
            loop.call_soon(ready.set)
            loop.run_forever()

        thread = threading.Thread(
            target=run, name=f"pytest-socks5 {self._listen_host}", daemon=True
        )
        thread.start()
        ready.wait(timeout)
        try:
            asyncio.run_coroutine_threadsafe(self._engine.start(), loop).result(timeout)
        except BaseException:
            self._stop_loop(loop, thread)
            raise
        self._loop, self._thread, self._owns_loop = loop, thread, True
        return self

    def stop(self, *, timeout: float = 2.0) -> None:
        """Stop accepting, close every connection (queued bytes are flushed), wait up to
        ``timeout`` seconds, abort what is left, and end the thread. Idempotent."""
        loop, thread = self._loop, self._thread
        if loop is None:
            return
        if not self._owns_loop:
            raise RuntimeError("this server runs in an event loop: use 'await server.aclose()'")
        self._loop = None
        try:
            asyncio.run_coroutine_threadsafe(self._engine.stop(timeout), loop).result(timeout + 5)
        finally:
            assert thread is not None
            self._stop_loop(loop, thread)

    @staticmethod
    def _stop_loop(loop: asyncio.AbstractEventLoop, thread: threading.Thread) -> None:
        async def drain() -> None:
            await loop.shutdown_asyncgens()
            await loop.shutdown_default_executor()

        with_timeout = asyncio.run_coroutine_threadsafe(drain(), loop)
        try:
            with_timeout.result(5)
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(5)
            loop.close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    async def astart(self) -> Self:
        """Start in the running asyncio event loop (no thread).

        The server is built on asyncio: under trio there is no asyncio loop to run in,
        and ``with SOCKS5Server()`` (or the fixtures) runs it on a thread of its own.
        """
        if self._loop is not None:
            raise RuntimeError("the server is already running")
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            raise RuntimeError(
                "'async with SOCKS5Server()' runs the server in the running asyncio event "
                "loop, and there is none (trio?): use 'with SOCKS5Server()' or the "
                "socks5_server fixture, which run it on a thread of its own"
            ) from None
        await self._engine.start()
        self._loop, self._owns_loop = loop, False
        return self

    async def aclose(self, *, timeout: float = 2.0) -> None:
        """Stop a server started with :meth:`astart` (or ``async with``)."""
        if self._loop is None:
            return
        if self._owns_loop:
            await asyncio.to_thread(self.stop, timeout=timeout)
            return
        self._loop = None
        await self._engine.stop(timeout)

    async def __aenter__(self) -> Self:
        return await self.astart()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    # -- addresses -----------------------------------------------------------------

    @property
    def host(self) -> str:
        """The host clients should use: the listen address (``localhost`` for dual-stack)."""
        return self._listen_host if self._listen_host != "dual" else "localhost"

    @property
    def port(self) -> int:
        """The bound port (the same on every listener of a dual-stack server)."""
        if not self._engine.sockets:
            raise RuntimeError("the server is not started yet")
        return self._engine.sockets[0][1]

    @property
    def address(self) -> tuple[str, int]:
        """``(host, port)``."""
        return (self.host, self.port)

    @property
    def listen_addresses(self) -> list[tuple[str, int]]:
        """Every bound socket address (two for a dual-stack server)."""
        return list(self._engine.sockets)

    def url_for(
        self, scheme: str = "socks5", *, username: str | None = None, password: str | None = None
    ) -> str:
        """A proxy URL with the given scheme and credentials (percent-encoded)."""
        return proxy_url(self.host, self.port, scheme=scheme, username=username, password=password)

    @property
    def url(self) -> str:
        """``socks5://[user:password@]host:port``: by convention the client resolves
        names itself (requests, curl); some clients (httpx) send names anyway.

        With users configured, the first user's credentials are included.
        """
        return self._url("socks5")

    @property
    def url_remote_dns(self) -> str:
        """``socks5h://…`` — the client sends names to the proxy to resolve."""
        return self._url("socks5h")

    def _url(self, scheme: str) -> str:
        user = self._engine.config.auth.first_user()
        if user is None:
            return self.url_for(scheme)
        return self.url_for(scheme, username=user[0], password=user[1])

    # -- configuration ----------------------------------------------------------------

    def configure(
        self,
        *,
        users: Users | None = None,
        validator: Validator | None = None,
        **options: Any,
    ) -> None:
        """Change behaviour for new connections (``users``, ``validator``,
        ``connect_timeout``, ``handshake_timeout``, ``socks4``, ``host_map``) without
        rebinding."""
        config = self._engine.config
        if users is not None or validator is not None:
            options["auth"] = AuthPolicy.build(users, validator)
        known = {"auth", "connect_timeout", "handshake_timeout", "socks4", "host_map"}
        unknown = set(options) - known
        if unknown:
            raise TypeError(f"unknown option(s) for SOCKS5Server.configure: {sorted(unknown)}")
        self._engine.config = config.with_changes(**options)

    def reset(self) -> None:
        """Forget records, errors and added faults, come back up if down, and restore the
        configuration given at construction.

        Record ``id`` numbers keep counting, so an id is unique for the server's life.
        """
        self._engine.config = self._default_config
        self._engine.faults.clear()
        for fault in self._default_faults:
            self._engine.faults.add(fault)
        if self._engine.is_down:
            self.up()
        self._recorder.clear()
        self._engine.errors.clear()

    # -- faults ---------------------------------------------------------------------

    def add_fault(self, fault: Fault) -> Fault:
        """Apply ``fault`` to new connections it matches, until removed; return it.

        Thread-safe, and takes effect at once (a connection already past the fault's
        phase is not affected).
        """
        return self._engine.faults.add(fault)

    def remove_fault(self, fault: Fault) -> None:
        """Stop applying ``fault`` (no error if it is not there)."""
        self._engine.faults.remove(fault)

    def clear_faults(self) -> None:
        """Remove every fault, including those given at construction."""
        self._engine.faults.clear()

    @property
    def faults(self) -> tuple[Fault, ...]:
        """The faults currently applied, in the order they were added."""
        return self._engine.faults.faults

    @contextlib.contextmanager
    def fault(self, fault: Fault) -> Iterator[Fault]:
        """``with server.fault(Stall(at="reply")):`` applies the fault inside the block."""
        self.add_fault(fault)
        try:
            yield fault
        finally:
            self.remove_fault(fault)

    def down(self) -> contextlib.AbstractContextManager[None]:
        """Refuse new connections (clients see "connection refused") while keeping the
        port reserved, until :meth:`up` — or use it as ``with server.down(): …``.
        Open connections are not touched."""
        self._call(self._engine.go_down())
        return _Upper(self)

    def up(self) -> None:
        """Accept connections again after :meth:`down`."""
        self._call(self._engine.go_up())

    @property
    def is_down(self) -> bool:
        return self._engine.is_down

    def _call(self, coro: Coroutine[Any, Any, None]) -> None:
        loop = self._loop
        if loop is None:
            coro.close()
            raise RuntimeError("the server is not running")
        if not self._owns_loop:
            raise RuntimeError("this server runs in your event loop: await its engine instead")
        asyncio.run_coroutine_threadsafe(coro, loop).result(10)

    @property
    def users(self) -> dict[str, str]:
        """The configured users, as text."""
        return {
            n.decode("utf-8", "surrogateescape"): p.decode("utf-8", "surrogateescape")
            for n, p in self._engine.config.auth.users
        }

    @property
    def errors(self) -> list[str]:
        """Tracebacks of internal errors since the last :meth:`reset`."""
        return list(self._engine.errors)

    def raise_errors(self) -> None:
        """Raise :class:`ServerError` if the server had an internal error."""
        if self._engine.errors:
            raise ServerError(
                "pytest-socks5 had an internal error:\n" + "\n".join(self._engine.errors)
            )

    # -- records and assertions -----------------------------------------------------

    @property
    def connections(self) -> list[ConnectionRecord]:
        """A snapshot of every connection since the last reset, in accept order."""
        return list(self._recorder.snapshot())

    def find_connections(self, **criteria: Any) -> list[ConnectionRecord]:
        """Records matching every criterion: a field name with an exact value, a glob
        (``host="*.example.test"``) or a predicate (``port=lambda p: p > 1024``)."""
        return self._recorder.find(**criteria)

    def wait_for_connections(
        self, count: int = 1, *, timeout: float = 5.0, ended: bool = False, **criteria: Any
    ) -> list[ConnectionRecord]:
        """Block until ``count`` matching connections exist (``ended=True``: and closed)."""
        __tracebackhide__ = True
        return self._recorder.wait_for(count, timeout=timeout, ended=ended, **criteria)

    def assert_connected(self, *, count: int | None = None, **criteria: Any) -> ConnectionRecord:
        """Assert a connection matching ``criteria`` was made (exactly ``count`` of them if
        given); return the first. On failure, list what did connect, closest first."""
        __tracebackhide__ = True
        found = self._recorder.find(**criteria)
        if found and (count is None or len(found) == count):
            return found[0]
        want = "a connection" if count is None else f"exactly {count} connection(s)"
        where = ", ".join(f"{k}={v!r}" for k, v in criteria.items()) or "anything"
        got = f" (found {len(found)})" if found else ""
        raise NoMatchingConnection(
            f"expected {want} matching {where}{got}\n{self._recorder.explain(criteria)}"
        )

    def assert_not_connected(self, **criteria: Any) -> None:
        """Assert no connection matches ``criteria``."""
        __tracebackhide__ = True
        found = self._recorder.find(**criteria)
        if found:
            where = ", ".join(f"{k}={v!r}" for k, v in criteria.items())
            raise NoMatchingConnection(
                f"expected no connection matching {where}, found {len(found)}\n"
                + self._recorder.explain(criteria)
            )

    def assert_no_connections(self) -> None:
        """Assert nothing connected to the proxy at all."""
        __tracebackhide__ = True
        check_criteria({})
        if self._recorder.snapshot():
            raise NoMatchingConnection("expected no connections\n" + self._recorder.explain({}))

    def __repr__(self) -> str:
        state = self.url if self._engine.sockets and self.is_running else "not running"
        return f"<SOCKS5Server {state}>"


class _Upper(contextlib.AbstractContextManager[None]):
    """What ``with server.down():`` exits through: brings the server back up."""

    def __init__(self, server: SOCKS5Server) -> None:
        self.server = server

    def __exit__(self, *exc: object) -> None:
        if self.server.is_running and self.server.is_down:
            self.server.up()
