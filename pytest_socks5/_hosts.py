"""Host mapping: send a requested name (or ``name:port``) somewhere local, or declare it
unresolvable, before any DNS lookup happens. Pure policy, no I/O."""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["HostMap", "Unresolvable", "map_destination"]

#: ``{"api.example.test": "127.0.0.1:8080", "db.example.test:5432": "127.0.0.1",
#: "gone.example.test": None}``: a value without a port keeps the requested port;
#: ``None`` makes the name unresolvable (the reply is REP 0x04, host unreachable).
HostMap = Mapping[str, "str | None"]


class Unresolvable(LookupError):
    """The host map declares the name unresolvable."""


def _split(value: str, default_port: int) -> tuple[str, int]:
    if value.startswith("["):
        host, _, rest = value[1:].partition("]")
        return host, int(rest[1:]) if rest.startswith(":") else default_port
    if value.count(":") == 1:
        host, _, port = value.partition(":")
        return host, int(port)
    return value, default_port


def map_destination(host_map: HostMap, host: str, port: int) -> tuple[str, int]:
    """Where to dial for ``host:port``: ``name:port`` entries win over ``name`` entries;
    names compare case-insensitively and without a trailing dot."""
    if not host_map:
        return host, port
    name = host.rstrip(".").lower()
    for key in (f"{name}:{port}", name):
        for candidate, value in host_map.items():
            if candidate.rstrip(".").lower() == key:
                if value is None:
                    raise Unresolvable(f"{host} is declared unresolvable by host_map")
                return _split(value, port)
    return host, port
