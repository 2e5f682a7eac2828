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
import random
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

from . import _splice as splicing
from ._bind import serve_bind
from ._dial_errors import reply_for_dial_error
from ._fault_types import (
    BoundAddress,
    Close,
    Delay,
    Direction,
    FailAuth,
    Fault,
    ForceMethod,
    Fragment,
    Phase,
    RawAnswer,
    ReplyWith,
    Stall,
    TransferFault,
    Truncate,
    WrongVersion,
)
from ._hosts import Echo, Sink, Unresolvable, describe_target, map_destination
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
    coerce,
    describe,
)
from ._recording import CloseHow, LiveRecord, Outcome
from ._relay import WRITE_HIGH_WATER, IdleWatch, RelaySide
from ._rules import check_destination, denial_message
from ._shaping import Shaper, reset_transport
from ._udp import UdpAssociation, serve_udp_associate
from ._virtual import open_virtual

if TYPE_CHECKING:
    from ._engine import Engine

__all__ = ["HANDSHAKE_BUFFER_LIMIT", "LINGER", "Handshake"]

#: After a failure reply, how long to wait for the client to close before closing.
LINGER = 1.0
#: Unparsed client bytes held before the tunnel opens; past it the client is not read
#: until the tunnel takes over (the longest handshake message is about 2 KiB).
HANDSHAKE_BUFFER_LIMIT = 64 * 1024

ServerMessage = MethodSelection | AuthReply | ServerReply | Socks4Response

#: What each message is called in :attr:`ConnectionRecord.handshake`.
_NAMES: dict[type, str] = {
    Greeting: "greeting",
    AuthRequest: "auth request",
    Request: "request",
    Socks4Request: "socks4 request",
    MethodSelection: "method selection",
    AuthReply: "auth reply",
    ServerReply: "reply",
    Socks4Response: "socks4 reply",
}


class Handshake(asyncio.Protocol):
    """One client connection from accept to tunnel (or to the RFC's failure answer)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.config = engine.config
        self.transport: asyncio.Transport | None = None
        self.conn = ServerConnection(socks4=self.config.socks4)
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.relay: RelaySide | UdpAssociation | splicing.SpliceTunnel | None = None
        self.task: asyncio.Task[None] | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._lost = False
        self._stopping = False
        self._deadline: asyncio.Timeout | None = None
        self._upstream: RelaySide | None = None
        self.record: LiveRecord
        #: Called once when the connection is over (BIND listeners, UDP sockets, virtual
        #: destinations).
        self.cleanups: list[Callable[[], None]] = []

    # -- asyncio.Protocol ----------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # A cast, not an isinstance check: uvloop's transports are not asyncio classes.
        transport = cast(asyncio.Transport, transport)
        self.transport = transport
        peer = transport.get_extra_info("peername") or ("?", 0)
        self.record = self.engine.recorder.new((str(peer[0]), int(peer[1])))
        self.record.capture_payload(self.config.capture_payload)
        # asyncio's selector transports already set TCP_NODELAY on TCP sockets.
        transport.set_write_buffer_limits(high=WRITE_HIGH_WATER)
        self.generation = self.engine.generation
        limit = self.config.max_connections
        if limit is not None and self.engine.open_connections() >= limit:
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
        self.record.note_close("client", "fin")
        self.conn.receive_data(b"")
        self._wake()
        return True  # keep our side open: the client may still read the reply

    def connection_lost(self, exc: Exception | None) -> None:
        self._lost = True
        self._wake()
        if self.relay is None:
            if self.task is not None and not self.task.done():
                self.task.cancel()
            how: CloseHow = "fin" if exc is None else "rst"
            self._finish(Outcome.CLIENT_CLOSED, closed_by="client", how=how)

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
            self.record.received(_NAMES[type(event)], self.conn.last_message_bytes)
            return event

    def _send(self, message: ServerMessage) -> None:
        assert self.transport is not None
        data = self.conn.send(message)
        self.record.sent(_NAMES[type(message)], data)
        self.transport.write(data)

    def _finish(
        self,
        outcome: Outcome,
        *,
        closed_by: str | None,
        how: CloseHow = "fin",
        error: str | None = None,
    ) -> None:
        """The connection's sockets are gone: settle the record (once) and tell waiters."""
        self.record.end(outcome, closed_by=closed_by, how=how, error=error)
        if self.done.done():
            return
        while self.cleanups:
            self.cleanups.pop()()
        upstream = self._upstream
        if self.relay is None and upstream is not None and upstream.transport is not None:
            upstream.transport.close()  # dialled, but the tunnel never opened
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
        if isinstance(answer, bytes):
            data = answer
            if data:
                self.record.sent(self._answer_name(), data)
        else:
            data = self.conn.send(answer)
            self.record.sent(_NAMES[type(answer)], data)
        self.record.end(outcome, closed_by="server", error=error)
        transport.write(data)
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

    def _answer_name(self) -> str:
        """What a raw answer (from a :class:`RemoteProtocolError`) answers."""
        record = self.record
        if record.version == 4:
            return "socks4 reply"
        if record.chosen_method == AuthMethod.USERNAME_PASSWORD and record.authenticated is None:
            return "auth reply"
        return "reply"

    def shutdown(self, *, abort: bool) -> None:
        """Close for :meth:`Engine.stop`."""
        self._stopping = True
        how: CloseHow = "rst" if abort else "fin"
        self.record.end(Outcome.SERVER_STOPPED, closed_by="server", how=how)
        if self.relay is not None:
            self.relay.close_tunnel(abort=abort)
        elif self.transport is not None:
            if self.task is not None and not self.task.done():
                self.task.cancel()
            if abort:
                self.transport.abort()
            else:
                self.transport.close()

    # -- faults ------------------------------------------------------------------------

    def _faults_at(self, phase: Phase | None) -> list[Fault]:
        """The faults that hit this connection at ``phase`` (noted in the record)."""
        fault_set = self.engine.faults
        if not fault_set:
            return []
        hits = fault_set.pick(phase, self.record.freeze())
        if hits and self._deadline is not None:
            self._deadline.reschedule(None)  # faults own the timing from here on
        for fault in hits:
            where = f" at {phase.value}" if phase is not None else ""
            self.record.faults.append(fault.describe() + where)
        return hits

    async def _deliver(
        self,
        faults: list[Fault],
        message: ServerMessage,
        *,
        outcome: Outcome | None = None,
        error: str | None = None,
    ) -> bool:
        """Send ``message`` through ``faults``; then close if ``outcome`` is given.

        Returns ``False`` when the conversation is over (a failure answer, or a fault
        that closed or stalled the connection).
        """
        if not faults:
            if outcome is None:
                self._send(message)
                return True
            self._reject(outcome, message, error=error)
            return False
        data = self.conn.send(message)
        then: str | None = None
        for fault in faults:
            if isinstance(fault, Delay):
                await asyncio.sleep(fault.seconds)
        for fault in faults:
            if isinstance(fault, Close):
                self._close_for_fault(fault.describe(), reset=fault.reset)
                return False
            if isinstance(fault, Stall):
                await self._stall()
                return False
            if isinstance(fault, WrongVersion):
                data = bytes((fault.version,)) + data[1:]
            elif isinstance(fault, RawAnswer):
                data, then = fault.data, fault.then
            elif isinstance(fault, Truncate):
                data, then = data[: fault.length], fault.then
        fragment = next((f for f in faults if isinstance(f, Fragment)), None)
        if data:  # what the client is sent, after the faults (all of it, if fragmented)
            self.record.sent(_NAMES[type(message)], data)
        if outcome is not None:
            self.record.end(outcome, closed_by="server", error=error)
        assert self.transport is not None
        if fragment is None:
            self.transport.write(data)
        else:
            for start in range(0, len(data), max(1, fragment.size)):
                if start:
                    await asyncio.sleep(fragment.delay)
                self.transport.write(data[start : start + max(1, fragment.size)])
        if then == "stall":
            await self._stall()
            return False
        if then == "close":
            self._close_for_fault(f"the answer was cut short ({len(data)} bytes sent)")
            return False
        if outcome is not None:
            self._reject(outcome, b"", error=error)
            return False
        return True

    async def _stall(self) -> None:
        """Say nothing until the client gives up (EOF or reset) or the server stops."""
        loop = asyncio.get_running_loop()
        while not (self.conn.client_eof or self._lost):
            self._waiter = loop.create_future()
            await self._waiter
        self.conn.close()
        if self.transport is not None:
            self.transport.close()
        if self._upstream is not None and self._upstream.transport is not None:
            self._upstream.transport.close()

    def _close_for_fault(self, what: str, *, reset: bool = False) -> None:
        assert self.transport is not None
        self.record.end(
            Outcome.FAULT,
            closed_by="server",
            how="rst" if reset else "fin",
            error=f"closed by a fault: {what}",
        )
        self.conn.close()
        if reset:
            reset_transport(self.transport)
        else:
            self.transport.close()
        if self._upstream is not None and self._upstream.transport is not None:
            self._upstream.transport.close()

    async def _before_dial(self, faults: list[Fault]) -> bool:
        """Request-phase faults: delay, stall or close before the destination is dialled."""
        for fault in faults:
            if isinstance(fault, Delay):
                await asyncio.sleep(fault.seconds)
        for fault in faults:
            if isinstance(fault, Stall):
                await self._stall()
                return False
            if isinstance(fault, Close):
                self._close_for_fault(fault.describe(), reset=fault.reset)
                return False
        return True

    # -- the handshake ---------------------------------------------------------------

    async def _run(self) -> None:
        record = self.record
        try:
            try:
                async with asyncio.timeout(self.config.handshake_timeout) as self._deadline:
                    request = await self._negotiate()
            except TimeoutError:
                self._reject(
                    Outcome.TIMEOUT,
                    error=f"no complete handshake within {self.config.handshake_timeout:g}s",
                    linger=False,
                )
                return
            self._deadline = None
            if request is None:
                return
            if isinstance(request, Socks4Request):
                await self._socks4_connect(request)
            else:
                await self._connect(request)
        except RemoteProtocolError as exc:
            if unparsed := self.conn.buffered_data:
                record.received("unparsed", unparsed)
            if exc.request is not None:
                self.record.note_request(exc.request)
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
            self.record.note_request(first)
            return first
        assert isinstance(first, Greeting)
        record.version = 5
        record.offered_methods = first.methods
        faults = self._faults_at(Phase.GREETING)
        method: int = auth.select_method(first.methods)
        for fault in faults:
            if isinstance(fault, ForceMethod):
                method = fault.method
        record.chosen_method = coerce(method, AuthMethod)
        answer = MethodSelection(method=method)
        if method == AuthMethod.NO_ACCEPTABLE_METHODS:
            offered = ", ".join(f"0x{m:02x}" for m in first.methods) or "none"
            error = f"the client offered {offered}; the server requires 0x{auth.method:02x}"
            await self._deliver(faults, answer, outcome=Outcome.NO_ACCEPTABLE_METHOD, error=error)
            return None
        if method not in (AuthMethod.NO_AUTHENTICATION_REQUIRED, AuthMethod.USERNAME_PASSWORD):
            error = f"method 0x{method:02x} was forced; the server cannot speak it"
            await self._deliver(faults, answer, outcome=Outcome.FAULT, error=error)
            return None
        if not await self._deliver(faults, answer):
            return None
        if method == AuthMethod.USERNAME_PASSWORD:
            creds = await self._next_event()
            assert isinstance(creds, AuthRequest)
            record.raw_username, record.raw_password = creds.username, creds.password
            record.username = creds.username.decode("utf-8", "backslashreplace")
            ok = auth.check(creds.username, creds.password) if auth.requires_password else True
            faults = self._faults_at(Phase.AUTH)
            status = next((f.status for f in faults if isinstance(f, FailAuth)), None)
            if status is not None:
                ok = False
            record.authenticated = ok
            if not ok:
                refusal = AuthReply(status=AuthStatus.FAILURE if status is None else status)
                error = "wrong username or password" if status is None else "FailAuth fault"
                await self._deliver(faults, refusal, outcome=Outcome.AUTH_FAILED, error=error)
                return None
            if not await self._deliver(faults, AuthReply(status=AuthStatus.SUCCESS)):
                return None
        request = await self._next_event()
        assert isinstance(request, Request)
        self.record.note_request(request)
        return request

    async def _dial(self, host: str, port: int) -> RelaySide | Reply:
        """Apply ``host_map`` (an address, a virtual destination, or unresolvable), then
        dial through :meth:`Engine.dial`. A failure becomes the REP a faithful server sends."""
        try:
            target = map_destination(self.config.host_map, host, port)
        except Unresolvable as exc:
            self.record.mapped_to = "unresolvable"
            self.record.error = f"dialling {host}:{port} failed: {exc}"
            return Reply.HOST_UNREACHABLE
        if target != (host, port):
            self.record.mapped_to = describe_target(target)
        try:
            async with asyncio.timeout(self.config.connect_timeout):
                if isinstance(target, Echo | Sink):
                    return await open_virtual(target, self)
                return await self.engine.dial(*target, self)
        except (OSError, TimeoutError) as exc:
            self.record.error = f"dialling {host}:{port} failed: {exc!r}"
            return reply_for_dial_error(exc)

    def _reply(
        self, reply: int, bound: tuple[str, int] | None, faults: list[Fault]
    ) -> ServerReply:
        """The reply message, with BND.ADDR from a BoundAddress fault if one hits."""
        for fault in faults:
            if isinstance(fault, BoundAddress):
                raw = fault.raw
                if raw is None and fault.bound_type not in tuple(AddressType):
                    raw = b""
                return ServerReply(
                    reply=reply,
                    address_type=fault.bound_type,
                    host=fault.bound_host,
                    port=fault.bound_port,
                    raw_address=raw,
                )
        if bound is None:
            return ServerReply(reply=reply)
        return ServerReply(
            reply=reply, address_type=address_type_for(bound[0]), host=bound[0], port=bound[1]
        )

    def permitted(self, command: int, host: str | None, port: int | None) -> bool:
        """Check the destination against the rules; on a refusal, record why and answer
        REP 0x02 (SOCKS 4: 0x5B) without any lookup or dial."""
        config, record = self.config, self.record
        decision = check_destination(
            command=command,
            host=host,
            port=port,
            user=record.username,
            rules=config.rules + config.allow,
            host_map=config.host_map,
            hermetic=config.hermetic,
        )
        if decision.allowed:
            return True
        record.denied_by = decision.reason
        error = denial_message(decision, command=command, host=host, port=port)
        if record.version == 4:
            record.reply = Socks4Reply.REJECTED
            self._reject(
                Outcome.REJECTED, Socks4Response(status=Socks4Reply.REJECTED), error=error
            )
        else:
            record.reply = Reply.CONNECTION_NOT_ALLOWED
            answer = ServerReply(reply=Reply.CONNECTION_NOT_ALLOWED)
            self._reject(Outcome.REJECTED, answer, error=error)
        return False

    async def _connect(self, request: Request) -> None:
        record = self.record
        if request.command not in (Command.CONNECT, Command.BIND, Command.UDP_ASSOCIATE):
            record.reply = Reply.COMMAND_NOT_SUPPORTED
            error = f"command 0x{request.command:02x} is not supported"
            answer = self._reply(Reply.COMMAND_NOT_SUPPORTED, None, self._faults_at(Phase.REPLY))
            await self._deliver([], answer, outcome=Outcome.REJECTED, error=error)
            return
        faults = self._faults_at(Phase.REQUEST)
        forced = next((f.reply for f in faults if isinstance(f, ReplyWith)), None)
        if forced is not None:
            record.reply = forced
            reply_faults = self._faults_at(Phase.REPLY)
            answer = self._reply(forced, None, reply_faults)
            error = f"ReplyWith fault: REP {describe(forced, Reply)} without dialling"
            await self._deliver(reply_faults, answer, outcome=Outcome.REJECTED, error=error)
            return
        if not await self._before_dial(faults):
            return
        if request.command == Command.UDP_ASSOCIATE:
            # The request names the client's own UDP address; each datagram's destination
            # is checked by the relay.
            if self.permitted(request.command, None, None):
                await serve_udp_associate(self, request)
            return
        if not self.permitted(request.command, request.host, request.port):
            return
        if request.command == Command.BIND:
            await serve_bind(self, request)
            return
        result = await self._dial(request.host, request.port)
        faults = self._faults_at(Phase.REPLY)
        if isinstance(result, Reply):
            record.reply = result
            answer = self._reply(result, None, faults)
            await self._deliver(faults, answer, outcome=Outcome.REJECTED, error=record.error)
            return
        self._upstream = upstream = result
        assert upstream.transport is not None
        bound = self._bound_address(upstream)
        record.upstream_address = _addr(upstream.transport.get_extra_info("peername"))
        record.bound_address = bound
        record.reply = Reply.SUCCEEDED
        if await self._deliver(faults, self._reply(Reply.SUCCEEDED, bound, faults)):
            self._open_tunnel(upstream)

    def _bound_address(self, upstream: RelaySide) -> tuple[str, int]:
        """BND for a success reply: the proxy's end of the upstream connection, or (for a
        virtual destination, which has no address) the proxy's own address and port 0."""
        assert upstream.transport is not None
        bound = _addr(upstream.transport.get_extra_info("sockname"))
        if bound is None:
            assert self.transport is not None
            bound = (str(self.transport.get_extra_info("sockname")[0]), 0)
        return bound

    async def _socks4_connect(self, request: Socks4Request) -> None:
        record, config = self.record, self.config
        rejected = Socks4Response(status=Socks4Reply.REJECTED)
        user_ids = config.socks4_user_ids
        if config.auth.requires_password and user_ids is None:
            record.reply = Socks4Reply.REJECTED
            record.authenticated = False
            error = (
                "SOCKS 4 carries no password, and this server requires one "
                "(socks4_user_ids lets SOCKS 4 clients in by USERID)"
            )
            await self._deliver([], rejected, outcome=Outcome.AUTH_FAILED, error=error)
            return
        if user_ids is not None:
            record.authenticated = request.user_id in user_ids
            if not record.authenticated:
                record.reply = config.socks4_user_id_reply
                self._reject(
                    Outcome.AUTH_FAILED,
                    Socks4Response(status=config.socks4_user_id_reply),
                    error=f"SOCKS 4 USERID {request.user_id!r} is not in socks4_user_ids",
                )
                return
        if request.command not in (Socks4Command.CONNECT, Socks4Command.BIND):
            record.reply = Socks4Reply.REJECTED
            error = f"SOCKS4 command 0x{request.command:02x} is not supported"
            await self._deliver([], rejected, outcome=Outcome.REJECTED, error=error)
            return
        if not await self._before_dial(self._faults_at(Phase.REQUEST)):
            return
        if not self.permitted(request.command, request.host, request.port):
            return
        if request.command == Socks4Command.BIND:
            await serve_bind(self, request)
            return
        result = await self._dial(request.host, request.port)
        faults = self._faults_at(Phase.REPLY)
        if isinstance(result, Reply):
            record.reply = Socks4Reply.REJECTED
            await self._deliver(faults, rejected, outcome=Outcome.REJECTED, error=record.error)
            return
        self._upstream = result
        assert result.transport is not None
        bound = self._bound_address(result)
        record.upstream_address = _addr(result.transport.get_extra_info("peername"))
        record.bound_address = bound
        record.reply = Socks4Reply.GRANTED
        ip = bound[0] if address_type_for(bound[0]) is AddressType.IPV4 else "0.0.0.0"
        granted = Socks4Response(status=Socks4Reply.GRANTED, port=bound[1], ip=ip)
        if await self._deliver(faults, granted):
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
        transfer = self._faults_at(None)
        if (
            self.config.splice
            and splicing.AVAILABLE
            and not transfer
            and not self.record.payload_limit  # capture needs the bytes in user space
            and transport.get_write_buffer_size() == 0
        ):
            data, eof = self.conn.trailing_data
            if self._lost:
                upstream.transport.close()
                return
            tunnel = splicing.SpliceTunnel(
                transport, upstream.transport, self.record, self._tunnel_done
            )
            self.relay = tunnel
            tunnel.start(data, eof)
            return
        if transfer:
            rng = random.Random(self.engine.faults.seed + self.record.id)
            for side, direction in (
                (client, Direction.FROM_CLIENT),
                (upstream, Direction.TO_CLIENT),
            ):
                acting = [
                    f
                    for f in transfer
                    if isinstance(f, TransferFault) and f.flows.includes(direction)
                ]
                if acting:
                    side.shaper = Shaper(side, acting, rng)
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
