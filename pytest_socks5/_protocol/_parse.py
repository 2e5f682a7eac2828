"""Incremental parsers: a buffer in, ``(message, consumed)`` or ``None`` (need more) out.

Strategy: each parser reads only the bytes it may read, returns ``None`` as soon as the
buffer holds less than a whole message, and never keeps state, so feeding a stream whole,
byte by byte or in any other chunking gives the same messages. A field the RFC forbids
raises :class:`RemoteProtocolError` carrying the bytes the RFC says to answer with.

A parser first finds where the message ends, then decodes those bytes. Messages are
frozen values, so the decoders keep the last ones they made (``functools.lru_cache``):
a test suite's clients send the same greeting, and mostly the same few requests, again
and again, and each connection then shares the value instead of building its own. Only
a message that decodes is kept; one that is refused raises every time.
"""

from __future__ import annotations

import functools
import ipaddress
import unicodedata

from ._enums import (
    AddressType,
    AuthMethod,
    AuthStatus,
    Command,
    Reply,
    Socks4Reply,
    Version,
    coerce,
    describe,
)
from ._errors import RemoteProtocolError
from ._messages import (
    AuthReply,
    AuthRequest,
    Greeting,
    MethodSelection,
    Request,
    ServerReply,
    Socks4Request,
    Socks4Response,
    UdpDatagram,
)

__all__ = [
    "MAX_SOCKS4_FIELD",
    "failure_reply",
    "parse_auth_request",
    "parse_greeting",
    "parse_request",
    "parse_socks4_request",
    "parse_udp_datagram",
    "validate_domain",
]

Buffer = bytes | bytearray

#: SOCKS 4 fields end with NUL and have no length byte; longer ones are refused.
MAX_SOCKS4_FIELD = 1024

_NO_ACCEPTABLE = MethodSelection(method=AuthMethod.NO_ACCEPTABLE_METHODS).to_bytes()
_AUTH_FAILURE = AuthReply(status=AuthStatus.FAILURE).to_bytes()
#: CD 0x5B, "request rejected or failed": the answer to a SOCKS 4 request it cannot parse.
_SOCKS4_REJECTED = Socks4Response(status=Socks4Reply.REJECTED).to_bytes()


def _hex(data: Buffer) -> str:
    return bytes(data).hex(" ") or "(nothing)"


def failure_reply(reply: int) -> bytes:
    """A reply with ``reply`` as REP and an all-zero IPv4 BND address."""
    return ServerReply(reply=reply).to_bytes()


def parse_greeting(buf: Buffer) -> tuple[Greeting, int] | None:
    """RFC 1928 §3: ``VER NMETHODS METHODS`` (1, 1, 1 to 255 bytes)."""
    if not buf:
        return None
    if buf[0] != Version.SOCKS5:
        raise RemoteProtocolError(
            f"expected VER 0x05 in the greeting, got 0x{buf[0]:02x}: {_hex(buf[:16])}"
        )
    if len(buf) < 2:
        return None
    end = 2 + buf[1]
    if len(buf) < end:
        return None
    return _decode_greeting(bytes(buf[:end])), end


#: How many decoded messages of each kind the decoders keep.
_DECODED_CACHE_SIZE = 256


@functools.lru_cache(maxsize=_DECODED_CACHE_SIZE)
def _decode_greeting(message: bytes) -> Greeting:
    return Greeting(methods=tuple(coerce(m, AuthMethod) for m in message[2:]))


def parse_auth_request(buf: Buffer) -> tuple[AuthRequest, int] | None:
    """RFC 1929: ``VER ULEN UNAME PLEN PASSWD``."""
    if not buf:
        return None
    if buf[0] != Version.USERNAME_PASSWORD:
        raise RemoteProtocolError(
            f"expected sub-negotiation VER 0x01 (RFC 1929), got 0x{buf[0]:02x}: {_hex(buf[:16])}",
            response=_AUTH_FAILURE,
        )
    if len(buf) < 2:
        return None
    ulen = buf[1]
    if len(buf) < 3 + ulen:
        return None
    plen = buf[2 + ulen]
    end = 3 + ulen + plen
    if len(buf) < end:
        return None
    return AuthRequest(username=bytes(buf[2 : 2 + ulen]), password=bytes(buf[3 + ulen : end])), end


def validate_domain(raw: bytes) -> str:
    """Decode a ``DST.ADDR`` domain name; raise :class:`ValueError` saying why it is unusable."""
    if not raw:
        raise ValueError("the domain name is empty")
    if b"\x00" in raw:
        raise ValueError(f"the domain name contains NUL: {raw!r}")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError(f"the domain name is not valid UTF-8: {raw!r}") from None
    if any(unicodedata.category(c) == "Cc" for c in text):
        raise ValueError(f"the domain name contains control characters: {raw!r}")
    return text


def _address_end(buf: Buffer, offset: int) -> int | None:
    """Where ``ATYP DST.ADDR DST.PORT`` from ``offset`` ends (``None``: not all here yet);
    raises ``KeyError`` for an unknown ATYP."""
    if len(buf) <= offset:
        return None
    atyp = buf[offset]
    if atyp == AddressType.IPV4:
        end = offset + 7
    elif atyp == AddressType.IPV6:
        end = offset + 19
    elif atyp == AddressType.DOMAIN:
        if len(buf) <= offset + 1:
            return None
        end = offset + 4 + buf[offset + 1]
    else:
        raise KeyError(atyp)
    return end if len(buf) >= end else None


def _parse_address(buf: Buffer, offset: int) -> tuple[int, bytes, int] | None:
    """``ATYP DST.ADDR DST.PORT`` from ``offset``: ``(atyp, raw address, port offset)``.

    Returns ``None`` when incomplete; raises ``KeyError`` for an unknown ATYP.
    """
    end = _address_end(buf, offset)
    if end is None:
        return None
    atyp, port_at = buf[offset], end - 2
    start = offset + 2 if atyp == AddressType.DOMAIN else offset + 1
    return atyp, bytes(buf[start:port_at]), port_at


def _ipv4_text(raw: bytes) -> str:
    """Dotted decimal, as ``str(IPv4Address(raw))`` gives it, for less (once a request)."""
    return ".".join(map(str, raw))


def _host_text(atyp: int, raw: bytes) -> str:
    if atyp == AddressType.IPV4:
        return _ipv4_text(raw)
    if atyp == AddressType.IPV6:
        return str(ipaddress.IPv6Address(raw))
    return raw.decode("utf-8", "backslashreplace")


def parse_request(buf: Buffer) -> tuple[Request, int] | None:
    """RFC 1928 §4: ``VER CMD RSV ATYP DST.ADDR DST.PORT``.

    An unknown CMD still parses (the server answers REP 0x07); an unknown ATYP cannot be
    parsed further and raises with REP 0x08; a domain that is empty, holds NUL or control
    characters or is not UTF-8 raises with REP 0x01 and the request attached.
    """
    if not buf:
        return None
    if buf[0] != Version.SOCKS5:
        raise RemoteProtocolError(
            f"expected VER 0x05 in the request, got 0x{buf[0]:02x}: {_hex(buf[:16])}",
            response=failure_reply(Reply.GENERAL_FAILURE),
        )
    if len(buf) < 4:
        return None
    try:
        end = _address_end(buf, 3)
    except KeyError:
        raise RemoteProtocolError(
            f"unsupported ATYP 0x{buf[3]:02x} in the request (expected 0x01, 0x03 or 0x04): "
            f"{_hex(buf[:16])}",
            response=failure_reply(Reply.ADDRESS_TYPE_NOT_SUPPORTED),
        ) from None
    if end is None:
        return None
    return _decode_request(bytes(buf[:end])), end


@functools.lru_cache(maxsize=_DECODED_CACHE_SIZE)
def _decode_request(message: bytes) -> Request:
    parsed = _parse_address(message, 3)
    assert parsed is not None  # framed by _address_end
    atyp, raw, port_at = parsed
    request = Request(
        command=coerce(message[1], Command),
        reserved=message[2],
        address_type=coerce(atyp, AddressType),
        host=_host_text(atyp, raw),
        port=int.from_bytes(message[port_at : port_at + 2], "big"),
        raw_address=raw,
    )
    if atyp == AddressType.DOMAIN:
        try:
            validate_domain(raw)
        except ValueError as exc:
            raise RemoteProtocolError(
                f"unusable DST.ADDR: {exc}",
                response=failure_reply(Reply.GENERAL_FAILURE),
                request=request,
            ) from None
    return request


def _find_nul(buf: Buffer, start: int, what: str, rejected: bytes) -> int:
    """Index of the NUL ending a field at ``start``, or -1 while it may still come.

    The limit is checked against the field's length whether or not its NUL has arrived,
    so the answer does not depend on how the stream was chunked.
    """
    end = buf.find(b"\x00", start, start + MAX_SOCKS4_FIELD + 1)
    if end < 0 and len(buf) - start > MAX_SOCKS4_FIELD:
        raise RemoteProtocolError(
            f"{what} longer than {MAX_SOCKS4_FIELD} bytes", response=rejected, version=4
        )
    return end


def parse_socks4_request(buf: Buffer) -> tuple[Socks4Request, int] | None:
    """SOCKS 4/4a: ``VN CD DSTPORT DSTIP USERID NUL``, then ``DOMAIN NUL`` for 4a."""
    if len(buf) < 9:
        return None
    user_end = _find_nul(buf, 8, "SOCKS4 USERID", _SOCKS4_REJECTED)
    if user_end < 0:
        return None
    end = user_end + 1
    if buf[4:7] == b"\x00\x00\x00" and buf[7] != 0:  # 0.0.0.x: SOCKS 4a, a domain follows
        domain_end = _find_nul(buf, end, "SOCKS4a domain", _SOCKS4_REJECTED)
        if domain_end < 0:
            return None
        end = domain_end + 1
    return _decode_socks4_request(bytes(buf[:end])), end


@functools.lru_cache(maxsize=_DECODED_CACHE_SIZE)
def _decode_socks4_request(message: bytes) -> Socks4Request:
    ip_raw = message[4:8]
    user_end = message.index(0, 8)
    command, port = message[1], int.from_bytes(message[2:4], "big")
    ip, user_id = _ipv4_text(ip_raw), message[8:user_end]
    if user_end + 1 == len(message):
        return Socks4Request(command=command, port=port, ip=ip, user_id=user_id, host=ip)
    domain = message[user_end + 1 : -1]
    request = Socks4Request(
        command=command,
        port=port,
        ip=ip,
        user_id=user_id,
        domain=domain,
        host=domain.decode("utf-8", "backslashreplace"),
    )
    try:
        validate_domain(domain)
    except ValueError as exc:
        raise RemoteProtocolError(
            f"unusable SOCKS4a domain: {exc}", response=_SOCKS4_REJECTED, request=request
        ) from None
    return request


def parse_udp_datagram(data: bytes) -> UdpDatagram:
    """RFC 1928 §7: a whole UDP datagram; raises :class:`ValueError` if it is malformed."""
    if len(data) < 4:
        raise ValueError(f"a SOCKS UDP header is at least 4 bytes, got {_hex(data)}")
    if data[0] or data[1]:
        raise ValueError(f"RSV must be X'0000', got {_hex(data[:2])}")
    try:
        parsed = _parse_address(data, 3)
    except KeyError:
        raise ValueError(f"unsupported ATYP {describe(data[3], AddressType)}") from None
    if parsed is None:
        raise ValueError(f"truncated SOCKS UDP header: {_hex(data[:32])}")
    atyp, raw, port_at = parsed
    if atyp == AddressType.DOMAIN:
        validate_domain(raw)
    return UdpDatagram(
        fragment=data[2],
        address_type=coerce(atyp, AddressType),
        host=_host_text(atyp, raw),
        raw_address=raw,
        port=int.from_bytes(data[port_at : port_at + 2], "big"),
        data=data[port_at + 2 :],
    )
