"""One client connection from accept to tunnel: the handshake driver.

Strategy: :class:`Handshake` is an :class:`asyncio.Protocol` that feeds the client's bytes
to the sans-I/O :class:`~pytest_socks5._protocol.ServerConnection` and runs one coroutine
per connection for the conversation, so delays and timeouts read as plain ``await``.
Every answer goes out through :meth:`Handshake._send` or :meth:`Handshake._reject`, and the
record is settled *before* an answer is written. Once the reply is sent, the client
transport is handed to a :class:`~pytest_socks5._relay.RelaySide`.
"""

from __future__ import annotations

import asyncio
import socket
from typing import TYPE_CHECKING, Any

from ._dial_errors import reply_for_dial_error
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
from ._recording import LiveRecord, Outcome
from ._relay import WRITE_HIGH_WATER, IdleWatch, RelaySide

if TYPE_CHECKING:
    from ._engine import Engine

__all__ = ["HANDSHAKE_BUFFER_LIMIT", "LINGER", "Handshake"]

#: After a failure reply, how long to wait for the client to close before closing.
LINGER = 1.0
#: Unparsed client bytes held before the tunnel opens; past it the client is not read
#: until the tunnel takes over (the longest handshake message is about 2 KiB).
HANDSHAKE_BUFFER_LIMIT = 64 * 1024

ServerMessage = MethodSelection | AuthReply | ServerReply | Socks4Response


class Handshake(asyncio.Protocol):
    """One client connection from accept to tunnel (or to the RFC's failure answer)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.config = engine.config
        self.transport: asyncio.Transport | None = None
        self.conn = ServerConnection(socks4=self.config.socks4)
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.relay: RelaySide | None = None
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
        # asyncio's selector transports already set TCP_NODELAY on TCP sockets.
        transport.set_write_buffer_limits(high=WRITE_HIGH_WATER)
        limit = self.config.max_connections
        if limit is not None and len(self.engine._active) >= limit:
            self._refuse_over_limit(limit)
            return
        self.engine._active.add(self)
        self.task = asyncio.get_running_loop().create_task(self._run())

    def data_received(self, data: bytes) -> None:
        self.conn.receive_data(data)
        if self.conn.buffered > HANDSHAKE_BUFFER_LIMIT and self.transport is not None:
            self.transport.pause_reading()  # resumed when the tunnel opens
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
        transport.resume_reading()  # if the handshake buffer limit paused it

    def _refuse_over_limit(self, limit: int) -> None:
        """Close at accept: ``max_connections`` are open. Recorded, never answered."""
        assert self.transport is not None
        self.record.end(
            Outcome.CONNECTION_LIMIT,
            closed_by="server",
            error=f"refused at accept: {limit} connection(s) open (max_connections={limit})",
        )
        self.done.set_result(None)
        self.engine.recorder.ended(self.record)
        self.transport.close()

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
        if record.version is None:  # a request refused while parsing (issue 8)
            record.version = 4 if isinstance(request, Socks4Request) else 5
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

    async def _dial(self, host: str, port: int) -> RelaySide | Reply:
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
        if self.config.auth.requires_password:
            record.reply = Socks4Reply.REJECTED
            record.authenticated = False
            self._reject(
                Outcome.AUTH_FAILED,
                Socks4Response(status=Socks4Reply.REJECTED),
                error="SOCKS 4 carries no password, and this server requires one",
            )
            return
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

    def _open_tunnel(self, upstream: RelaySide) -> None:
        """Hand the client transport to a relay protocol and start forwarding both ways."""
        transport = self.transport
        assert transport is not None
        assert upstream.transport is not None
        client = RelaySide(self.record, "client")
        self.relay = client
        client.transport = transport
        client.tunnel_done = self._tunnel_done
        upstream.tunnel_done = self._tunnel_done
        client.peer, upstream.peer = upstream, client
        transport.set_protocol(client)
        transport.resume_reading()  # in case the handshake buffer limit paused it
        if self.config.idle_timeout is not None:
            watch = IdleWatch(client, self.config.idle_timeout)
            self.done.add_done_callback(lambda _: watch.cancel())
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
