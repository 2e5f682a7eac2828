"""How the proxy rewrites each forwarded message for its own hop (RFC 9110 §7.6).

Strategy: pure functions from the h11 event received on one hop to the h11 event sent on
the other, no I/O: a request goes to the destination in origin form with a ``Host`` made
from its URL (RFC 9112 §3.2.2), a response goes to the client as the proxy's own HTTP/1.1,
and the hop-by-hop fields stay on their hop. ``_http_forward.py`` does the relaying.
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import urlsplit

import h11

__all__ = ["final_response", "goes_on", "informational", "origin_form"]

#: Fields for one hop only (RFC 9110 §7.6.1), never passed on; so is any field that
#: ``Connection`` names. h11 writes each hop's own framing and ``Connection: close``.
_HOP_BY_HOP = frozenset(
    {b"proxy-authorization", b"proxy-connection", b"connection", b"keep-alive", b"te", b"upgrade"}
)


def goes_on(method: bytes, response: h11.Response) -> tuple[bool, bool]:
    """Whether the destination takes another request after ``response`` (RFC 9112 §9.3:
    HTTP/1.1, no ``Connection: close``, a body that does not end at the close), and
    whether it said it closes (``close``; HTTP/1.0 without ``keep-alive``; a body that
    ends at the close, RFC 9112 §6.3). h11 keeps no HTTP/1.0 connection alive, so an
    HTTP/1.0 ``keep-alive`` response is the one that neither goes on nor closes."""
    fields = list(response.headers)
    options = _connection_tokens(fields)
    bodiless = response.status_code in (204, 304) or method == b"HEAD"
    framed = any(name in (b"content-length", b"transfer-encoding") for name, _ in fields)
    until_close = not (bodiless or framed)
    if response.http_version != b"1.1":
        return False, until_close or b"keep-alive" not in options
    closes = until_close or b"close" in options
    return not closes, closes


def _connection_tokens(headers: Iterable[tuple[bytes, bytes]]) -> set[bytes]:
    """The options ``Connection`` lists, lower case."""
    return {
        token.strip().lower()
        for name, value in headers
        if name.lower() == b"connection"
        for token in value.split(b",")
    }


def _end_to_end(headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """``headers`` without this hop's fields (and those ``Connection`` names)."""
    drop = _HOP_BY_HOP | _connection_tokens(headers)
    return [(name, value) for name, value in headers if name.lower() not in drop]


def final_response(response: h11.Response, closing: bool) -> h11.Response:
    """The response as the proxy sends it: its own version, its own hop's fields
    (``Connection: close`` when the destination closes after it)."""
    headers = _end_to_end(response.headers.raw_items())
    if closing:
        headers.append((b"Connection", b"close"))
    return h11.Response(status_code=response.status_code, headers=headers, reason=response.reason)


def informational(response: h11.InformationalResponse) -> h11.InformationalResponse:
    headers = _end_to_end(response.headers.raw_items())
    return h11.InformationalResponse(
        status_code=response.status_code, headers=headers, reason=response.reason
    )


def origin_form(request: h11.Request) -> h11.Request:
    """The request as the destination should see it: origin-form target, no hop fields,
    ``Host`` made from the request-target (RFC 9112 §3.2.2), our own version."""
    parts = urlsplit(request.target.decode("ascii", "replace"))
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    host = parts.netloc.rpartition("@")[2].encode("ascii", "replace")
    headers = _end_to_end(request.headers.raw_items())
    if any(name.lower() == b"transfer-encoding" for name, _ in headers):
        # h11 framed the body by Transfer-Encoding; an intermediary MUST remove a
        # Content-Length sent with it (RFC 9112 §6.3) before passing the request on
        headers = [hv for hv in headers if hv[0].lower() != b"content-length"]
    at = next((i for i, (name, _) in enumerate(headers) if name.lower() == b"host"), None)
    if at is None:
        headers.insert(0, (b"Host", host))
    else:
        headers[at] = (headers[at][0], host)
        headers = [hv for i, hv in enumerate(headers) if i == at or hv[0].lower() != b"host"]
    return h11.Request(method=request.method, target=target, headers=headers)
