"""Host mapping: send a requested name (or ``name:port``) somewhere local, to a virtual
destination inside the proxy, or declare it unresolvable, before any DNS lookup happens.

Strategy: pure policy, no I/O (the virtual destinations are served by ``_virtual.py``).
Names compare in one form (:func:`host_key`: lower case, no trailing dot, IDNA), so a
key matches whatever form a client sends; :func:`check_host_map` refuses, where the map
is given, a key or a target that could never be used.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from ._checks import KnownArguments, boolean, fail_type, fail_value, is_address
from ._checks import port as check_port
from ._field_values import FieldValues
from ._public import public

__all__ = [
    "ECHO",
    "Echo",
    "HostMap",
    "Sink",
    "Target",
    "Unresolvable",
    "VirtualDestination",
    "check_host_map",
    "describe_target",
    "host_key",
    "is_mapped",
    "map_destination",
]


@dataclass(frozen=True, kw_only=True, slots=True, repr=False, eq=False)
class Echo(KnownArguments, FieldValues):
    """A virtual destination inside the proxy that sends back what it receives: every
    byte of a TCP tunnel (and the end of the stream), every UDP datagram. Use the
    instance :data:`ECHO`."""

    def __repr__(self) -> str:
        return "ECHO"


#: Map a name to ``ECHO`` and the proxy itself plays an echo server for it.
ECHO: Final = Echo()


@public
@dataclass(frozen=True, kw_only=True, slots=True, repr=False, eq=False)
class Sink(KnownArguments, FieldValues):
    """A virtual destination inside the proxy that swallows what it receives and answers
    with a fixed ``response``.

    Over TCP the response goes out once the client's first bytes arrive (at once, like a
    server banner, with ``on_connect=True``); with ``close`` (the default) the sink then
    ends its side of the stream. Everything the client sends is read and discarded. Over
    UDP, each datagram is answered with ``response`` (not at all when it is empty).
    ``Sink()`` is a plain discard server.

    ``response`` is bytes (a ``bytearray`` or ``memoryview`` is kept as ``bytes``);
    ``on_connect`` and ``close`` are ``True`` or ``False``. Anything else is refused here.
    """

    response: bytes = b""
    on_connect: bool = False
    close: bool = True

    def __post_init__(self) -> None:
        response = self.response
        if not isinstance(response, bytes | bytearray | memoryview):
            short = isinstance(response, str) and len(response) <= 40
            hint = f" (did you mean {response.encode()!r}?)" if short else ""
            raise fail_type("Sink: response", "bytes", response, hint)
        object.__setattr__(self, "response", bytes(response))
        boolean("Sink: on_connect", self.on_connect)
        boolean("Sink: close", self.close)


#: What a ``host_map`` entry can point at besides an address.
VirtualDestination = Echo | Sink
#: Where a request goes once ``host_map`` is applied: an address, or a virtual destination.
Target = tuple[str, int] | VirtualDestination

#: ``{"api.example.test": "127.0.0.1:8080", "db.example.test:5432": "127.0.0.1",
#: "echo.test": ECHO, "gone.example.test": None}``: a value without a port keeps the
#: requested port; ``None`` makes the name unresolvable (the reply is REP 0x04, host
#: unreachable); ``ECHO`` or a :class:`Sink` is served by the proxy itself.
HostMap = Mapping[str, "str | Echo | Sink | None"]


class Unresolvable(LookupError):
    """The host map declares the name unresolvable."""


_MISSING: Final = object()


def _split(value: str, default_port: int) -> tuple[str, int]:
    if value.startswith("["):
        host, _, rest = value[1:].partition("]")
        return host, int(rest[1:]) if rest.startswith(":") else default_port
    if value.count(":") == 1:
        host, _, port = value.partition(":")
        return host, int(port)
    return value, default_port


@functools.lru_cache(maxsize=1024)
def host_key(name: str) -> str:
    """A name as ``host_map`` compares it: without a trailing dot, lower case, and in its
    IDNA (``xn--``) form, so ``bücher.example.test`` and ``xn--bcher-kva.example.test``
    are one name. Addresses are kept, and so is a name whose characters IDNA refuses (a
    hostile client may send it byte for byte; :func:`check_host_map` refuses such a key);
    a name with an empty label or a label over 63 bytes is a ``ValueError``."""
    name = name.rstrip(".").lower()
    if is_address(name):
        return name
    labels = name.split(".")
    if not all(labels) or any(len(label.encode()) > 63 for label in labels):
        raise ValueError(f"{name!r} is not a domain name: a label is empty or over 63 bytes")
    try:
        return name.encode("idna").decode("ascii")
    except UnicodeError:
        return name


def _key(text: str) -> str:
    """``host_key`` of a key's name, its ``:port`` kept."""
    name, port = _split_key(text)
    return host_key(name) if port is None else f"{host_key(name)}:{port}"


def _split_key(text: str) -> tuple[str, int | None]:
    if text.startswith("["):
        inside, bracket, rest = text[1:].partition("]")
        if not bracket or (rest and not rest[1:].isdigit()) or (rest and rest[0] != ":"):
            raise ValueError("an IPv6 key is written [address] or [address]:port")
        return inside, int(rest[1:]) if rest else None
    if text.count(":") == 1:
        name, _, port = text.partition(":")
        if not port.isdigit():
            raise ValueError(f"the port {port!r} is not a number")
        return name, int(port)
    return text, None


def _request_key(host: str) -> str:
    try:
        return host_key(host)
    except ValueError:
        return host.rstrip(".").lower()


@functools.lru_cache(maxsize=1024)
def _candidate_key(key: str) -> str:
    """A key of a map built without :func:`check_host_map`, compared as it would be."""
    try:
        return _key(key)
    except ValueError:
        return key.rstrip(".").lower()


def _entry(host_map: HostMap, host: str, port: int) -> object:
    """The value for ``host:port`` or ``host``, or ``_MISSING``."""
    if not host_map:
        return _MISSING
    name = _request_key(host)
    for key in (f"{name}:{port}", name):
        value = host_map.get(key, _MISSING)
        if value is not _MISSING:
            return value
        for candidate, value in host_map.items():
            if _candidate_key(candidate) == key:
                return value
    return _MISSING


_VALUE = 'an "address[:port]" string, ECHO, a Sink or None'


def check_host_map(name: str, value: object) -> dict[str, str | Echo | Sink | None]:
    """``host_map=``: every key a name, ``name:port``, address or ``[address]:port`` that
    normalises (:func:`host_key`); every value an IP address or ``localhost`` (no other
    name: the proxy looks none up) with an optional port, ECHO, a :class:`Sink` or
    ``None``. Keys are kept normalised."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise fail_type(name, "a mapping {name: target}", value)
    checked: dict[str, str | Echo | Sink | None] = {}
    for key, target in value.items():
        where = f"{name}[{key!r}]"
        if not isinstance(key, str):
            raise fail_type(f"{name} key {key!r}", 'a name or "name:port"', key)
        try:
            host, port = _split_key(key)
            if port is not None:
                check_port("its port", port)
            if not host or any(c in " \t\r\n\v\f/" for c in host):
                raise ValueError("a name cannot be empty or hold spaces")
            normal = _key(key)
            if not is_address(host):
                try:
                    host.rstrip(".").lower().encode("idna")
                except UnicodeError as exc:
                    raise ValueError(f"IDNA cannot encode it ({exc})") from None
        except ValueError as exc:
            raise ValueError(f"{name} key {key!r} cannot be used: {exc}") from None
        checked[normal] = _target(where, target)
    return checked


def _target(where: str, target: object) -> str | Echo | Sink | None:
    if target is None or isinstance(target, Echo | Sink):
        return target
    if isinstance(target, int) and not isinstance(target, bool):
        hint = f" (did you mean '127.0.0.1:{target}'?)" if 0 <= target <= 65535 else ""
        raise fail_type(where, _VALUE, target, hint)
    if not isinstance(target, str):
        raise fail_type(where, _VALUE, target)
    try:
        host, port = _split(target, 0)
    except ValueError:
        raise fail_value(where, _VALUE, target) from None
    if not host or any(c.isspace() for c in host) or target.startswith("[") != ("]" in target):
        raise fail_value(where, _VALUE, target)
    check_port(where + " port", port)
    loopback_name = host.lower().rstrip(".") == "localhost" and not target.startswith("[")
    if not (loopback_name or is_address(host)) or (target.startswith("[") and ":" not in host):
        raise fail_value(where, _VALUE, target, _not_an_address(host, target))
    return target


def _not_an_address(host: str, target: str) -> str:
    """Why a target's host is refused: the proxy looks no ``host_map`` value up but the
    loopback name ``localhost`` (pytest-httpserver's ``httpserver.host``, for one)."""
    if target.startswith("["):
        return f" ({host!r} is not an IPv6 address; brackets hold one)"
    return f" ({host!r} is not an IP address or localhost, the one name a value can be)"


def is_mapped(host_map: HostMap, host: str, port: int) -> bool:
    """Whether ``host_map`` has an entry (of any kind) for ``host:port``."""
    return _entry(host_map, host, port) is not _MISSING


def map_destination(
    host_map: HostMap, host: str, port: int
) -> tuple[str, int] | VirtualDestination:
    """Where to go for ``host:port``: an address to dial or a virtual destination.

    ``name:port`` entries win over ``name`` entries; names compare case-insensitively and
    without a trailing dot. Raises :class:`Unresolvable` for a name mapped to ``None``.
    """
    value = _entry(host_map, host, port)
    if value is _MISSING:
        return host, port
    if value is None:
        raise Unresolvable(f"{host} is declared unresolvable by host_map")
    if isinstance(value, Echo | Sink):
        return value
    assert isinstance(value, str)
    return _split(value, port)


def describe_target(target: tuple[str, int] | VirtualDestination) -> str:
    """``127.0.0.1:8080``, ``[::1]:53``, ``ECHO`` or ``Sink(response=<12 bytes>)``, for
    records."""
    if isinstance(target, Echo):
        return repr(target)
    if isinstance(target, Sink):
        return f"Sink(response=<{len(target.response)} bytes>)" if target.response else "Sink()"
    host, port = target
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
