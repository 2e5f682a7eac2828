"""The wire vocabulary of RFC 1928, RFC 1929 and SOCKS 4/4a, named after the RFC tables.

Every enum is an :class:`~enum.IntEnum`, so a member compares equal to its byte value and
a raw byte that the RFC does not name can still be carried around as a plain ``int``.
"""

from __future__ import annotations

import enum

__all__ = [
    "AddressType",
    "AuthMethod",
    "AuthStatus",
    "Command",
    "Reply",
    "Socks4Command",
    "Socks4Reply",
    "Version",
    "describe",
    "name_of",
]


class Version(enum.IntEnum):
    """The ``VER`` byte that opens every client message."""

    SOCKS4 = 0x04
    SOCKS5 = 0x05
    #: RFC 1929: "The VER field contains the current version of the subnegotiation,
    #: which is X'01'."
    USERNAME_PASSWORD = 0x01


class AuthMethod(enum.IntEnum):
    """RFC 1928 §3, ``METHOD``: the authentication methods a client may offer."""

    NO_AUTHENTICATION_REQUIRED = 0x00
    GSSAPI = 0x01
    USERNAME_PASSWORD = 0x02
    NO_ACCEPTABLE_METHODS = 0xFF


class AuthStatus(enum.IntEnum):
    """RFC 1929: "A STATUS field of X'00' indicates success. If the server returns a
    'failure' (STATUS value other than X'00') status, it MUST close the connection." """

    SUCCESS = 0x00
    FAILURE = 0x01


class Command(enum.IntEnum):
    """RFC 1928 §4, ``CMD``."""

    CONNECT = 0x01
    BIND = 0x02
    UDP_ASSOCIATE = 0x03


class AddressType(enum.IntEnum):
    """RFC 1928 §4/§5, ``ATYP``."""

    IPV4 = 0x01
    DOMAIN = 0x03
    IPV6 = 0x04


class Reply(enum.IntEnum):
    """RFC 1928 §6, ``REP``."""

    SUCCEEDED = 0x00
    GENERAL_FAILURE = 0x01
    CONNECTION_NOT_ALLOWED = 0x02
    NETWORK_UNREACHABLE = 0x03
    HOST_UNREACHABLE = 0x04
    CONNECTION_REFUSED = 0x05
    TTL_EXPIRED = 0x06
    COMMAND_NOT_SUPPORTED = 0x07
    ADDRESS_TYPE_NOT_SUPPORTED = 0x08


class Socks4Command(enum.IntEnum):
    """SOCKS 4, ``CD`` in a request."""

    CONNECT = 0x01
    BIND = 0x02


class Socks4Reply(enum.IntEnum):
    """SOCKS 4, ``CD`` in a reply."""

    GRANTED = 0x5A
    REJECTED = 0x5B
    IDENTD_UNREACHABLE = 0x5C
    IDENTD_MISMATCH = 0x5D


_ENUMS_BY_FIELD: dict[str, type[enum.IntEnum]] = {
    "method": AuthMethod,
    "command": Command,
    "address_type": AddressType,
    "reply": Reply,
    "status": AuthStatus,
    "socks4_command": Socks4Command,
    "socks4_reply": Socks4Reply,
}


def describe(value: int, enum_type: type[enum.IntEnum]) -> str:
    """``0x05 (CONNECTION_REFUSED)`` for a named value, ``0x2a (unassigned)`` otherwise."""
    return f"0x{value:02x} ({name_of(value, enum_type) or 'unassigned'})"


def name_of(value: int, enum_type: type[enum.IntEnum]) -> str | None:
    """The RFC's name for ``value`` (``"CONNECT"``), ``None`` if it names none. Looked up
    in the enum's own table, not through ``enum_type(value)``, whose constructor and
    ``.name`` run in Python: a log line names three codes."""
    member = enum_type._value2member_map_.get(value)
    return None if member is None else member._name_


def coerce(value: int, enum_type: type[enum.IntEnum]) -> int:
    """Return the enum member for ``value`` when the RFC names it, else the plain int."""
    return enum_type._value2member_map_.get(value, value)  # type: ignore[return-value]
