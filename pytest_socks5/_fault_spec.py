"""Faults as text, for ``python -m pytest_socks5 --fault SPEC``: the same catalog as
:mod:`pytest_socks5.faults`, so a suite in any language can use it.

Strategy: one pure function, :func:`parse_fault`, from a spec to a fault value; nothing
here knows argparse. The grammar::

    SPEC     = NAME [(":" | ",") ARGS]
    ARGS     = VALUES ["," KEYWORDS] | KEYWORDS
    VALUES   = VALUE {(":" | ",") VALUE}          a VALUE has no ":", "," or "="
             | "[" TEXT "]"                       ... unless in brackets: [::1]
    KEYWORDS = KEY "=" TEXT {"," KEY "=" TEXT}    a TEXT has no ","; it may hold ":"

``NAME`` is a fault's class name in any case, with or without ``_`` or ``-``
(``ReplyWith``, ``replywith``, ``reply-with``). ``KEY`` is any keyword of that class,
selection ones included (``host``, ``port``, ``times``, ``nth``, ``probability`` …);
``when`` takes a function and has no text form. Bare values fill the fault's main
keywords in the order of :data:`POSITIONAL`; a phase fault's may start with its phase
(``greeting``, ``auth``, ``request``, ``reply``) and a transfer fault's with its direction
(``from_client``, ``to_client``, ``both``) — words no other value can be, so leaving them
out is unambiguous: ``delay:request:0.01``, ``delay:0.5``, ``latency:to_client:0.05``. A
value with a ``:`` in it (an IPv6 address) is given as ``KEY=TEXT``
(``bound_host=::1``) or, bare, in brackets (``boundaddress:[::1]:80,bound_type=ipv6``).

Each text is converted by the keyword's declared type: numbers (``0x05`` or ``5``; ``reply``,
``method``, ``status``, ``command``, ``address_type`` and ``bound_type`` also take their
RFC names, ``connection_refused``), seconds as a decimal, ``true``/``false``, bytes as hex
(``05ff``), ``none`` for an optional keyword. The fault's own checks then run, so a spec
is refused with the same words as the constructor.
"""

from __future__ import annotations

import dataclasses
import enum
import re
from typing import Any

from ._checks import SWITCH_OFF, SWITCH_ON, did_you_mean
from ._fault_types import (
    Bandwidth,
    Blackhole,
    BoundAddress,
    Close,
    CloseAfter,
    Delay,
    Direction,
    FailAuth,
    Fault,
    ForceMethod,
    Fragment,
    Latency,
    Phase,
    RawAnswer,
    ReplyWith,
    ResetAfter,
    Slicer,
    SlowClose,
    Stall,
    TransferFault,
    Truncate,
    WrongVersion,
)
from ._protocol import AddressType, AuthMethod, AuthStatus, Command, Reply

__all__ = ["FAULTS", "POSITIONAL", "FaultSpecError", "parse_fault"]


class FaultSpecError(ValueError):
    """A ``--fault`` spec that does not make a fault; the message says why, in one line."""


#: The keywords bare values fill, in order (after the optional phase or direction).
POSITIONAL: dict[type[Fault], tuple[str, ...]] = {
    Stall: (),
    Delay: ("seconds",),
    Close: ("reset",),
    Truncate: ("length", "then"),
    WrongVersion: ("version",),
    RawAnswer: ("data", "then"),
    Fragment: ("size", "delay"),
    ForceMethod: ("method",),
    FailAuth: ("status",),
    ReplyWith: ("reply",),
    BoundAddress: ("bound_host", "bound_port"),
    Latency: ("seconds", "jitter"),
    Bandwidth: ("bytes_per_second",),
    Slicer: ("size", "delay"),
    Blackhole: ("after",),
    CloseAfter: ("after",),
    ResetAfter: ("after",),
    SlowClose: ("seconds",),
}

#: Every fault, by class name, in the order of the docs' catalog (``POSITIONAL``'s).
FAULTS: dict[str, type[Fault]] = {cls.__name__: cls for cls in POSITIONAL}

#: Integer keywords that also take the RFC's names.
_NAMED: dict[str, type[enum.IntEnum]] = {
    "reply": Reply,
    "method": AuthMethod,
    "status": AuthStatus,
    "command": Command,
    "address_type": AddressType,
    "bound_type": AddressType,
}
#: Text keywords with a fixed set of words (the fault classes do not check these).
_CHOICES: dict[str, tuple[str, ...]] = {"then": ("close", "stall")}
_PHASES = {phase.value for phase in Phase}
_DIRECTIONS = {"from_client", "to_client", "both", "upstream", "downstream"}
_TRUE, _FALSE = {*SWITCH_ON, "1"}, {*SWITCH_OFF, "0"}


def _key(name: str) -> str:
    return name.replace("_", "").replace("-", "").lower()


_BY_KEY = {_key(name): cls for name, cls in FAULTS.items()}


def parse_fault(spec: str) -> Fault:
    """The fault ``spec`` describes (see the module's grammar); raises
    :class:`FaultSpecError` saying what is wrong and what is valid."""
    try:
        return _parse(spec)
    except (TypeError, ValueError) as exc:  # ours, and the fault's own checks
        raise FaultSpecError(f"{spec!r}: {exc}") from None


def _parse(spec: str) -> Fault:
    # The name ends at the first ":" or ",": a value after it may hold a ":" (::1).
    name, *rest = re.split(r"[:,]", spec.strip(), maxsplit=1)
    cls = _fault_class(name.strip())
    values, keywords = _split(rest[0] if rest else "")
    kwargs = _positional(cls, values)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    for key, text in keywords:
        if key == "when":
            raise FaultSpecError("when= takes a Python function; it has no --fault form")
        if key not in fields:
            raise FaultSpecError(_unknown_keyword(cls, key))
        if key in kwargs:
            raise FaultSpecError(f"{key} is given twice")
        kwargs[key] = text
    converted: dict[str, Any] = {k: _convert(cls, fields[k], text) for k, text in kwargs.items()}
    return cls(**converted)


def _fault_class(name: str) -> type[Fault]:
    cls = _BY_KEY.get(_key(name))
    if cls is not None:
        return cls
    hint = did_you_mean(_key(name), {key: cls.__name__ for key, cls in _BY_KEY.items()})
    raise FaultSpecError(f"unknown fault {name!r}{hint}; the faults: {', '.join(FAULTS)}")


def _split(rest: str) -> tuple[list[str], list[tuple[str, str]]]:
    """``rest`` as bare values and ``(key, text)`` pairs, in the order given."""
    values: list[str] = []
    keywords: list[tuple[str, str]] = []
    if not rest.strip():
        return values, keywords
    for item in rest.split(","):
        key, equals, text = item.partition("=")
        if equals:
            keywords.append((key.strip().lower().replace("-", "_"), text.strip()))
        elif keywords:
            raise FaultSpecError(f"the value {item!r} comes after a key=value")
        else:
            values.extend(_values(item))
    if any(not value for value in values):
        raise FaultSpecError("an empty value (two separators in a row?)")
    return values, keywords


def _values(item: str) -> list[str]:
    """The bare values of ``item`` (no ``,``), split at ``:`` but for one in brackets:
    ``[::1]:80`` is ``::1`` and ``80``."""
    values: list[str] = []
    rest = item.strip()
    while True:
        if rest.startswith("["):
            inside, bracket, after = rest[1:].partition("]")
            after = after.strip()
            if not bracket or (after and not after.startswith(":")):
                raise FaultSpecError(
                    f"the value {item.strip()!r}: a value in brackets is written [TEXT] "
                    "and ends before a ':' or ','"
                )
            values.append(inside.strip())
        else:
            value, _, after = rest.partition(":")
            values.append(value.strip())
            after = ":" + after if _ else ""
        if not after:
            return values
        rest = after[1:].strip()


def _positional(cls: type[Fault], values: list[str]) -> dict[str, str]:
    """The bare values, named: the optional phase or direction first, then POSITIONAL."""
    names = list(POSITIONAL[cls])
    leading = {"at": _PHASES} if "at" in cls.__dataclass_fields__ else {}
    if issubclass(cls, TransferFault):
        leading = {"direction": _DIRECTIONS}
    kwargs: dict[str, str] = {}
    for key, words in leading.items():
        if values and values[0].lower() in words:
            kwargs[key] = values.pop(0)
    shown = " then ".join(names) if names else "no other value"
    lead = "".join(f"[{key}] " for key in leading)
    takes = f"{cls.__name__} takes {lead}{shown}"
    for key, words in leading.items():
        # A word in the phase's or direction's place that is not one: with too many
        # values, or a near miss of one (to_clinet), rather than a value for the next.
        word = values[0] if values else ""
        near = did_you_mean(word.lower(), sorted(words))
        number = word.replace(".", "", 1).isdigit()
        if key not in kwargs and word and not number and (near or len(values) > len(names)):
            what = "phase" if key == "at" else "direction"
            raise FaultSpecError(
                f"{word!r} is not a {what}{near}; "
                f"{takes}, where {key} is one of: {', '.join(sorted(words))}"
            )
    if len(values) > len(names):
        raise FaultSpecError(f"too many values: {takes} (give the rest as key=value)")
    kwargs.update(zip(names, values, strict=False))
    return kwargs


def _unknown_keyword(cls: type[Fault], key: str) -> str:
    selection = [f.name for f in dataclasses.fields(Fault) if f.name != "when"]
    own = [f.name for f in dataclasses.fields(cls) if f.name not in (*selection, "when")]
    valid = own + selection
    hint = did_you_mean(key, valid)
    return f"{cls.__name__} has no keyword {key!r}{hint}; its keywords: {', '.join(valid)}"


def _convert(cls: type[Fault], field: dataclasses.Field[object], text: str) -> object:
    """``text`` as the value ``field`` declares (its annotation is a string here)."""
    kind = str(field.type)
    try:
        if "None" in kind and text.lower() == "none":
            return None
        if "Phase" in kind:
            return Phase(text.lower())
        if "Direction" in kind:
            return Direction(text.lower())
        if "bytes" in kind:
            return bytes.fromhex(text)
        if kind.startswith("bool"):
            return _bool(text)
        if kind.startswith("int"):
            return _int(field.name, text)
        if kind.startswith("float"):
            return float(text)
        if field.name in _CHOICES and text.lower() not in _CHOICES[field.name]:
            raise ValueError(text)
    except ValueError:
        raise FaultSpecError(
            f"{cls.__name__} {field.name}={text}: expected {_expected(field.name, kind)}"
        ) from None
    if kind not in ("str", "str | None"):
        raise FaultSpecError(f"{cls.__name__} {field.name} has no text form")
    return text.lower() if field.name in _CHOICES else text


def _bool(text: str) -> bool:
    word = text.lower()
    if word not in _TRUE | _FALSE:
        raise ValueError(text)
    return word in _TRUE


def _int(name: str, text: str) -> int:
    named = _NAMED.get(name)
    if named is not None and text.upper() in named.__members__:
        return int(named[text.upper()])
    try:
        return int(text, 0)
    except ValueError:
        return int(text, 10)  # "010": leading zeros, not octal


def _expected(name: str, kind: str) -> str:
    optional = " or none" if "None" in kind else ""
    if name in _CHOICES:
        return " or ".join(_CHOICES[name])
    if "Phase" in kind:
        return "a phase: " + ", ".join(sorted(_PHASES))
    if "Direction" in kind:
        return "a direction: from_client, to_client or both"
    if "bytes" in kind:
        return "bytes as hex, like 05ff" + optional
    if kind.startswith("bool"):
        return "true or false"
    if kind.startswith("float"):
        return "seconds (or a number), like 0.5" + optional
    named = _NAMED.get(name)
    if named is not None:
        names = ", ".join(member.name.lower() for member in named)
        return f"a number (0x05 or 5) or one of {names}" + optional
    return "a whole number" + optional
