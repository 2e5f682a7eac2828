"""Host mapping: send a requested name (or ``name:port``) somewhere local, to a virtual
destination inside the proxy, or declare it unresolvable, before any DNS lookup happens.
Pure policy, no I/O (the virtual destinations are served by ``_virtual.py``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

__all__ = [
    "ECHO",
    "Echo",
    "HostMap",
    "Sink",
    "Target",
    "Unresolvable",
    "VirtualDestination",
    "describe_target",
    "is_mapped",
    "map_destination",
]


@dataclass(frozen=True, kw_only=True, slots=True)
class Echo:
    """A virtual destination inside the proxy that sends back what it receives: every
    byte of a TCP tunnel (and the end of the stream), every UDP datagram. Use the
    instance :data:`ECHO`."""

    def __repr__(self) -> str:
        return "ECHO"


#: Map a name to ``ECHO`` and the proxy itself plays an echo server for it.
ECHO: Final = Echo()


@dataclass(frozen=True, kw_only=True, slots=True)
class Sink:
    """A virtual destination inside the proxy that swallows what it receives and answers
    with a fixed ``response``.

    Over TCP the response goes out once the client's first bytes arrive (at once, like a
    server banner, with ``on_connect=True``); with ``close`` (the default) the sink then
    ends its side of the stream. Everything the client sends is read and discarded. Over
    UDP, each datagram is answered with ``response`` (not at all when it is empty).
    ``Sink()`` is a plain discard server.
    """

    response: bytes = b""
    on_connect: bool = False
    close: bool = True


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


def _entry(host_map: HostMap, host: str, port: int) -> object:
    """The value for ``host:port`` or ``host``, or ``_MISSING``."""
    if not host_map:
        return _MISSING
    name = host.rstrip(".").lower()
    for key in (f"{name}:{port}", name):
        for candidate, value in host_map.items():
            if candidate.rstrip(".").lower() == key:
                return value
    return _MISSING


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
