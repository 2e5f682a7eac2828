"""Two families of errors, as in h11: the peer broke the protocol, or we misused the API.

A :class:`RemoteProtocolError` carries everything the I/O layer needs to answer the way
the RFC says: the exact bytes to send before closing (possibly none) and, when the
request could be parsed far enough, the request itself so that it can be recorded.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ._messages import Request, Socks4Request

__all__ = ["LocalProtocolError", "ProtocolError", "RemoteProtocolError"]


class ProtocolError(Exception):
    """Base class of every error the protocol core raises."""


class LocalProtocolError(ProtocolError):
    """The server side misused the state machine (sent a message out of turn)."""


class RemoteProtocolError(ProtocolError):
    """The client sent something the RFC does not allow.

    :ivar response: the bytes to send before closing (``b""``: close without answering).
    :ivar request: the request, when it could be parsed despite the error.
    :ivar version: the SOCKS version the client spoke, when no request could be parsed
        but the version is known (a SOCKS 4 field too long: 4).
    """

    def __init__(
        self,
        message: str,
        *,
        response: bytes = b"",
        request: Request | Socks4Request | None = None,
        version: int | None = None,
    ) -> None:
        super().__init__(message)
        self.response = response
        self.request = request
        self.version = version
