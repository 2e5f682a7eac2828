"""The one way an input is checked: small validators that name the input, show the bad
value, say what is valid, and suggest the near miss.

Strategy: a :data:`Check` is a function ``(name, value) -> value`` that returns the value
(perhaps normalised) or raises :class:`TypeError` (wrong kind of value) or
:class:`ValueError` (right kind, outside the range or not one of the choices). The
factories here build them from a description (``integer(low=1)``, ``choice("close",
"stall")``, ``optional(port)``), so the option table, the faults, ``UdpFaults`` and
``Rule`` declare what they accept instead of writing ``if`` s, and every message reads
the same: ``"<name> must be <what>, got <value>"``. ``bool`` is never taken for a number,
and a ``str`` never for a sequence of values. Pure; imports nothing of the package.
"""

from __future__ import annotations

import inspect
import ipaddress
import math
from collections.abc import Callable, Iterable, Mapping
from typing import Any

__all__ = [
    "SWITCH_OFF",
    "SWITCH_ON",
    "Check",
    "KnownArguments",
    "boolean",
    "bracket_hint",
    "byte",
    "callable_value",
    "choice",
    "did_you_mean",
    "fail_type",
    "fail_value",
    "instance",
    "integer",
    "is_address",
    "listen_port",
    "number",
    "optional",
    "port",
    "probability",
    "raw_bytes",
    "sequence",
    "text",
]

#: ``(name, value) -> value``: the value as kept, or a ``TypeError``/``ValueError``.
Check = Callable[[str, Any], Any]


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def fail_type(name: str, expected: str, value: Any, hint: str = "") -> TypeError:
    """``TypeError("<name> must be <expected>, got <value> (<type>)<hint>")``."""
    kind = type(value).__name__
    return TypeError(f"{name} must be {expected}, got {_shown(value)} ({kind}){hint}")


def fail_value(name: str, expected: str, value: Any, hint: str = "") -> ValueError:
    """``ValueError("<name> must be <expected>, got <value><hint>")``."""
    return ValueError(f"{name} must be {expected}, got {_shown(value)}{hint}")


def did_you_mean(value: object, choices: Iterable[str] | Mapping[str, str]) -> str:
    """``" (did you mean users?)"`` for the nearest of ``choices``, or ``""``. Given a
    mapping, the nearest key is shown as its value (``"closed"``: ``Outcome.CLOSED``)."""
    if not isinstance(value, str):
        return ""
    import difflib  # only for a mistake: not at start-up

    keys = list(choices)
    near = difflib.get_close_matches(value, keys, n=1, cutoff=0.6)
    if not near:
        lowered = {c.lower(): c for c in keys}
        near = [lowered[value.lower()]] if value.lower() in lowered else []
    if not near:
        return ""
    return f" (did you mean {choices[near[0]] if isinstance(choices, Mapping) else near[0]}?)"


class KnownArguments:
    """Mixin for a keyword-only value class (a fault, :class:`UdpFaults`, a rule, a virtual
    destination): an unknown keyword is a :exc:`TypeError` that suggests the nearest
    known one and lists them all, where Python's own says only "unexpected keyword
    argument". A class whose ``__init__`` takes ``**kwargs`` is not checked."""

    __slots__ = ()

    def __new__(cls, /, *args: Any, **kwargs: Any) -> Any:
        known = _known_arguments(cls)
        unknown = [name for name in kwargs if known is not None and name not in known]
        if unknown:
            assert known is not None
            raise TypeError(
                f"{cls.__name__}: unknown argument(s): {', '.join(unknown)}"
                f"{did_you_mean(unknown[0], known)}; known: {', '.join(known)}"
            )
        return super().__new__(cls)


#: The keyword names each checked class takes (``None``: any, ``**kwargs``).
_KNOWN: dict[type, tuple[str, ...] | None] = {}


def _known_arguments(cls: type) -> tuple[str, ...] | None:
    """The keyword names ``cls(...)`` takes, the class's own first (those of the class
    it derives from after), or ``None`` if it takes ``**kwargs``."""
    if cls in _KNOWN:
        return _KNOWN[cls]
    init: Callable[..., None] = getattr(cls, "__init__")  # noqa: B009  # (mypy: cls.__init__)
    parameters = list(inspect.signature(init).parameters.values())[1:]  # self
    if any(p.kind is p.VAR_KEYWORD for p in parameters):
        names = None
    else:
        named = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
        taken = [p.name for p in parameters if p.kind in named]
        declared = (n for k in cls.__mro__ for n in vars(k).get("__annotations__", ()))
        names = tuple(dict.fromkeys([n for n in declared if n in taken] + taken))
    _KNOWN[cls] = names
    return names


def boolean(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise fail_type(name, "True or False", value)
    return value


def text(name: str, value: Any) -> str:
    if not isinstance(value, str):
        raise fail_type(name, "a str", value)
    return value


def raw_bytes(name: str, value: Any) -> bytes:
    if not isinstance(value, bytes):
        raise fail_type(name, "bytes", value)
    return value


def callable_value(name: str, value: Any) -> Any:
    if not callable(value):
        raise fail_type(name, "a callable", value)
    return value


def _range(low: float | None, high: float | None, above: float | None) -> str:
    if low is not None and high is not None and above is None:
        return f"from {_bound(low)} to {_bound(high)}"
    parts = []
    if above is not None:
        parts.append(f"> {_bound(above)}")
    if low is not None:
        parts.append(f">= {_bound(low)}")
    if high is not None:
        parts.append(f"<= {_bound(high)}")
    return " and ".join(parts)


def _bound(bound: float) -> str:
    """A bound in a message: an ``int`` in full (``2147483647``, not ``2.14748e+09``)."""
    return str(bound) if isinstance(bound, int) else f"{bound:g}"


def integer(
    *,
    low: int | None = None,
    high: int | None = None,
    what: str = "a whole number",
    note: str = "",
) -> Check:
    """A whole number (``bool`` is not one), within ``low``..``high`` when given; ``note``
    follows the range in a message (``" (0 picks a free one)"``)."""
    expected = f"{what} {_range(low, high, None)}".rstrip() + note

    def check(name: str, value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise fail_type(name, expected, value)
        if (low is not None and value < low) or (high is not None and value > high):
            raise fail_value(name, expected, value)
        return value

    return check


def number(
    *, low: float | None = None, high: float | None = None, above: float | None = None
) -> Check:
    """A real, finite number (an ``int`` or ``float``; not ``bool``, NaN or infinity)
    within the bounds. An infinite time is "no limit", which each option spells its own
    way (``None``, or 0), never as a wait that never ends."""
    expected = f"a number {_range(low, high, above)}".rstrip()

    def check(name: str, value: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise fail_type(name, expected, value)
        if math.isinf(value):
            raise fail_value(name, "a finite number", value)
        if (
            math.isnan(value)
            or (above is not None and not value > above)
            or (low is not None and value < low)
            or (high is not None and value > high)
        ):
            raise fail_value(name, expected, value)
        return value

    return check


#: The words a text option takes for on and off (ini files, flags, fault specs).
SWITCH_ON, SWITCH_OFF = ("true", "yes", "on"), ("false", "no", "off")
#: A TCP or UDP port number.
port = integer(low=0, high=65535, what="a port")
#: A port to listen on (``port=``, ``--port``).
listen_port = integer(low=0, high=65535, what="a port", note=" (0 picks a free one)")
#: One byte of the protocol: a code, a method, a version.
byte = integer(low=0, high=255, what="a byte")
#: A probability, 0 to 1.
probability = number(low=0.0, high=1.0)


def choice(*choices: str) -> Check:
    """One of ``choices`` (text), suggesting the nearest on a miss."""
    listed = ", ".join(repr(c) for c in choices)

    def check(name: str, value: Any) -> str:
        if value not in choices:
            expected = f"one of {listed}"
            hint = did_you_mean(value, choices)
            if not isinstance(value, str):
                raise fail_type(name, expected, value, hint)
            raise fail_value(name, expected, value, hint)
        return str(value)

    return check


def is_address(text: str) -> bool:
    """Whether ``text`` is an IP address literal, which no resolver sees (an IPv6 one
    with its scope too, ``fe80::1%lo``; an IPv4 one has none)."""
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def bracket_hint(value: str) -> str:
    """For an IPv6 address in brackets (a URL's form) where a host or glob belongs:
    ``": an IPv6 address is written without brackets (::1)"``; else ``""``. A record
    holds the address bare, and a glob would take ``[::1]`` for a set of characters."""
    if value.startswith("[") and value.endswith("]") and is_address(value[1:-1]):
        return f": an IPv6 address is written without brackets ({value[1:-1]})"
    return ""


def instance(cls: type, what: str) -> Check:
    """An instance of ``cls`` (``what`` says it in words: ``"a Rule"``)."""

    def check(name: str, value: Any) -> Any:
        if not isinstance(value, cls):
            raise fail_type(name, what, value)
        return value

    return check


def optional(inner: Check) -> Check:
    """``None``, or what ``inner`` accepts."""

    def check(name: str, value: Any) -> Any:
        if value is None:
            return None
        try:
            return inner(name, value)
        except (TypeError, ValueError) as exc:
            said = str(exc).replace(" must be ", " must be None or ", 1)
            raise type(exc)(said) from None

    return check


def sequence(item: Check, *, what: str, one: type | tuple[type, ...] = ()) -> Check:
    """Several values, each checked by ``item``, as a tuple. A value of a type in ``one``
    stands for itself alone (``allow="10.0.0.0/8"``); any other ``str``, ``bytes`` or
    mapping is refused, since it is not a sequence of values."""

    def check(name: str, value: Any) -> tuple[Any, ...]:
        if one and isinstance(value, one):
            return (item(name, value),)
        if isinstance(value, str | bytes | dict) or not isinstance(value, Iterable):
            raise fail_type(name, what, value)
        return tuple(item(f"{name}[{i}]", v) for i, v in enumerate(value))

    return check
