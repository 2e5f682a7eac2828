"""The HTTP proxy's own answers, phrased like the SOCKS replies they stand for.

Strategy: an HTTP proxy request runs the same steps as a SOCKS request (``_requests.py``)
and only the words of the answer differ, so :class:`HttpReplies` is one more
:class:`~pytest_socks5._replies.Replies`: a SOCKS5 REP the server means becomes the
status a faithful HTTP proxy sends — refused or unreachable 502, not allowed 403, timed
out 504 — and a ``ReplyWith(http_status=...)`` is sent as it is. :class:`HttpAnswer` is the
message: a status line and a few headers, built here as bytes so that the answer faults
(truncate, fragment, raw answer) act on the response head exactly as they act on a SOCKS
reply. Parsing the client's HTTP is h11's job (``_frontend_http.py``); nothing here reads
HTTP. The record's view of a request (its head with ``Proxy-Authorization`` redacted)
is made here too.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable
from dataclasses import dataclass
from http import HTTPStatus

from ._fault_types import Fault, ReplyWith
from ._protocol import Reply

__all__ = [
    "METHOD_START",
    "REALM",
    "HttpAnswer",
    "HttpReplies",
    "auth_required",
    "basic_credentials",
    "redacted_headers",
    "reply_for_status",
    "request_head",
    "status_for",
]

REALM = "pytest-socks5"
#: The first byte of an HTTP request: a method token starts with an upper-case letter.
METHOD_START = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ")
#: What a SOCKS5 REP means, as an HTTP proxy says it (anything else: 502).
_STATUS_FOR_REPLY: dict[int, HTTPStatus] = {
    Reply.SUCCEEDED: HTTPStatus.OK,
    Reply.CONNECTION_NOT_ALLOWED: HTTPStatus.FORBIDDEN,
    Reply.TTL_EXPIRED: HTTPStatus.GATEWAY_TIMEOUT,
}
_REPLY_FOR_STATUS = {
    int(status): reply for reply, status in _STATUS_FOR_REPLY.items() if reply != Reply.SUCCEEDED
}
_REDACTED = frozenset({b"proxy-authorization"})


def reply_for_status(status: int) -> int | None:
    """The SOCKS5 REP an HTTP status stands for: 0x00 for any 2xx, 0x02 for 403, 0x06
    for 504; ``None`` for another (502 stands for every other failure, so for none)."""
    if 200 <= status < 300:
        return Reply.SUCCEEDED
    return _REPLY_FOR_STATUS.get(status)


def status_for(reply: int) -> int:
    """The HTTP status for a SOCKS5 REP: 200, 403, 504, or 502 for every other failure."""
    return int(_STATUS_FOR_REPLY.get(reply, HTTPStatus.BAD_GATEWAY))


@dataclass(frozen=True, slots=True)
class HttpAnswer:
    """A response head the proxy sends itself (and a short text body for a failure)."""

    status: int
    headers: tuple[tuple[str, str], ...] = ()
    body: str = ""

    @property
    def succeeded(self) -> bool:
        return 200 <= self.status < 300

    def to_bytes(self) -> bytes:
        try:
            reason = HTTPStatus(self.status).phrase
        except ValueError:
            reason = "Unknown"
        if self.status == 200:
            reason = "Connection established"
        lines = [f"HTTP/1.1 {self.status} {reason}"]
        lines += [f"{name}: {value}" for name, value in self.headers]
        if not self.succeeded:
            body = self.body.encode()
            lines += [
                "Content-Type: text/plain; charset=utf-8",
                f"Content-Length: {len(body)}",
                "Connection: close",
            ]
            return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def auth_required() -> HttpAnswer:
    """``407`` with the challenge a client answers with ``Proxy-Authorization: Basic``."""
    return HttpAnswer(
        407,
        (("Proxy-Authenticate", f'Basic realm="{REALM}"'),),
        "proxy authentication required\n",
    )


class HttpReplies:
    """HTTP proxy answers: ``200 Connection established``, or the status for the REP
    (a ``ReplyWith`` fault with ``status`` sends that status). The recorded code is the
    SOCKS5 REP the server means, so the same assertions read every protocol; the status
    sent is recorded beside it (``http_status``)."""

    @property
    def granted(self) -> int:
        return Reply.SUCCEEDED

    def code(self, reply: int) -> int:
        return reply

    def name(self, reply: int, faults: list[Fault] | None = None) -> str:
        return f"HTTP {_status(reply, faults)}"

    def shaping(self, faults: list[Fault]) -> list[Fault]:
        return []  # no BND.ADDR in HTTP: BoundAddress cannot be said

    def success(self, bound: tuple[str, int], faults: list[Fault] | None = None) -> HttpAnswer:
        return HttpAnswer(200)

    def failure(self, reply: int, faults: list[Fault] | None = None) -> HttpAnswer:
        return HttpAnswer(_status(reply, faults), body=f"proxy: {_phrase(reply)}\n")


def _status(reply: int, faults: list[Fault] | None) -> int:
    """The status a failure answer sends: a ``ReplyWith``'s ``http_status``, or the one
    for ``reply``."""
    status = next((f.http_status for f in faults or [] if isinstance(f, ReplyWith)), None)
    return status or status_for(reply)


def _phrase(reply: int) -> str:
    try:
        return Reply(reply).name.lower().replace("_", " ")
    except ValueError:
        return f"REP 0x{reply:02x}"


def basic_credentials(value: bytes | None) -> tuple[bytes, bytes] | str:
    """``(username, password)`` from a ``Proxy-Authorization: Basic ...`` value, or what
    is wrong with it (never showing the credentials)."""
    if value is None:
        return "no Proxy-Authorization header"
    scheme, _, token = value.strip().partition(b" ")
    if scheme.lower() != b"basic":
        shown = scheme[:20].decode("ascii", "replace")
        return f"Proxy-Authorization is not Basic credentials (scheme {shown!r})"
    try:
        decoded = base64.b64decode(token.strip(), validate=True)
    except (binascii.Error, ValueError):
        return "Proxy-Authorization: Basic credentials that are not valid base64"
    username, colon, password = decoded.partition(b":")
    if not colon:
        return "Proxy-Authorization: Basic credentials without the ':' of user:password"
    return username, password


def request_head(line: str, headers: Iterable[tuple[bytes, bytes]]) -> bytes:
    """A request head as the record keeps it: ``Proxy-Authorization`` shown as ``***``."""
    out = [line.encode("latin-1")]
    for name, value in headers:
        shown = b"***" if name.lower() in _REDACTED else value
        out.append(name + b": " + shown)
    return b"\r\n".join(out) + b"\r\n\r\n"


def redacted_headers(headers: Iterable[tuple[bytes, bytes]]) -> tuple[tuple[str, str], ...]:
    """The headers as text, ``Proxy-Authorization`` redacted."""
    return tuple(
        (
            name.decode("latin-1"),
            "***" if name.lower() in _REDACTED else value.decode("latin-1"),
        )
        for name, value in headers
    )
