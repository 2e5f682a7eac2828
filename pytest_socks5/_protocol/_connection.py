"""The server side of one SOCKS connection, as a state machine with no I/O.

Strategy: every rule of the conversation lives in ``TRANSITIONS`` below — one table,
read by the code and by the docs (which draw the state diagram from it). The client's
bytes go in through :meth:`ServerConnection.receive_data` (``b""`` means EOF); parsed
messages come out of :meth:`ServerConnection.next_event`; the server's answers go in
through :meth:`ServerConnection.send`, which checks that it is the server's turn and
returns the bytes to write. Bytes that arrive after the request (a client that sends its
payload before the reply) are kept and handed out as :attr:`ServerConnection.trailing_data`
when the tunnel opens, like h11's ``trailing_data`` after a protocol switch.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from typing import Final

from ._enums import AuthMethod, AuthStatus, Command, Socks4Command
from ._errors import LocalProtocolError, RemoteProtocolError
from ._messages import (
    AuthReply,
    AuthRequest,
    Greeting,
    MethodSelection,
    Request,
    ServerReply,
    Socks4Request,
    Socks4Response,
)
from ._parse import parse_auth_request, parse_greeting, parse_request, parse_socks4_request

__all__ = ["NEED_DATA", "PAUSED", "TRANSITIONS", "ServerConnection", "State"]


class State(enum.Enum):
    """Where a server-side connection stands."""

    #: Waiting for the client's first message (SOCKS5 greeting or SOCKS4 request).
    GREETING = "greeting"
    #: The server must answer the greeting with a METHOD.
    SELECT_METHOD = "select-method"
    #: Waiting for the RFC 1929 username/password request.
    AUTH_REQUEST = "auth-request"
    #: The server must answer the sub-negotiation.
    AUTH_REPLY = "auth-reply"
    #: Waiting for ``VER CMD RSV ATYP DST.ADDR DST.PORT``.
    REQUEST = "request"
    #: The server must answer the request.
    REPLY = "reply"
    #: BIND only: the first reply went out; the second comes when the peer connects.
    BIND_SECOND_REPLY = "bind-second-reply"
    #: SOCKS 4 BIND only: the first reply went out; the second comes when the peer connects.
    SOCKS4_BIND_SECOND_REPLY = "socks4-bind-second-reply"
    #: The server must answer a SOCKS 4/4a request.
    SOCKS4_REPLY = "socks4-reply"
    #: The tunnel is open: bytes are relayed, the protocol is done.
    ESTABLISHED = "established"
    #: The server must close the connection; nothing more may be sent or parsed.
    CLOSED = "closed"

    # Members are singletons compared by identity: hash them so, in C (``Enum`` hashes
    # the name in Python, and the parser looks the state up once per message).
    __hash__ = object.__hash__


class _Sentinel(enum.Enum):
    NEED_DATA = "NEED_DATA"
    PAUSED = "PAUSED"


#: :meth:`ServerConnection.next_event` needs more bytes from the client.
NEED_DATA: Final = _Sentinel.NEED_DATA
#: It is the server's turn to send; nothing is parsed until it has.
PAUSED: Final = _Sentinel.PAUSED

ClientMessage = Greeting | AuthRequest | Request | Socks4Request
ServerMessage = MethodSelection | AuthReply | ServerReply | Socks4Response
Event = ClientMessage | _Sentinel

#: ``(state, what happened) -> next state``. "What happened" is the class of a client
#: message, or a label naming the server message by its effect (see ``_label``).
TRANSITIONS: Final[dict[tuple[State, str], State]] = {
    (State.GREETING, "Greeting"): State.SELECT_METHOD,
    (State.GREETING, "Socks4Request"): State.SOCKS4_REPLY,
    (State.SELECT_METHOD, "method: no authentication"): State.REQUEST,
    (State.SELECT_METHOD, "method: username/password"): State.AUTH_REQUEST,
    (State.SELECT_METHOD, "method: refused or unsupported"): State.CLOSED,
    (State.AUTH_REQUEST, "AuthRequest"): State.AUTH_REPLY,
    (State.AUTH_REPLY, "auth: success"): State.REQUEST,
    (State.AUTH_REPLY, "auth: failure"): State.CLOSED,
    (State.REQUEST, "Request"): State.REPLY,
    (State.REPLY, "reply: succeeded"): State.ESTABLISHED,
    (State.REPLY, "reply: BIND listening"): State.BIND_SECOND_REPLY,
    (State.REPLY, "reply: failure"): State.CLOSED,
    (State.BIND_SECOND_REPLY, "reply: succeeded"): State.ESTABLISHED,
    (State.BIND_SECOND_REPLY, "reply: failure"): State.CLOSED,
    (State.SOCKS4_REPLY, "socks4: granted"): State.ESTABLISHED,
    (State.SOCKS4_REPLY, "socks4: BIND listening"): State.SOCKS4_BIND_SECOND_REPLY,
    (State.SOCKS4_REPLY, "socks4: rejected"): State.CLOSED,
    (State.SOCKS4_BIND_SECOND_REPLY, "socks4: granted"): State.ESTABLISHED,
    (State.SOCKS4_BIND_SECOND_REPLY, "socks4: rejected"): State.CLOSED,
}

_REQUESTS: Final = (Request, Socks4Request)  # a tuple: ``A | B`` is a new object per call

_Parser = Callable[[bytes | bytearray], "tuple[ClientMessage, int] | None"]

_CLIENT_TURN: Final[dict[State, tuple[str, _Parser]]] = {
    State.GREETING: ("greeting", parse_greeting),
    State.AUTH_REQUEST: ("username/password request", parse_auth_request),
    State.REQUEST: ("request", parse_request),
}


class ServerConnection:
    """One client's conversation with the server, from greeting to tunnel.

    :param socks4: accept SOCKS 4/4a requests (detected from the first byte).
    """

    def __init__(self, *, socks4: bool = True) -> None:
        self.state = State.GREETING
        self.socks4 = socks4
        self.request: Request | Socks4Request | None = None
        #: The exact bytes of the last message :meth:`next_event` returned (for records).
        self.last_message_bytes = b""
        self._buffer = bytearray()
        self._eof = False

    # -- input ---------------------------------------------------------------

    def receive_data(self, data: bytes) -> None:
        """Feed bytes from the client; ``b""`` means the client closed its side (EOF)."""
        if data:
            self._buffer += data
        else:
            self._eof = True

    @property
    def buffered(self) -> int:
        """How many received bytes are not parsed yet (payload sent before the reply
        included): what an I/O layer bounds to keep a client from filling its memory."""
        return len(self._buffer)

    @property
    def client_eof(self) -> bool:
        """Whether the client has closed its write side."""
        return self._eof

    def next_event(self) -> Event:
        """The next complete client message, :data:`NEED_DATA` or :data:`PAUSED`.

        Raises :class:`RemoteProtocolError` when the client broke the protocol (its
        ``response`` holds the RFC's answer) and the state becomes ``CLOSED``.
        """
        state = self.state
        if state is State.GREETING and self.socks4 and self._buffer[:1] == b"\x04":
            return self._parse("SOCKS4 request", parse_socks4_request)
        turn = _CLIENT_TURN.get(state)
        if turn is None:
            if state is State.CLOSED:
                raise LocalProtocolError("the connection is closed; no events follow")
            return PAUSED
        return self._parse(*turn)

    def _parse(self, what: str, parser: _Parser) -> Event:
        try:
            parsed = parser(self._buffer)
        except RemoteProtocolError:
            self.state = State.CLOSED
            raise
        if parsed is None:
            if self._eof:
                self.state = State.CLOSED
                got = bytes(self._buffer).hex(" ") or "nothing"
                raise RemoteProtocolError(
                    f"the client closed the connection in the middle of the {what} "
                    f"(received: {got})"
                )
            return NEED_DATA
        message, consumed = parsed
        self.last_message_bytes = bytes(self._buffer[:consumed])
        del self._buffer[:consumed]
        if isinstance(message, _REQUESTS):
            self.request = message
        self.state = self._next(type(message).__name__)
        return message

    # -- output --------------------------------------------------------------

    def send(self, message: ServerMessage) -> bytes:
        """Advance the state machine by the server's ``message``; return its bytes."""
        self.state = self._next(self._label(message))
        return message.to_bytes()

    def _label(self, message: ServerMessage) -> str:
        if isinstance(message, MethodSelection):
            if message.method == AuthMethod.NO_AUTHENTICATION_REQUIRED:
                return "method: no authentication"
            if message.method == AuthMethod.USERNAME_PASSWORD:
                return "method: username/password"
            return "method: refused or unsupported"
        if isinstance(message, AuthReply):
            return "auth: success" if message.status == AuthStatus.SUCCESS else "auth: failure"
        if isinstance(message, Socks4Response):
            if not message.succeeded:
                return "socks4: rejected"
            bind = (
                self.state is State.SOCKS4_REPLY
                and self.request is not None
                and self.request.command == Socks4Command.BIND
            )
            return "socks4: BIND listening" if bind else "socks4: granted"
        if not message.succeeded:
            return "reply: failure"
        first_bind_reply = (
            self.state is State.REPLY
            and self.request is not None
            and self.request.command == Command.BIND
        )
        return "reply: BIND listening" if first_bind_reply else "reply: succeeded"

    def _next(self, label: str) -> State:
        try:
            return TRANSITIONS[self.state, label]
        except KeyError:
            raise LocalProtocolError(
                f"{label!r} is not allowed in state {self.state.name}"
            ) from None

    # -- after the handshake ---------------------------------------------------

    @property
    def buffered_data(self) -> bytes:
        """Bytes received and not yet parsed: after a :class:`RemoteProtocolError`, the
        bytes that broke the protocol."""
        return bytes(self._buffer)

    @property
    def trailing_data(self) -> tuple[bytes, bool]:
        """Bytes received after the request, and whether EOF followed them.

        Only meaningful once the tunnel is ``ESTABLISHED``: they belong to the payload.
        """
        return bytes(self._buffer), self._eof

    def take_data(self) -> bytes:
        """Hand every unparsed byte to another protocol's parser (HTTP's), emptying the
        buffer; :meth:`unread` gives back what that parser did not use."""
        data = bytes(self._buffer)
        self._buffer.clear()
        return data

    def unread(self, data: bytes) -> None:
        """Put ``data`` back in front of the buffer (it arrived before what is there)."""
        self._buffer[:0] = data

    def close(self) -> None:
        """Mark the connection closed (the server is about to close the socket)."""
        self.state = State.CLOSED
