"""One client connection from accept to close.

Strategy: :class:`ClientConnection` is the :class:`asyncio.Protocol` of an accepted
socket and the owner of everything that connection holds: the transport, the sans-I/O
:class:`~pytest_socks5._protocol.ServerConnection` its bytes are fed to, its live record,
its cleanups and, once the tunnel opens, the relay. It runs one coroutine, the front end
chosen by the engine (``serve``), as an :class:`~._inline_task.InlineTask`: started in
``connection_made`` and resumed in the very callback that brings the client's bytes, so
an answer leaves in the loop turn that read its question. It offers the coroutine a
small vocabulary: the next client message, send an answer, refuse and close, stall,
hand the socket to a relay, finish.
What to answer is decided elsewhere (``_policy.py``); how faults change an answer is
carried out in ``_answers.py``. The record is settled *before* a final answer is
written, so a client that has read the answer always finds the outcome recorded.
A bug in any callback (``_guard.py``) ends the connection: ``internal_error``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

from ._context import ServerContext
from ._conversation import (
    MESSAGE_NAMES,
    ClientClosed,
    ClientMessage,
    Relay,
    ServerMessage,
)
from ._deadline import Deadline
from ._fault_types import Fault, Phase
from ._guard import GuardedProtocol
from ._http import HttpAnswer
from ._inline_task import InlineTask
from ._policy import Policy
from ._protocol import NEED_DATA, PAUSED, AuthMethod, RemoteProtocolError, ServerConnection
from ._read_buffer import BufferedReads
from ._recorder import LiveRecord
from ._records import CloseHow, Outcome
from ._relay import RelaySide
from ._sockets import WRITE_HIGH_WATER, address_of, fin_first

__all__ = ["HANDSHAKE_BUFFER_LIMIT", "LINGER", "ClientConnection"]

#: After a failure reply, how long to wait for the client to close before closing.
LINGER = 1.0
#: Unparsed client bytes held before the tunnel opens; past it the client is not read
#: until the tunnel takes over (the longest handshake message is about 2 KiB).
HANDSHAKE_BUFFER_LIMIT = 64 * 1024

T = TypeVar("T")


class ClientConnection(GuardedProtocol, asyncio.Protocol, BufferedReads):
    """One client connection from accept to close (or to the RFC's failure answer)."""

    __slots__ = (
        "_acts_at",
        "_cleanups",
        "_deadline",
        "_failed",
        "_lingering",
        "_stopping",
        "_waiter",
        "config",
        "conn",
        "context",
        "dialler",
        "done",
        "generation",
        "local_address",
        "loop",
        "lost",
        "peer_address",
        "policy",
        "record",
        "relay",
        "task",
        "transport",
        "upstream",
    )

    def __init__(
        self, context: ServerContext[ClientConnection], loop: asyncio.AbstractEventLoop
    ) -> None:
        self.context = context
        self.config = config = context.config
        self.policy = Policy(config, context.faults, context.chaos)
        self.dialler = context.dialler
        self.transport: asyncio.Transport | None = None
        self.conn = ServerConnection(socks4=config.socks4)
        self.loop = loop  # given: on 3.11 each look-up of the running loop calls getpid()
        self.done: asyncio.Future[None] = loop.create_future()
        self.generation = 0
        #: What carries the traffic once the handshake is over.
        self.relay: Relay | None = None
        #: The dialled destination, before the tunnel opens.
        self.upstream: RelaySide | None = None
        self.task: InlineTask | None = None
        self.lost = False
        self.record: LiveRecord
        self._waiter: asyncio.Future[None] | None = None
        self._stopping = False
        self._lingering = False
        self._deadline: Deadline | None = None
        self._cleanups: list[Callable[[], None]] = []
        self._acts_at: dict[int, Phase] = {}
        self._failed = False

    # -- asyncio.Protocol ----------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        # A stream's transport, never checked: uvloop's transports are not asyncio classes.
        self.transport = transport
        # Read once, now: uvloop asks the socket each time, and a client that has reset
        # its side since has none (``None``: gone before it was accepted).
        self.local_address = address_of(transport.get_extra_info("sockname"))
        self.peer_address = address_of(transport.get_extra_info("peername"))
        self.record = self.context.recorder.new(self.peer_address or ("?", 0))
        self.record.capture_payload(self.config.capture_payload)
        transport.set_write_buffer_limits(high=WRITE_HIGH_WATER)
        registry = self.context.registry
        limit = self.config.max_connections
        if registry.closing:  # accepted just before the listener closed
            self._close_at_accept(Outcome.SERVER_STOPPED, "accepted while the server stopped")
            return
        if limit is not None and registry.open_count() >= limit:
            self._close_at_accept(
                Outcome.CONNECTION_LIMIT,
                f"refused at accept: {limit} connection(s) open (max_connections={limit})",
            )
            return
        registry.add(self)
        self.task = InlineTask(self._run(), self.internal_error, self.loop)
        self.task.start()

    def data_received(self, data: bytes) -> None:
        if self._lingering:
            return  # after a failure answer: discard, close at the client's EOF
        self.conn.receive_data(data)
        if self.conn.buffered > HANDSHAKE_BUFFER_LIMIT and self.transport is not None:
            self.transport.pause_reading()  # resumed when the tunnel opens
        self._wake()

    def eof_received(self) -> bool:
        if self._lingering:
            assert self.transport is not None
            self.transport.close()
            return False
        self.record.note_close("client", "fin")
        self.conn.receive_data(b"")
        self._wake()
        return True  # keep our side open: the client may still read the reply

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        if exc is None and not self.conn.client_eof and self.transport is not None:
            fin_first(self.transport)  # the proxy closed; the client may still be sending
        if self.relay is None:
            if self.task is not None and not self.task.done():
                self.task.cancel()
            how: CloseHow = "fin" if exc is None else "rst"
            self.finish(Outcome.CLIENT_CLOSED, closed_by="client", how=how)
        self._wake()

    # -- the conversation --------------------------------------------------------------

    async def _run(self) -> None:
        record = self.record
        try:
            await self.context.serve(self)
        except RemoteProtocolError as exc:
            if unparsed := self.conn.buffered_data:
                record.received("unparsed", unparsed)
            if exc.request is not None:
                record.note_request(exc.request)
            elif exc.version is not None:  # a SOCKS 4 field too long to parse
                record.spoke(exc.version)
            if record.version is not None and len(exc.response) >= 8:
                record.replied(exc.response[1])  # a REP (SOCKS5) or CD (SOCKS4) byte
            self.reject(Outcome.PROTOCOL_ERROR, exc.response, error=str(exc))
        except ClientClosed:
            # A FIN and no byte of a next message (a port probe): close; the loss finishes.
            self.record.end(Outcome.CLIENT_CLOSED, closed_by="client")
            self.conn.close()
            if self.transport is not None:
                self.transport.close()
        except (ConnectionError, asyncio.CancelledError):
            if self._stopping:
                self.finish(Outcome.SERVER_STOPPED, closed_by="server")
            else:
                self.finish(Outcome.CLIENT_CLOSED, closed_by="client")
        except Exception as exc:
            self.internal_error(exc)
        finally:
            # Over (the relay carries the tunnel now): the task, its coroutine and the
            # last wake-up future are freed, not held as long as the tunnel is open.
            self.task = self._waiter = None

    def internal_error(self, exc: Exception) -> None:
        """A bug: ``exc`` escaped a callback or the conversation. Keep it (to fail the
        test with), end the record as ``INTERNAL_ERROR``, reset every socket, finish."""
        self.context.report_error(self.record, exc)  # ends the record
        if self._failed:  # a second bug, while closing for the first: kept, nothing more
            return
        self._failed = True
        try:
            self.shutdown(abort=True)
        except Exception as again:
            self.context.report_error(self.record, again)
        self.finish(Outcome.INTERNAL_ERROR, closed_by="server")

    async def within_handshake_timeout(self, negotiation: Awaitable[T]) -> T | None:
        """Run ``negotiation`` under ``handshake_timeout``; on expiry, record the timeout,
        close, and return ``None``. Faults that act suspend the deadline."""
        timeout = self.config.handshake_timeout
        try:
            with Deadline(timeout, self.task) as self._deadline:
                return await negotiation
        except TimeoutError:
            if unparsed := self.conn.buffered_data:  # the message the timeout cut short
                self.record.received("unparsed", unparsed)
            error = f"no complete handshake within {timeout:g}s"
            self.reject(Outcome.TIMEOUT, error=error, linger=False)
            return None
        finally:
            self._deadline = None

    async def faults_at(self, phase: Phase) -> list[Fault]:
        """The faults that hit this connection at ``phase``: the test's gates hold it and
        its hooks are called first (``_checkpoints.py``). From the first fault that acts
        or gate that holds, the test owns the timing (``handshake_timeout`` no longer
        applies). The record notes faults only where they act (``_answers.py``)."""
        checkpoints = self.context.checkpoints
        extra = (
            await checkpoints.visit(self.record, phase, self._suspend, self.add_cleanup)
            if checkpoints
            else []
        )
        if extra:  # a gate's or hook's fault acts here (a transfer fault: on the tunnel)
            extra = self.policy.keep_transfer(extra)
        for fault in extra:  # whatever its own phase
            self._acts_at[id(fault)] = phase
        hits = self.policy.faults_at(self.record, phase) + extra
        if hits:
            self._suspend()
        return hits

    #: Where a bug in a callback goes (the guard's contract). A method, not an attribute
    #: holding the bound method: that would tie the connection to itself in a reference
    #: cycle, which only the garbage collector frees.
    on_error = internal_error

    def acts_at(self, fault: Fault) -> Phase | None:
        """Where ``fault`` acts on this connection (a released or hooked fault: where it
        was given; any other: its own phase)."""
        return self._acts_at.get(id(fault), fault.phase)

    def _suspend(self) -> None:
        if self._deadline is not None:
            self._deadline.lift()

    async def next_message(self) -> ClientMessage:
        """The client's next complete message (recorded as it crossed the wire)."""
        while True:
            try:
                event = self.conn.next_event()
            except RemoteProtocolError:
                if self.conn.client_eof and not self.conn.buffered:
                    raise ClientClosed("the client closed between messages") from None
                raise
            if event is NEED_DATA:
                if self.lost:
                    raise ConnectionResetError("the client connection was lost")
                await self.wakeup()
                continue
            assert event is not PAUSED
            assert not isinstance(event, type(NEED_DATA))
            self.record.received(MESSAGE_NAMES[type(event)], self.conn.last_message_bytes)
            return event

    def wakeup(self) -> asyncio.Future[None]:
        """A future resolved at the client's next bytes, EOF or loss. Awaited by the
        conversation, it resumes it in the callback that brought them."""
        self._waiter = waiter = self.loop.create_future()
        if self.task is not None:
            self.task.wait_directly(waiter)
        return waiter

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
            if self.task is not None:
                self.task.wake(waiter)

    resume_writing = _wake  # the client's queue drained: a forwarder waits for that

    @property
    def client_eof(self) -> bool:
        return self.conn.client_eof

    @property
    def local_ip(self) -> str:
        """The address the client reached the proxy at (``0.0.0.0`` if the socket was
        gone before it was accepted)."""
        return self.local_address[0] if self.local_address is not None else "0.0.0.0"

    # -- answering ---------------------------------------------------------------------

    def encode(self, message: ServerMessage) -> bytes:
        """The bytes of ``message`` (the protocol state moves on as if it were sent)."""
        if isinstance(message, HttpAnswer):  # HTTP's state is h11's (_frontend_http.py)
            self.record.http_answered(message.status)
            return message.to_bytes()
        return self.conn.send(message)

    def take_data(self) -> tuple[bytes, bool]:
        """The client bytes not parsed yet, for another parser (HTTP's), and whether EOF
        followed them; reading resumes if the handshake buffer limit paused it."""
        if self.transport is not None:
            self.transport.resume_reading()
        return self.conn.take_data(), self.conn.client_eof

    def send(self, message: ServerMessage) -> None:
        """Write ``message`` to the client, recorded."""
        self.write(MESSAGE_NAMES[type(message)], self.encode(message))

    def write(self, name: str, data: bytes) -> None:
        """Write answer bytes (recorded as ``name``) to the client."""
        assert self.transport is not None
        if data:
            self.record.sent(name, data)
        self.transport.write(data)

    def reject(
        self,
        outcome: Outcome,
        answer: ServerMessage | bytes = b"",
        *,
        error: str | None = None,
        linger: bool = True,
    ) -> None:
        """Record the outcome, send the RFC's answer, close.

        The close is a FIN once the answer is flushed; then we wait briefly for the
        client's FIN so that unread client bytes do not turn our close into a reset that
        could destroy the answer in flight.
        """
        transport = self.transport
        assert transport is not None
        if isinstance(answer, bytes):
            data = answer
            if data:
                self.record.sent(self.answer_name(), data)
        else:
            data = self.encode(answer)
            self.record.sent(MESSAGE_NAMES[type(answer)], data)
        self.record.end(outcome, closed_by="server", error=error)
        transport.write(data)
        self.conn.close()
        if not linger or self.lost or transport.is_closing() or self.conn.client_eof:
            transport.close()
            return
        try:
            transport.write_eof()
        except OSError:  # the client is already gone (reset or not connected)
            transport.abort()
            return
        handle = self.loop.call_later(LINGER, transport.close)
        self.done.add_done_callback(lambda _: handle.cancel())
        self._lingering = True
        transport.resume_reading()  # if the handshake buffer limit paused it

    def answer_name(self) -> str:
        """What a raw answer (from a :class:`RemoteProtocolError`) answers."""
        record = self.record
        if record.protocol == "http":
            return "http response"
        if record.version == 4:
            return "socks4 reply"
        if record.chosen_method == AuthMethod.USERNAME_PASSWORD and record.authenticated is None:
            return "auth reply"
        return "reply"

    def close_upstream(self) -> None:
        """Close the dialled destination (if any) of a connection that ends before its
        tunnel opens."""
        if self.upstream is not None and self.upstream.transport is not None:
            self.upstream.transport.close()

    # -- lifecycle ---------------------------------------------------------------------

    def add_cleanup(self, cleanup: Callable[[], None]) -> None:
        """Call ``cleanup`` once the connection is over (listeners, sockets, destinations)."""
        self._cleanups.append(cleanup)

    def hand_over(self, relay: Relay) -> None:
        """The handshake is over: ``relay`` carries the traffic and ends the connection."""
        relay.on_error = self.internal_error
        self.relay = relay

    def finish(
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
        while self._cleanups:
            self._cleanups.pop()()
        if self.relay is None:
            self.close_upstream()  # dialled, but the tunnel never opened
        self.done.set_result(None)
        self.context.registry.discard(self)
        self.context.recorder.ended(self.record)

    def tunnel_done(self) -> None:
        """The relay has closed both ways."""
        self.finish(self.record.outcome, closed_by=self.record.closed_by)

    def _close_at_accept(self, outcome: Outcome, error: str) -> None:
        """Close at once, never answered (``max_connections`` are open, or the server is
        stopping). Held by the registry, uncounted, until the socket is gone."""
        assert self.transport is not None
        self.record.end(outcome, closed_by="server", error=error)
        self.context.registry.add(self, counted=False)
        self.transport.close()  # connection_lost finishes

    def shutdown(self, *, abort: bool, error: str | None = None) -> None:
        """Close for a server stop, or for the reset ``error`` explains."""
        self._stopping = True
        how: CloseHow = "rst" if abort else "fin"
        self.record.end(Outcome.SERVER_STOPPED, closed_by="server", how=how, error=error)
        if self.relay is not None:
            self.relay.close_tunnel(abort=abort)
        elif self.transport is not None:
            if self.task is not None and not self.task.done():
                self.task.cancel()
            if abort:
                self.transport.abort()
            else:
                self.transport.close()
