"""Record criteria, checked where they are given: a field that exists, and for a field
with a fixed set of values, a value it can hold.

Strategy: ``find_connections``, ``wait_for_connections`` and every assertion take keyword
criteria, matched by ``_records.field_matches``; a misspelt field or a value the field can
never hold would match nothing, silently, and the assertion's message would blame the
connections. :func:`check_criteria` refuses them first: an unknown field name; a ``str``
for a field that holds an enum or a protocol code (``outcome="closed"`` never equals
``Outcome.CLOSED``, ``address_type="domain"`` never equals 3); and a word outside a text
field's fixed set (``closed_how="rts"``). ``None``, a predicate and, for text, a glob are
always accepted. Pure.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Mapping
from typing import Any

from ._checks import did_you_mean, fail_type, fail_value
from ._protocol import AddressType, AuthMethod, Command, Reply
from ._records import ConnectionRecord, Outcome

__all__ = ["check_criteria"]

_FIELDS = {f.name for f in dataclasses.fields(ConnectionRecord)} | {
    "auth_scheme",
    "duration",
    "remote_dns",
    "succeeded",
    "target",
}

#: Fields that hold an enum member or a protocol code, and the enum that names them.
_CODES: dict[str, type[enum.Enum]] = {
    "outcome": Outcome,
    "command": Command,
    "address_type": AddressType,
    "reply": Reply,
    "chosen_method": AuthMethod,
}
#: Text fields with a fixed set of words.
_WORDS = {
    "closed_by": ("client", "upstream", "server"),
    "closed_how": ("fin", "rst", "error"),
    "protocol": ("socks5", "socks4", "http"),
    "auth_scheme": ("none", "password", "userid"),
}


def check_criteria(criteria: Mapping[str, Any]) -> None:
    """Refuse a misspelt field name, or a value its field can never hold, at once instead
    of matching nothing."""
    __tracebackhide__ = True  # pytest shows the caller's line, not this one
    unknown = sorted(set(criteria) - _FIELDS)
    if unknown:
        raise TypeError(
            f"unknown ConnectionRecord field(s): {', '.join(unknown)}"
            f"{did_you_mean(unknown[0], sorted(_FIELDS))}; known: {', '.join(sorted(_FIELDS))}"
        )
    for name, wanted in criteria.items():
        if not isinstance(wanted, str):
            continue
        if name in _CODES:
            raise _not_a_code(name, _CODES[name], wanted)
        words = _WORDS.get(name)
        if words and wanted not in words and not any(c in wanted for c in "*?["):
            listed = ", ".join(repr(w) for w in words)
            expected = f"one of {listed}, a glob or a predicate"
            raise fail_value(name, expected, wanted, _near(wanted, {w: repr(w) for w in words}))


def _not_a_code(name: str, kind: type[enum.Enum], wanted: str) -> TypeError:
    members = {
        (m.value if isinstance(m.value, str) else m.name.lower()): f"{kind.__name__}.{m.name}"
        for m in kind
    }
    number = "a number or " if kind is not Outcome else ""
    expected = f"{number}an {kind.__name__} ({', '.join(members.values())}) or a predicate"
    if kind.__name__[0] not in "AEIOU":
        expected = expected.replace(f"an {kind.__name__}", f"a {kind.__name__}", 1)
    return fail_type(name, expected, wanted, _near(wanted, members))


def _near(wanted: str, shown: Mapping[str, str]) -> str:
    """``" (did you mean Outcome.CLOSED?)"`` for the nearest key of ``shown``, or ``""``."""
    key = wanted.lower().replace("_", "-") if "-" in "".join(shown) else wanted.lower()
    return did_you_mean(key, shown)
