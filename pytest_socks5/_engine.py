"""The one place with sockets: accept, drive the handshake, dial, relay, shut down.

Strategy: a connection starts with :class:`_Handshake`, an :class:`asyncio.Protocol` that
feeds bytes to the sans-I/O :class:`~pytest_socks5._protocol.ServerConnection` and runs
one coroutine per connection for the handshake (so delays and timeouts read as plain
``await``). Once the tunnel is open, both transports are handed to :class:`_RelaySide`
protocols that forward each chunk straight to the other transport — no streams, no
queues, no copies — with backpressure from the transports' write-buffer limits and EOF
forwarded one way at a time, so half-close is honoured. Policy (auth, dial errors,
records) comes from the pure modules beside this one.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import socket
import traceback
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from typing import Any

from ._auth import AuthPolicy
from ._dial_errors import reply_for_dial_error
from ._hosts import HostMap, Unresolvable, map_destination
from ._protocol import (
    NEED_DATA,
    PAUSED,
    AddressType,
    AuthMethod,
    AuthReply,
    AuthRequest,
    AuthStatus,
    Command,
    Greeting,
    MethodSelection,
    RemoteProtocolError,
    Reply,
    Request,
    ServerConnection,
    ServerReply,
    Socks4Command,
    Socks4Reply,
    Socks4Request,
    Socks4Response,
    address_type_for,
)
from ._recording import LiveRecord, Outcome, Recorder

__all__ = ["Engine", "EngineConfig"]

ServerMessage = MethodSelection | AuthReply | ServerReply | Socks4Response

#: Bytes a side may have queued for writing before the other side stops being read.
WRITE_HIGH_WATER = 1024 * 1024
#: After a failure reply, how long to wait for the client to close before closing.
LINGER = 1.0

Dialer = Callable[[str, int], Awaitable[tuple[asyncio.Transport, "_RelaySide"]]]


@dataclass(frozen=True, kw_only=True)
class EngineConfig:
    """Behaviour that can change between tests without rebinding the listener."""

    auth: AuthPolicy = field(default_factory=AuthPolicy)
    connect_timeout: float = 10.0
    handshake_timeout: float | None = 30.0
    socks4: bool = True
    host_map: HostMap = field(default_factory=dict)

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
        self._active: set[_Handshake] = set()
        self._loop: asyncio.AbstractEventLoop | None = None

    # -- lifecycle ---------------------------------------------------------------

    async def start(self) -> None:
        """Bind every listener (all on one port) and start accepting."""
        self._loop = asyncio.get_running_loop()
        port = self.requested_port
        for host in self.hosts:
            server = await self._loop.create_server(
                lambda: _Handshake(self),
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

    async def dial(self, host: str, port: int, handshake: _Handshake) -> _RelaySide:
        """Map, resolve (domain names only) and connect; raise the last error if all fail."""
        loop = asyncio.get_running_loop()
        try:
            host, port = map_destination(handshake.config.host_map, host, port)
        except Unresolvable as exc:
            raise socket.gaierror(socket.EAI_NONAME, str(exc)) from None
        if address_type_for(host) is AddressType.DOMAIN:
            infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
            targets = [(int(info[0]), str(info[4][0])) for info in infos]
        else:
            targets = [(int(socket.AF_INET6 if ":" in host else socket.AF_INET), host)]
        error: BaseException | None = None
        make_side = functools.partial(_RelaySide, handshake.record, "upstream")
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


class _Handshake(asyncio.Protocol):
    """One client connection from accept to tunnel (or to the RFC's failure answer)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.config = engine.config
        self.transport: asyncio.Transport | None = None
        self.conn = ServerConnection(socks4=self.config.socks4)
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.relay: _RelaySide | None = None
        self.task: asyncio.Task[None] | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._lost = False
        self._stopping = False
        self.record: LiveRecord

    # -- asyncio.Protocol ----------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        peer = transport.get_extra_info("peername") or ("?", 0)
        self.record = self.engine.recorder.new((str(peer[0]), int(peer[1])))
        sock = transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        transport.set_write_buffer_limits(high=WRITE_HIGH_WATER)
        self.engine._active.add(self)
        self.task = asyncio.get_running_loop().create_task(self._run())

    def data_received(self, data: bytes) -> None:
        self.conn.receive_data(data)
        self._wake()

    def eof_received(self) -> bool:
        self.conn.receive_data(b"")
        self._wake()
        return True  # keep our side open: the client may still read the reply

    def connection_lost(self, exc: Exception | None) -> None:
        self._lost = True
        self._wake()
        if self.relay is None:
            if self.task is not None and not self.task.done():
                self.task.cancel()
            self._finish(Outcome.CLIENT_CLOSED, closed_by="client")

    # -- helpers -------------------------------------------------------------------

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    async def _next_event(self) -> Greeting | AuthRequest | Request | Socks4Request:
        while True:
            event = self.conn.next_event()
            if event is NEED_DATA:
                if self._lost:
                    raise ConnectionResetError("the client connection was lost")
                self._waiter = asyncio.get_running_loop().create_future()
                await self._waiter
                continue
            assert event is not PAUSED
            assert not isinstance(event, type(NEED_DATA))
            return event

    def _send(self, message: ServerMessage) -> None:
        assert self.transport is not None
        self.transport.write(self.conn.send(message))

    def _finish(
        self, outcome: Outcome, *, closed_by: str | None, error: str | None = None
    ) -> None:
        """The connection's sockets are gone: settle the record (once) and tell waiters."""
        self.record.end(outcome, closed_by=closed_by, error=error)
        if self.done.done():
            return
        self.done.set_result(None)
        self.engine._active.discard(self)
        self.engine.recorder.ended(self.record)

    def _reject(
        self,
        outcome: Outcome,
        answer: ServerMessage | bytes = b"",
        *,
        error: str | None = None,
        linger: bool = True,
    ) -> None:
        """Record the outcome, send the RFC's answer, close.

        The record is settled *before* the answer goes out, so a client that has read the
        answer always finds the outcome recorded. The close is a FIN once the answer is
        flushed; then we wait briefly for the client's FIN so that unread client bytes do
        not turn our close into a reset that could destroy the answer in flight.
        """
        transport = self.transport
        assert transport is not None
        self.record.end(outcome, closed_by="server", error=error)
        if isinstance(answer, bytes):
            transport.write(answer)
        else:
            self._send(answer)
        self.conn.close()
        if not linger or self._lost or transport.is_closing() or self.conn.client_eof:
            transport.close()
            return
        try:
            transport.write_eof()
        except OSError:  # the client is already gone (reset or not connected)
            transport.abort()
            return
        loop = asyncio.get_running_loop()
        handle = loop.call_later(LINGER, transport.close)
        self.done.add_done_callback(lambda _: handle.cancel())
        # Discard what the client still sends; close at its EOF.
        self.data_received = lambda data: None  # type: ignore[method-assign]
        self.eof_received = lambda: transport.close() or False  # type: ignore[method-assign,func-returns-value]

    def shutdown(self, *, abort: bool) -> None:
        """Close for :meth:`Engine.stop`."""
        self._stopping = True
        self.record.end(Outcome.SERVER_STOPPED, closed_by="server")
        if self.relay is not None:
            self.relay.close_tunnel(abort=abort)
        elif self.transport is not None:
            if self.task is not None and not self.task.done():
                self.task.cancel()
            if abort:
                self.transport.abort()
            else:
                self.transport.close()

    # -- the handshake ---------------------------------------------------------------

    async def _run(self) -> None:
        record = self.record
        try:
            try:
                async with asyncio.timeout(self.config.handshake_timeout):
                    request = await self._negotiate()
            except TimeoutError:
                self._reject(
                    Outcome.TIMEOUT,
                    error=f"no complete handshake within {self.config.handshake_timeout:g}s",
                    linger=False,
                )
                return
            if request is None:
                return
            if isinstance(request, Socks4Request):
                await self._socks4_connect(request)
            else:
                await self._connect(request)
        except RemoteProtocolError as exc:
            if exc.request is not None:
                self._note_request(exc.request)
            if record.version is not None and len(exc.response) >= 8:
                record.reply = exc.response[1]  # a REP (SOCKS5) or CD (SOCKS4) byte
            self._reject(Outcome.PROTOCOL_ERROR, exc.response, error=str(exc))
        except (ConnectionError, asyncio.CancelledError):
            if self._stopping:
                self._finish(Outcome.SERVER_STOPPED, closed_by="server")
            else:
                self._finish(Outcome.CLIENT_CLOSED, closed_by="client")
        except Exception:
            self.engine.report_error(record)
            if self.transport is not None:
                self.transport.abort()
            self._finish(Outcome.INTERNAL_ERROR, closed_by="server")

    async def _negotiate(self) -> Request | Socks4Request | None:
        """Greeting, method selection, RFC 1929 sub-negotiation, request."""
        record, auth = self.record, self.config.auth
        first = await self._next_event()
        if isinstance(first, Socks4Request):
            record.version = 4
            self._note_request(first)
            return first
        assert isinstance(first, Greeting)
        record.version = 5
        record.offered_methods = first.methods
        method = auth.select_method(first.methods)
        record.chosen_method = method
        if method == AuthMethod.NO_ACCEPTABLE_METHODS:
            offered = ", ".join(f"0x{m:02x}" for m in first.methods) or "none"
            self._reject(
                Outcome.NO_ACCEPTABLE_METHOD,
                MethodSelection(method=method),
                error=f"the client offered {offered}; the server requires 0x{auth.method:02x}",
            )
            return None
        self._send(MethodSelection(method=method))
        if method == AuthMethod.USERNAME_PASSWORD:
            creds = await self._next_event()
            assert isinstance(creds, AuthRequest)
            record.raw_username, record.raw_password = creds.username, creds.password
            record.username = creds.username.decode("utf-8", "backslashreplace")
            ok = auth.check(creds.username, creds.password)
            record.authenticated = ok
            if not ok:
                answer = AuthReply(status=AuthStatus.FAILURE)
                self._reject(Outcome.AUTH_FAILED, answer, error="wrong username or password")
                return None
            self._send(AuthReply(status=AuthStatus.SUCCESS))
        request = await self._next_event()
        assert isinstance(request, Request)
        self._note_request(request)
        return request

    def _note_request(self, request: Request | Socks4Request) -> None:
        record = self.record
        record.command = request.command
        record.host = request.host
        record.port = request.port
        if isinstance(request, Request):
            record.address_type = request.address_type
            record.raw_address = request.raw_address
        else:
            record.user_id = request.user_id
            if request.domain is not None:
                record.address_type = AddressType.DOMAIN
                record.raw_address = request.domain
            else:
                record.address_type = AddressType.IPV4
                record.raw_address = socket.inet_aton(request.ip)
            record.username = request.user_id.decode("utf-8", "backslashreplace")

    async def _dial(self, host: str, port: int) -> _RelaySide | Reply:
        try:
            async with asyncio.timeout(self.config.connect_timeout):
                return await self.engine.dial(host, port, self)
        except (OSError, TimeoutError) as exc:
            self.record.error = f"dialling {host}:{port} failed: {exc!r}"
            return reply_for_dial_error(exc)

    async def _connect(self, request: Request) -> None:
        record = self.record
        if request.command != Command.CONNECT:
            record.reply = Reply.COMMAND_NOT_SUPPORTED
            self._reject(
                Outcome.REJECTED,
                ServerReply(reply=Reply.COMMAND_NOT_SUPPORTED),
                error=f"command 0x{request.command:02x} is not supported",
            )
            return
        result = await self._dial(request.host, request.port)
        if isinstance(result, Reply):
            record.reply = result
            self._reject(Outcome.REJECTED, ServerReply(reply=result), error=record.error)
            return
        upstream = result
        assert upstream.transport is not None
        bound = upstream.transport.get_extra_info("sockname")
        record.upstream_address = _addr(upstream.transport.get_extra_info("peername"))
        record.bound_address = _addr(bound)
        record.reply = Reply.SUCCEEDED
        self._send(
            ServerReply(
                reply=Reply.SUCCEEDED,
                address_type=address_type_for(bound[0]),
                host=bound[0],
                port=bound[1],
            )
        )
        self._open_tunnel(upstream)

    async def _socks4_connect(self, request: Socks4Request) -> None:
        record = self.record
        if request.command != Socks4Command.CONNECT:
            record.reply = Socks4Reply.REJECTED
            self._reject(
                Outcome.REJECTED,
                Socks4Response(status=Socks4Reply.REJECTED),
                error=f"SOCKS4 command 0x{request.command:02x} is not supported",
            )
            return
        result = await self._dial(request.host, request.port)
        if isinstance(result, Reply):
            record.reply = Socks4Reply.REJECTED
            answer = Socks4Response(status=Socks4Reply.REJECTED)
            self._reject(Outcome.REJECTED, answer, error=record.error)
            return
        assert result.transport is not None
        bound = result.transport.get_extra_info("sockname")
        record.upstream_address = _addr(result.transport.get_extra_info("peername"))
        record.bound_address = _addr(bound)
        record.reply = Socks4Reply.GRANTED
        ip = bound[0] if address_type_for(bound[0]) is AddressType.IPV4 else "0.0.0.0"
        self._send(Socks4Response(status=Socks4Reply.GRANTED, port=bound[1], ip=ip))
        self._open_tunnel(result)

    def _open_tunnel(self, upstream: _RelaySide) -> None:
        """Hand the client transport to a relay protocol and start forwarding both ways."""
        transport = self.transport
        assert transport is not None
        assert upstream.transport is not None
        client = _RelaySide(self.record, "client")
        self.relay = client
        client.transport = transport
        client.tunnel_done = self._tunnel_done
        upstream.tunnel_done = self._tunnel_done
        client.peer, upstream.peer = upstream, client
        transport.set_protocol(client)
        data, eof = self.conn.trailing_data
        if data:
            client.data_received(data)
        if self._lost:
            client.connection_lost(None)
        elif eof:
            client.eof_received()
        upstream.transport.resume_reading()

    def _tunnel_done(self) -> None:
        self._finish(self.record.outcome, closed_by=self.record.closed_by)


def _addr(sockname: Any) -> tuple[str, int] | None:
    if not sockname:
        return None
    return (str(sockname[0]), int(sockname[1]))


class _RelaySide(asyncio.Protocol):
    """One end of an open tunnel: what it reads goes to ``peer``'s transport."""

    def __init__(self, record: LiveRecord, name: str) -> None:
        self.record = record
        self.name = name
        self.transport: asyncio.Transport | None = None
        self.peer: _RelaySide | None = None
        self.eof = False
        self.lost = False
        self.tunnel_done: Callable[[], None] = lambda: None
        self._counter = "bytes_from_client" if name == "client" else "bytes_to_client"

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # Only the upstream side is created by a connect; hold its bytes until the tunnel
        # is open, so nothing reaches the client before the success reply.
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.pause_reading()
        transport.set_write_buffer_limits(high=WRITE_HIGH_WATER)
        sock = transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def data_received(self, data: bytes) -> None:
        peer = self.peer
        assert peer is not None
        assert peer.transport is not None
        record = self.record
        if self.name == "client":
            record.bytes_from_client += len(data)
        else:
            record.bytes_to_client += len(data)
        peer.transport.write(data)

    def eof_received(self) -> bool:
        self.eof = True
        if self.record.closed_by is None:
            self.record.closed_by = self.name
        peer = self.peer
        assert peer is not None
        assert peer.transport is not None
        if peer.eof or peer.lost:
            self.close_tunnel(abort=False)
            return True
        if not peer.transport.is_closing():
            try:
                peer.transport.write_eof()
            except OSError as exc:  # the peer is already gone
                self.record.end(Outcome.RESET, closed_by=peer.name, error=f"{peer.name}: {exc!r}")
                self.close_tunnel(abort=True)
        return True

    def pause_writing(self) -> None:
        if self.peer is not None and self.peer.transport is not None:
            self.peer.transport.pause_reading()

    def resume_writing(self) -> None:
        if self.peer is not None and self.peer.transport is not None:
            self.peer.transport.resume_reading()

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        record = self.record
        if record.closed_by is None:
            record.closed_by = self.name
        if exc is not None:
            record.end(Outcome.RESET, closed_by=self.name, error=f"{self.name}: {exc!r}")
        peer = self.peer
        if peer is not None and peer.transport is not None and not peer.lost:
            if exc is not None:
                peer.transport.abort()
            else:
                peer.transport.close()
        if peer is None or peer.lost:
            record.end(Outcome.CLOSED, closed_by=record.closed_by)
            self.tunnel_done()

    def close_tunnel(self, *, abort: bool) -> None:
        for side in (self, self.peer):
            if side is not None and side.transport is not None and not side.lost:
                if abort:
                    side.transport.abort()
                else:
                    side.transport.close()
