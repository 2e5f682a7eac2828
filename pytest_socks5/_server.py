"""``SOCKS5Server``: the public handle on the engine, hosted on its own thread or in the
caller's event loop.

Strategy: :class:`~pytest_socks5._engine.Engine` is pure asyncio and runs in any loop.
For sync tests (and for async tests whose loop must not be blocked or shared) the server
starts a private loop on a daemon thread (:mod:`._runner`); ``async with SOCKS5Server()``
instead runs the engine in the caller's own loop, with no thread at all. Everything a test
calls from its own thread — records, configuration, assertions — is thread-safe. Options
are read, checked and normalised through the table in :mod:`._options`.
"""

from __future__ import annotations

import asyncio
import contextlib
import warnings
from collections.abc import Callable, Coroutine
from types import TracebackType
from typing import Any, Self, Unpack

from ._assertions import RecordQueries
from ._checks import boolean, choice, number
from ._config import EngineConfig
from ._dry_run import Permission, dry_run
from ._engine import Engine
from ._environ import ProxyEnvironment, check_no_proxy
from ._fault_types import Fault
from ._guard import failure
from ._leak_queries import LeakQueries
from ._leaks import is_loopback
from ._option_parsers import resolve_loop
from ._option_types import RuntimeOptions, ServerOptions
from ._options import Site, check_names, config_values, defaults, normalise
from ._public import public
from ._recorder import Recorder
from ._runner import LoopThread, loop_factory
from ._server_addresses import ServerAddresses
from ._server_checkpoints import CheckpointMethods
from ._server_faults import FaultMethods

__all__ = ["SOCKS5Server"]

#: ``host="localhost"`` (or ``"dual"``) listens on both loopback addresses, one port.
_DUAL_STACK = ("127.0.0.1", "::1")
#: What a record ended by :meth:`SOCKS5Server.reset` says, and how long the FIN may take.
_RESET_ERROR = (
    "ended by the server's reset between tests (SOCKS5Server.reset()): "
    "an earlier test left it open"
)
_RESET_GRACE = 1.0
_START_TIMEOUT = number(above=0)
_STOP_TIMEOUT = number(low=0)
_ENV_SCHEME = choice("socks5", "http")


@public
class SOCKS5Server(ServerAddresses, RecordQueries, LeakQueries, CheckpointMethods, FaultMethods):
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
        ``None`` or ``0`` for no limit.
    :param socks4: also accept SOCKS 4 and 4a on the same port.
    :param host_map: ``{name or "name:port": "address[:port]", ECHO, Sink(…) or None}``:
        dial a local address for a requested name, or let the proxy itself play the
        destination (:data:`ECHO`, :class:`Sink`); ``None`` makes a name unresolvable
        (REP 0x04) without any DNS lookup. Names compare without case, a trailing dot or
        Unicode: ``bücher.example.test`` and ``xn--bcher-kva.example.test`` (what clients
        send) are one key; a key that has no IDNA form, or a value that is not an IP
        address or ``localhost`` (no other name is looked up), is a :class:`ValueError`.
    :param hermetic: refuse (REP 0x02, without any DNS lookup or dial) destinations that
        are neither loopback, ``localhost``, in ``host_map`` nor allowed by a rule.
    :param allow: patterns that are allowed anyway: host globs (``"*.example.com"``),
        networks (``"10.0.0.0/8"``), either with a port (``"example.com:443"``).
    :param rules: :class:`Rule` values, checked in order before ``allow`` and the
        hermetic default; the first that matches decides.
    :param bind_timeout: seconds a BIND waits for its incoming connection; beyond it the
        second reply is REP 0x06 (SOCKS 4: 0x5B).
    :param udp_faults: a :class:`UdpFaults` applied to every UDP association.
    :param socks4_user_ids: accept SOCKS 4 requests only with one of these ``USERID`` values
        (this also lets SOCKS 4 in on a server with ``users``).
    :param socks4_user_id_reply: the reply to a ``USERID`` not in ``socks4_user_ids``:
        ``Socks4Reply.REJECTED`` (0x5B, the default, as Dante answers),
        ``IDENTD_UNREACHABLE`` (0x5C) or ``IDENTD_MISMATCH`` (0x5D).
    :param faults: faults to apply from the start (see :mod:`pytest_socks5.faults`).
    :param loop: the event loop of the server's own thread: ``"auto"`` (the default:
        uvloop when it is installed, else asyncio's), ``"uvloop"`` or ``"asyncio"``.
        uvloop (``pip install pytest-socks5[fast]``) roughly doubles the handshake rate.
        Ignored by ``async with``, which uses the running loop.
    :param splice: relay tunnels that no transfer fault needs to see with Linux
        ``splice(2)`` (zero-copy; ignored where the OS lacks it).
    :param seed: seeds the RNG of faults with a ``probability``, so runs replay exactly.
    :param capture_payload: keep the first this many payload bytes each way in each
        record (``payload_from_client``, ``payload_to_client``); ``0`` (the default) keeps
        none and costs nothing. Captured connections use the ordinary relay even with
        ``splice``, which never brings the bytes into Python.
    :param on_connection_end: called (on the server's thread) with each finished record.
    :param idle_timeout: seconds an open tunnel (or a forwarded ``http://`` request)
        may move no byte either way before the server closes it
        (:attr:`Outcome.IDLE_TIMEOUT`); ``None`` (default) or ``0`` for no limit.
    :param max_connections: connections open at once; one more is closed at accept and
        recorded as :attr:`Outcome.CONNECTION_LIMIT`. ``None`` (default) for no limit.
    :param max_records: records kept; past it the oldest is dropped and counted in
        :attr:`dropped_records`. ``None`` for no limit.
    :param backlog: the listen backlog (default 1024): 0 to 2**31 - 1, the C int
        ``listen()`` takes; the kernel caps it at its own limit (``somaxconn`` on Linux).

    :ref:`The options table <options-table>` lists every option with its default and
    where else it may be given. An unknown name is a :class:`TypeError` that names the
    valid ones.
    """

    def __init__(
        self, host: str = "127.0.0.1", port: int = 0, **options: Unpack[ServerOptions]
    ) -> None:
        __tracebackhide__ = True  # a mistake's report starts at the caller's line
        check_names(options, Site.CONSTRUCTOR, context="SOCKS5Server(): unknown option(s)")
        values = normalise({**defaults(Site.CONSTRUCTOR), **options, "host": host, "port": port})
        both = host.lower().rstrip(".") in ("localhost", "dual")  # names: any case
        if not (both or is_loopback(host)):
            warnings.warn(
                f"SOCKS5Server listening on {host!r}: anyone who can reach it can use it "
                "as an open proxy",
                UserWarning,
                stacklevel=2,
            )
        self._listen_host = host.lower().rstrip(".") if both else host  # "dual": localhost
        self._hosts = _DUAL_STACK if both else (host,)
        self._default_config = EngineConfig(**config_values(values))
        self._recorder = Recorder(
            on_end=values["on_connection_end"], max_records=values["max_records"]
        )
        self._engine = Engine(
            self._hosts,
            port,
            config=self._default_config,
            recorder=self._recorder,
            backlog=values["backlog"],
        )
        self._engine.faults.seed = values["seed"]
        self._loop_name = resolve_loop(values["loop"])
        self._loop_factory = loop_factory(self._loop_name)
        self._default_faults: tuple[Fault, ...] = values["faults"]
        for fault in self._default_faults:
            self._engine.faults.add(fault)
        self._loop: asyncio.AbstractEventLoop | None = None
        #: The private loop's thread; ``None`` when running in the caller's loop.
        self._runner: LoopThread | None = None

    # -- lifecycle -----------------------------------------------------------------

    @property
    def is_running(self) -> bool:
        """Whether the server is started and not yet stopped."""
        return self._loop is not None

    def start(self, *, timeout: float = 10.0) -> Self:
        """Start on a private event loop in a daemon thread; return once bound."""
        _START_TIMEOUT("start(): timeout", timeout)
        if self._loop is not None:
            raise RuntimeError("the server is already running")
        runner = LoopThread(
            self._loop_factory, f"pytest-socks5 {self._listen_host}", self._loop_error
        )
        runner.wait_ready(timeout)
        try:
            runner.run(self._engine.start(), timeout)
        except BaseException as exc:
            runner.stop()
            if isinstance(exc, TimeoutError) and not str(exc):
                raise TimeoutError(f"the server did not start within {timeout:g}s") from None
            raise
        self._loop, self._runner = runner.loop, runner
        return self

    def _loop_error(self, exc: Exception) -> None:
        """An exception that reached the private loop's own handler: kept, to fail the
        test with (``errors``)."""
        self._engine.context.report_error(None, exc)

    def stop(self, *, timeout: float = 2.0) -> None:
        """Stop accepting, close every connection (queued bytes are flushed), wait up to
        ``timeout`` seconds, abort what is left, and end the thread. Idempotent."""
        _STOP_TIMEOUT("stop(): timeout", timeout)
        runner = self._runner
        if self._loop is None:
            return
        if runner is None:
            raise RuntimeError("this server runs in an event loop: use 'await server.aclose()'")
        self._loop = self._runner = None
        try:
            runner.run(self._engine.stop(timeout), timeout + 5)
        finally:
            runner.stop()

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
        self._loop, self._runner = loop, None
        return self

    async def aclose(self, *, timeout: float = 2.0) -> None:
        """Stop a server started with :meth:`astart` (or ``async with``)."""
        _STOP_TIMEOUT("aclose(): timeout", timeout)
        if self._loop is None:
            return
        if self._runner is not None:
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

    # -- configuration ----------------------------------------------------------------

    def configure(self, **options: Unpack[RuntimeOptions]) -> None:
        """Change behaviour for new connections without rebinding: any option that the
        :ref:`options table <options-table>` gives to ``configure()``. Each is checked at
        once; an unknown name is a :class:`TypeError` that names the valid ones. Only the
        options given change: ``configure(validator=f)`` keeps the users, and
        ``users=None`` removes them (the default: no users)."""
        __tracebackhide__ = True  # a mistake's report starts at the caller's line
        check_names(options, Site.CONFIGURE, context="configure(): unknown option(s)")
        changes = config_values(normalise(options), self._engine.config.auth)
        self._engine.config = self._engine.config.with_changes(**changes)

    def permits(
        self, host: str, port: int, *, command: str | int = "connect", user: str | None = None
    ) -> Permission:
        """What the rules and ``host_map`` would do with a request for ``host:port`` now:
        allowed or refused, which rule or default decided, and where ``host_map`` sends it.
        A dry run: nothing is dialled and no name is looked up. ``host`` is one
        destination (no glob; an IPv6 address without brackets); ``command`` a word as
        :class:`Rule` takes it (``"udp"``, ``"UDP_ASSOCIATE"``…) or a :class:`Command`."""
        return dry_run(self._engine.config, host, port, command, user)

    def reset(self) -> None:
        """End the connections still open, forget records, errors, gates, hooks and added
        faults, come back up if down, and restore the configuration given at construction.

        A connection still open is closed (FIN, then RST after a second) and recorded as
        :attr:`Outcome.SERVER_STOPPED` with an ``error`` saying the reset ended it, so
        that one test's stalled connection never runs into the next; ``on_connection_end``
        sees it. A connection a gate holds is ended so too, never let go on (its
        ``holds`` ends ``ended by the server's reset``). Record ``id`` numbers keep
        counting, so an id is unique for the server's life.
        """
        checkpoints = self._engine.context.checkpoints
        # Gates first: once they hold no more, every connection held is an earlier one,
        # which _end_earlier ends (never lets go on, to dial after its test).
        checkpoints.close("ended by the server's reset")
        self._engine.generation += 1
        self._engine.context.chaos = None
        self._end_earlier()
        checkpoints.clear("released at the server's reset")
        self._engine.config = self._default_config
        self._engine.faults.clear()
        for fault in self._default_faults:
            self._engine.faults.add(fault)
        if self._engine.is_down:
            self.up()
        self._recorder.clear()
        self._engine.errors.clear()

    def _end_earlier(self) -> None:
        """End the connections accepted before the reset, waiting for them unless called
        on the server's own loop (an ``async with`` server), which must not block."""
        loop, registry = self._loop, self._engine.registry
        if loop is None or not len(registry):
            return
        on_loop = self._on_own_loop()
        if self._runner is not None and not on_loop:
            self._runner.run(registry.end_earlier(_RESET_GRACE, _RESET_ERROR), _RESET_GRACE + 5)
        elif on_loop:
            registry.shut_down_earlier(_RESET_ERROR, _RESET_GRACE)
        else:
            loop.call_soon_threadsafe(registry.shut_down_earlier, _RESET_ERROR, _RESET_GRACE)

    def down(self) -> contextlib.AbstractContextManager[Any]:
        """Refuse new connections (clients see "connection refused") while keeping the
        port reserved, until :meth:`up` — or use it as ``with server.down(): …``.
        Open connections are not touched."""
        self._on_loop(self._engine.go_down)
        back_up = contextlib.ExitStack()  # its exit brings a running server back up
        back_up.callback(self._come_back_up)
        return back_up

    def _come_back_up(self) -> None:
        if self.is_running and self.is_down:
            self.up()

    def up(self) -> None:
        """Accept connections again after :meth:`down`."""
        self._on_loop(self._engine.go_up)

    @property
    def is_down(self) -> bool:
        return self._engine.is_down

    @property
    def loop_name(self) -> str:
        """The event loop :meth:`start` runs the server on: ``"uvloop"`` or ``"asyncio"``
        (``loop="auto"`` resolved). ``async with`` runs it on the caller's loop instead."""
        return self._loop_name

    def _on_loop(self, step: Callable[[], Coroutine[Any, Any, None] | None]) -> None:
        """Call ``step`` (going down or up) on the server's loop, and wait for what it
        leaves to do; on that loop itself (a hook, a validator, an ``async with`` test),
        which cannot wait for itself, it acts at once and what it leaves runs there."""
        loop = self._loop
        if loop is None:
            raise RuntimeError("the server is not running")
        if self._on_own_loop():
            rest = step()
            if rest is not None:
                loop.create_task(rest).add_done_callback(self._task_ended)
            return

        async def on_its_loop() -> None:
            rest = step()
            if rest is not None:
                await rest

        if self._runner is not None:
            self._runner.run(on_its_loop(), 10)
        else:  # an ``async with`` server, from another thread than its loop's
            asyncio.run_coroutine_threadsafe(on_its_loop(), loop).result(10)

    def _on_own_loop(self) -> bool:
        try:
            return asyncio.get_running_loop() is self._loop
        except RuntimeError:
            return False

    def _task_ended(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and (exc := task.exception()) is not None:
            assert isinstance(exc, Exception)
            self._engine.context.report_error(None, exc)

    @property
    def users(self) -> dict[str, str]:
        """The configured users, as text."""
        return {
            n.decode("utf-8", "surrogateescape"): p.decode("utf-8", "surrogateescape")
            for n, p in self._engine.config.auth.users
        }

    def _bound_addresses(self) -> set[tuple[str, int]]:
        """Where this server's open BIND and UDP ASSOCIATE connections listen or relay."""
        return self._recorder.bound_addresses()

    @property
    def dropped_records(self) -> int:
        """Records dropped since the last :meth:`reset` because ``max_records`` were kept."""
        return self._recorder.dropped

    @property
    def errors(self) -> list[str]:
        """Tracebacks of internal errors since the last :meth:`reset`, and of exceptions
        your own code (a hook, a custom fault's ``rewrite``, a ``validator``, a ``when=``
        predicate, ``on_connection_end``) raised while the server called it."""
        return list(self._engine.errors)

    def raise_errors(self) -> None:
        """Raise :class:`ServerError` if the server had an internal error, *from* the
        original exception (so a report shows its type and traceback first); else raise
        the first exception your own code raised, as it is (its type and traceback, with
        a note naming the code and the connection)."""
        __tracebackhide__ = True  # a pytest report starts at the cause
        error = failure(self._engine.errors)
        if error is not None:
            raise error

    # -- environment -----------------------------------------------------------------

    def proxy_env(
        self, *, remote_dns: bool = False, no_proxy: str | None = None, scheme: str = "socks5"
    ) -> ProxyEnvironment:
        """A context manager pointing ``ALL_PROXY``, ``HTTP_PROXY`` and ``HTTPS_PROXY`` (and
        their lower-case forms) at this server — :attr:`url`, :attr:`url_remote_dns` with
        ``remote_dns``, or :attr:`http_url` with ``scheme="http"`` — with ``NO_PROXY`` unset
        (or set to ``no_proxy``); every variable gets its old value back on exit."""
        _ENV_SCHEME("proxy_env(): scheme", scheme)
        boolean("proxy_env(): remote_dns", remote_dns)
        check_no_proxy("proxy_env(): no_proxy", no_proxy)
        urls = {"socks5": self.url_remote_dns if remote_dns else self.url, "http": self.http_url}
        return ProxyEnvironment(urls[scheme], no_proxy=no_proxy)

    def __repr__(self) -> str:
        if not (self._engine.sockets and self.is_running):
            return "<SOCKS5Server not running>"
        return f"<SOCKS5Server {self.url_masked}>"
