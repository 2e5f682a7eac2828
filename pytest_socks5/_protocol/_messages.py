"""Frozen, keyword-only messages of RFC 1928, RFC 1929 and SOCKS 4/4a.

Strategy: a message holds exactly what the wire held. Fields whose byte the RFC does not
name keep the plain ``int`` (so a recorder can say "the client sent CMD 0x09"), and every
address keeps its ``raw_address`` bytes beside the decoded ``host`` text, because "what did
the client really send" is the question tests ask most. ``to_bytes()`` encodes a message;
the parsers in ``_parse.py`` decode one.
"""

from __future__ import annotations

import functools
import ipaddress
import struct
from dataclasses import dataclass

from ._enums import AddressType, AuthMethod, Reply, Socks4Reply, Version

__all__ = [
    "AuthReply",
    "AuthRequest",
    "Greeting",
    "MethodSelection",
    "Request",
    "ServerReply",
    "Socks4Request",
    "Socks4Response",
    "UdpDatagram",
    "address_type_for",
    "encode_address",
]


@functools.lru_cache(maxsize=1024)
def encode_address(address_type: int, host: str) -> bytes:
    """Encode ``ATYP DST.ADDR`` (without the port) for IPv4, IPv6 or a domain name."""
    if address_type == AddressType.IPV4:
        return bytes((address_type,)) + ipaddress.IPv4Address(host).packed
    if address_type == AddressType.IPV6:
        return bytes((address_type,)) + ipaddress.IPv6Address(host).packed
    if address_type == AddressType.DOMAIN:
        raw = host.encode("idna") if not host.isascii() else host.encode("ascii")
        if not 0 < len(raw) <= 255:
            raise ValueError(f"a domain name is 1 to 255 bytes, not {len(raw)}: {host!r}")
        return bytes((address_type, len(raw))) + raw
    raise ValueError(f"no encoding is defined for ATYP 0x{address_type:02x}")


@functools.lru_cache(maxsize=1024)
def address_type_for(host: str) -> AddressType:
    """The ATYP that fits ``host``: an IPv4 or IPv6 literal, or else a domain name."""
    try:
        parsed = ipaddress.ip_address(host)
    except ValueError:
        return AddressType.DOMAIN
    return AddressType.IPV4 if parsed.version == 4 else AddressType.IPV6


@dataclass(frozen=True, kw_only=True, slots=True)
class Greeting:
    """RFC 1928 §3, client → server: ``VER NMETHODS METHODS``."""

    methods: tuple[int, ...]
    version: int = Version.SOCKS5

    def to_bytes(self) -> bytes:
        return bytes((self.version, len(self.methods), *self.methods))


@dataclass(frozen=True, kw_only=True, slots=True)
class MethodSelection:
    """RFC 1928 §3, server → client: ``VER METHOD``."""

    method: int
    version: int = Version.SOCKS5

    def to_bytes(self) -> bytes:
        return bytes((self.version, self.method))

    @property
    def refuses(self) -> bool:
        """``True`` for X'FF': "the client MUST close the connection"."""
        return self.method == AuthMethod.NO_ACCEPTABLE_METHODS


@dataclass(frozen=True, kw_only=True, slots=True)
class AuthRequest:
    """RFC 1929, client → server: ``VER ULEN UNAME PLEN PASSWD`` (raw bytes, undecoded)."""

    username: bytes
    password: bytes
    version: int = Version.USERNAME_PASSWORD

    def to_bytes(self) -> bytes:
        return (
            bytes((self.version, len(self.username)))
            + self.username
            + bytes((len(self.password),))
            + self.password
        )


@dataclass(frozen=True, kw_only=True, slots=True)
class AuthReply:
    """RFC 1929, server → client: ``VER STATUS``."""

    status: int
    version: int = Version.USERNAME_PASSWORD

    def to_bytes(self) -> bytes:
        return bytes((self.version, self.status))


@dataclass(frozen=True, kw_only=True, slots=True)
class Request:
    """RFC 1928 §4, client → server: ``VER CMD RSV ATYP DST.ADDR DST.PORT``.

    ``host`` is the text form of the address (a dotted quad, an IPv6 literal without
    brackets, or the domain name decoded as UTF-8); ``raw_address`` is ``DST.ADDR`` exactly
    as sent (for a domain: the name bytes, without the length byte).
    """

    command: int
    address_type: int
    host: str
    port: int
    raw_address: bytes
    reserved: int = 0
    version: int = Version.SOCKS5

    def to_bytes(self) -> bytes:
        if self.address_type == AddressType.DOMAIN:
            addr = bytes((self.address_type, len(self.raw_address))) + self.raw_address
        else:
            addr = bytes((self.address_type,)) + self.raw_address
        return bytes((self.version, self.command, self.reserved)) + addr + _port(self.port)


@dataclass(frozen=True, kw_only=True, slots=True)
class ServerReply:
    """RFC 1928 §6, server → client: ``VER REP RSV ATYP BND.ADDR BND.PORT``.

    ``raw_address`` overrides the encoding of ``BND.ADDR`` (and its length byte, for a
    domain) so that deliberately odd replies, such as ATYP 0x00, can be built.
    """

    reply: int
    address_type: int = AddressType.IPV4
    host: str = "0.0.0.0"
    port: int = 0
    raw_address: bytes | None = None
    reserved: int = 0
    version: int = Version.SOCKS5

    @property
    def succeeded(self) -> bool:
        return self.reply == Reply.SUCCEEDED

    def to_bytes(self) -> bytes:
        if self.raw_address is not None:
            addr = bytes((self.address_type,)) + self.raw_address
        else:
            addr = encode_address(self.address_type, self.host)
        return bytes((self.version, self.reply, self.reserved)) + addr + _port(self.port)


@dataclass(frozen=True, kw_only=True, slots=True)
class Socks4Request:
    """SOCKS 4 / 4a, client → server: ``VN CD DSTPORT DSTIP USERID NUL [DOMAIN NUL]``.

    For 4a (``DSTIP`` is ``0.0.0.x`` with x ≠ 0) ``domain`` holds the name and ``host``
    is that name; otherwise ``host`` is the dotted quad and ``domain`` is ``None``.
    """

    command: int
    port: int
    ip: str
    user_id: bytes
    domain: bytes | None = None
    host: str = ""
    version: int = Version.SOCKS4

    @property
    def is_4a(self) -> bool:
        return self.domain is not None

    def to_bytes(self) -> bytes:
        out = (
            bytes((self.version, self.command))
            + _port(self.port)
            + ipaddress.IPv4Address(self.ip).packed
            + self.user_id
            + b"\x00"
        )
        if self.domain is not None:
            out += self.domain + b"\x00"
        return out


@dataclass(frozen=True, kw_only=True, slots=True)
class Socks4Response:
    """SOCKS 4, server → client: ``VN CD DSTPORT DSTIP`` (VN is 0)."""

    status: int = Socks4Reply.GRANTED
    port: int = 0
    ip: str = "0.0.0.0"

    @property
    def succeeded(self) -> bool:
        return self.status == Socks4Reply.GRANTED

    def to_bytes(self) -> bytes:
        return bytes((0, self.status)) + _port(self.port) + ipaddress.IPv4Address(self.ip).packed


@dataclass(frozen=True, kw_only=True, slots=True)
class UdpDatagram:
    """RFC 1928 §7: ``RSV FRAG ATYP DST.ADDR DST.PORT DATA`` carried in one UDP datagram."""

    address_type: int
    host: str
    port: int
    data: bytes
    raw_address: bytes = b""
    fragment: int = 0

    def to_bytes(self) -> bytes:
        if self.raw_address and self.address_type == AddressType.DOMAIN:
            addr = bytes((self.address_type, len(self.raw_address))) + self.raw_address
        elif self.raw_address:
            addr = bytes((self.address_type,)) + self.raw_address
        else:
            addr = encode_address(self.address_type, self.host)
        return b"\x00\x00" + bytes((self.fragment,)) + addr + _port(self.port) + self.data


_PORT = struct.Struct("!H")


def _port(port: int) -> bytes:
    return _PORT.pack(port)
