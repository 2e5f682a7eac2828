"""The words a client connection exchanges, and what carries its traffic afterwards.

Strategy: the front ends, the answer step and the connection itself all speak of the same
messages — what a client sends, what the server answers, and the name each has in a
record's handshake — and hand the connection to a relay that they know only by how it is
closed. Those shared words live here, below all of them.
"""

from __future__ import annotations

from typing import Protocol

from ._guard import OnError
from ._http import HttpAnswer
from ._protocol import (
    AuthReply,
    AuthRequest,
    Greeting,
    MethodSelection,
    Request,
    ServerReply,
    Socks4Request,
    Socks4Response,
)

__all__ = ["MESSAGE_NAMES", "ClientClosed", "ClientMessage", "Relay", "ServerMessage"]

ClientMessage = Greeting | AuthRequest | Request | Socks4Request
ServerMessage = MethodSelection | AuthReply | ServerReply | Socks4Response | HttpAnswer
#: What each message is called in :attr:`ConnectionRecord.handshake`.
MESSAGE_NAMES: dict[type, str] = {
    Greeting: "greeting",
    AuthRequest: "auth request",
    Request: "request",
    Socks4Request: "socks4 request",
    MethodSelection: "method selection",
    AuthReply: "auth reply",
    ServerReply: "reply",
    Socks4Response: "socks4 reply",
    HttpAnswer: "http response",
}


class ClientClosed(ConnectionError):
    """The client closed its side cleanly with no byte of a next message sent."""


class Relay(Protocol):
    """What a connection needs of whatever carries its traffic once the handshake is over
    (a TCP relay side, a splice tunnel, a UDP association)."""

    on_error: OnError

    def close_tunnel(self, *, abort: bool) -> None:
        """Close both ways: FIN (flushing what is queued), or RST with ``abort``."""
