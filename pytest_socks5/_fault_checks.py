"""What each fault argument accepts, by field name, for every fault class.

Strategy: the fault classes use each field name in one sense (``seconds`` is always a
duration, ``size`` always a slice of at least one byte, ``reply`` always a protocol
byte), so one table keyed by field name describes every fault's arguments, and
:func:`check_fields` checks a fault against it in ``__post_init__``. A field whose
default is ``None`` also accepts ``None``. ``at`` (a phase) and ``direction`` are
converted by their classes, which own the enums. A test holds the table to every field
of every fault class. Relations between fields are checked after them: a
``bound_host`` must be what its ``bound_type`` can encode (:func:`check_bound_host`), two
arguments that cannot both hold are not both given (:data:`_CONFLICTS`), and a fault
acting before the request selects on nothing the client has not sent yet
(:func:`check_known_at`). Pure.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from ._checks import (
    Check,
    boolean,
    bracket_hint,
    byte,
    callable_value,
    choice,
    fail_value,
    integer,
    number,
    optional,
    port,
    probability,
    raw_bytes,
    text,
)
from ._protocol import AddressType, encode_address

__all__ = ["FIELD_CHECKS", "OWN_CHECKS", "check_bound_host", "check_fields", "check_known_at"]

_SECONDS = number(low=0)


def _client_pattern(name: str, value: Any) -> str:
    """``client=``: an address, exact or a glob (``10.0.0.*``); a network in CIDR form
    would never match, as no address holds a ``/``, and is refused with what matches it."""
    pattern = text(name, value)
    if "/" in pattern:
        hint = ": a network in CIDR form never matches an address; " + _instead_of(pattern)
        raise fail_value(name, "a client address, exact or a glob", value, hint)
    return pattern


def _instead_of(network: str) -> str:
    """What selects the clients of ``network``: the glob that matches exactly them where
    there is one (an IPv4 network on a whole octet), else a ``when=`` predicate."""
    import ipaddress  # only for this mistake

    try:
        net = ipaddress.ip_network(network, strict=False)
    except ValueError:
        return "write an address or a glob such as 127.0.0.*"
    if net.prefixlen == net.max_prefixlen:
        return f"write the address {str(net.network_address)!r}"
    if net.version == 4 and net.prefixlen % 8 == 0:
        octets = str(net.network_address).split(".")[: net.prefixlen // 8]
        return f"write the glob {'.'.join([*octets, '*'])!r}"
    return (
        "select with when=lambda record: ipaddress.ip_address(record.client_address[0])"
        f" in ipaddress.ip_network({network!r})"
    )


def _host_selector(name: str, value: Any) -> str:
    """``host=``: a name, address or glob on the requested host, as a record holds it:
    an IPv6 address bare (in brackets, a glob would take it for a set of characters)."""
    host = text(name, value)
    if hint := bracket_hint(host):
        raise fail_value(name, "a host name, address or glob", value, hint)
    return host


FIELD_CHECKS: dict[str, Check] = {
    # selection (every fault)
    "host": _host_selector,
    "port": port,
    "command": byte,
    "address_type": byte,
    "username": text,
    "client": _client_pattern,
    "when": callable_value,
    "times": integer(low=1),
    "nth": integer(low=1),
    "probability": probability,
    "seed": integer(),
    # handshake faults
    "seconds": _SECONDS,
    "reset": boolean,
    "length": integer(low=0),
    "then": choice("close", "stall"),
    "version": byte,
    "data": raw_bytes,
    "size": integer(low=1),
    "delay": _SECONDS,
    "split": integer(low=1),
    "method": byte,
    "status": byte,
    "reply": byte,
    "http_status": integer(low=400, high=599),
    "bound_type": byte,
    "bound_host": text,
    "bound_port": port,
    "raw": raw_bytes,
    # transfer faults
    "jitter": _SECONDS,
    "bytes_per_second": integer(low=1),
    "after": integer(low=0),
    # custom faults
    "function": callable_value,
}

#: Fields their classes convert themselves (into a ``Phase`` or a ``Direction``).
OWN_CHECKS = frozenset({"at", "direction"})


#: Arguments that cannot both hold, with what each does: give one or the other.
_CONFLICTS = (
    ("times", "the first N matching connections", "nth", "only the Nth"),
    ("size", "slices of N bytes", "split", "two pieces: N bytes, then the rest"),
)
#: The selection fields a client sends with its request (with the sub-negotiation:
#: ``username``): a fault acting before cannot select on them.
_REQUEST_FIELDS = ("host", "port", "command", "address_type")


def check_known_at(fault: Any, phase: str | None) -> None:
    """A fault acting at the greeting or the sub-negotiation (``phase``) selects only on
    what the client has sent by then: an error, not a silent never-match."""
    if phase not in ("greeting", "auth"):
        return
    known_later = [n for n in _REQUEST_FIELDS if getattr(fault, n) is not None]
    if phase == "greeting" and fault.username is not None:
        known_later.append("username")
    if known_later:
        raise ValueError(
            f"{type(fault).__name__} acts at the {phase}, before the client has sent "
            f"{', '.join(known_later)}; select on client= or when= instead"
        )


def check_fields(fault: Any) -> None:
    """Check every field of the dataclass ``fault`` against :data:`FIELD_CHECKS`, then the
    arguments that cannot both hold (:data:`_CONFLICTS`)."""
    kind = type(fault).__name__
    for field in dataclasses.fields(fault):
        if field.name in OWN_CHECKS:
            continue
        check = FIELD_CHECKS.get(field.name)
        if check is None:  # a field of a custom fault: its class checks it
            continue
        if field.default is None:
            check = optional(check)
        check(f"{kind}: {field.name}", getattr(fault, field.name))
    for one, does, other, instead in _CONFLICTS:
        first, second = getattr(fault, one, None), getattr(fault, other, None)
        if first is not None and second is not None:
            raise ValueError(
                f"{kind} takes {one}= ({does}) or {other}= ({instead}), not both; "
                f"got {one}={first!r}, {other}={second!r}: choose one"
            )
    if hasattr(fault, "bound_host"):
        check_bound_host(kind, fault.bound_type, fault.bound_host, fault.raw)


#: What a ``bound_host`` must be for each ATYP that has an encoding.
_BOUND_HOSTS = {
    AddressType.IPV4: "an IPv4 address",
    AddressType.IPV6: "an IPv6 address",
    AddressType.DOMAIN: "a name of 1 to 255 bytes",
}


def check_bound_host(kind: str, bound_type: int, bound_host: str, raw: bytes | None) -> None:
    """``BoundAddress``: without ``raw``, ``bound_host`` must encode as ``bound_type``
    (an IPv4 address for 0x01, a name for 0x03, an IPv6 address for 0x04). An ATYP with
    no encoding (``0x00``) sends no address bytes, and ``raw`` any bytes: those are the
    deliberately invalid replies, and stay accepted."""
    expected = _BOUND_HOSTS.get(bound_type)  # type: ignore[call-overload]
    if raw is not None or expected is None:
        return
    try:
        encode_address(bound_type, bound_host)
    except ValueError:  # UnicodeError (IDNA) is one
        atyp = f"bound_type 0x{bound_type:02x} ({AddressType(bound_type).name})"
        hint = "; another bound_type fits other hosts, and raw= sends address bytes as given"
        hint = bracket_hint(bound_host) or hint
        raise fail_value(
            f"{kind}: bound_host", f"{expected} for {atyp}", bound_host, hint
        ) from None
