"""Record criteria: checked where they are given — a field that exists, and a value it
can hold — and matched against a record.

Strategy: ``find_connections``, ``wait_for_connections``, every assertion and a record's
own ``matches()``/``mismatches()`` take keyword criteria, and all of them go through
:func:`check_criteria`, then :func:`field_matches`. A misspelt field or a value the field
can never hold would match nothing, silently, and an assertion's message would blame the
connections; :func:`check_criteria` refuses them first: an unknown field name; a ``str``
for a field that holds an enum or a protocol code (``outcome="closed"`` never equals
``Outcome.CLOSED``, ``address_type="domain"`` never equals 3); a value of a type the
field never holds, read off its annotation (``host=1``, ``port="80"``, ``port=True``: a
``bool`` is no number; ``None`` only where the field may be ``None``); and a word outside
a text field's fixed set (``closed_how="rts"``). A predicate, and for text a glob, is
always accepted. The fields are those of the record class the criteria are for (its
dataclass fields and public properties), so this module sits below the records. Pure.
"""

from __future__ import annotations

import dataclasses
import enum
import fnmatch
import functools
from collections.abc import Mapping
from typing import Any, NoReturn

from ._checks import did_you_mean, fail_type, fail_value
from ._outcome import Outcome
from ._protocol import AddressType, AuthMethod, Command, Reply

__all__ = [
    "MEMBER_FIELDS",
    "check_criteria",
    "check_fields",
    "criteria_text",
    "field_matches",
    "mismatches",
    "show",
    "value_matches",
]

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


#: What a value of each type a field is annotated with may be: the types, and in words.
_KINDS: dict[str, tuple[tuple[type, ...], str]] = {
    "None": ((type(None),), "None"),
    "str": ((str,), "a str"),
    "int": ((int,), "a whole number"),
    "float": ((int, float), "a number"),
    "bytes": ((bytes, bytearray, memoryview), "bytes"),
    "bool": ((bool,), "True, False"),
    "tuple": ((tuple,), "a tuple"),
    "Outcome": ((Outcome,), "an Outcome"),
}


@functools.cache
def _fields(record_type: type) -> dict[str, tuple[tuple[type, ...], str] | None]:
    """The names a criterion may use for ``record_type`` (its dataclass fields and public
    properties, ``target``, ``succeeded``…), sorted, each with what a value that can
    match it may be (``None``: a type this does not know, anything)."""
    annotations = {f.name: str(f.type) for f in dataclasses.fields(record_type)}
    for klass in record_type.__mro__:
        for name, value in vars(klass).items():
            if isinstance(value, property) and name[0] != "_" and value.fget is not None:
                annotations[name] = str(value.fget.__annotations__.get("return", ""))
    return {name: _kind(name, annotations[name]) for name in sorted(annotations)}


def _kind(name: str, annotation: str) -> tuple[tuple[type, ...], str] | None:
    """What a criterion for a field annotated ``annotation`` may be (besides a
    predicate): ``int | None`` is ``None`` or a whole number; a sequence field's item
    (``faults="Delay*"``) or a tuple."""
    if name in MEMBER_FIELDS:
        words = [annotation.removeprefix("tuple[").removesuffix(", ...]"), "tuple"]
    else:
        words = sorted((w.split("[")[0] for w in annotation.split(" | ")), key="None".__ne__)
    if not all(w in _KINDS for w in words):
        return None
    return tuple(t for w in words for t in _KINDS[w][0]), ", ".join(_KINDS[w][1] for w in words)


def check_criteria(criteria: Mapping[str, Any], record_type: type) -> None:
    """Refuse a misspelt field name of ``record_type`` (a ``ConnectionRecord``), or a
    value its field can never hold, at once instead of matching nothing."""
    __tracebackhide__ = True  # pytest shows the caller's line, not this one
    known = _fields(record_type)
    unknown = sorted(set(criteria) - set(known))
    if unknown:
        raise TypeError(
            f"unknown {record_type.__name__} field(s): {', '.join(unknown)}"
            f"{did_you_mean(unknown[0], list(known))}; known: {', '.join(known)}"
        )
    for name, wanted in criteria.items():
        if isinstance(wanted, str) and name in _CODES:
            raise _not_a_code(name, _CODES[name], wanted)
        _check_type(name, wanted, known[name])
        if not isinstance(wanted, str):
            continue
        words = _WORDS.get(name)
        if words and wanted not in words and not any(c in wanted for c in "*?["):
            listed = ", ".join(repr(w) for w in words)
            expected = f"one of {listed}, a glob or a predicate"
            raise fail_value(name, expected, wanted, _near(wanted, {w: repr(w) for w in words}))


def _check_type(name: str, wanted: Any, kind: tuple[tuple[type, ...], str] | None) -> None:
    """Refuse a value (not a predicate) of a type the field never holds:
    ``host=1``, ``port="80"``, ``port=True`` (a ``bool`` is not a number)."""
    if kind is None or (callable(wanted) and not isinstance(wanted, type | enum.Enum)):
        return
    if _fits(wanted, kind[0]):
        return
    _refuse(name, kind[1] + (", a glob" if str in kind[0] else "") + " or a predicate", wanted)


def _refuse(name: str, expected: str, value: Any) -> NoReturn:
    if name.endswith("raw_password"):  # a password is not shown, even a mistaken one
        kind_name = type(value).__name__
        raise TypeError(f"{name} must be {expected}, got a {kind_name} (not shown)")
    raise fail_type(name, expected, value)


def _fits(value: Any, types: tuple[type, ...]) -> bool:
    return isinstance(value, types) and (bool in types or not isinstance(value, bool))


def check_fields(values: Mapping[str, Any], record_type: type, where: str) -> None:
    """Refuse what ``record_type(**values)`` would take but never holds (``where``, such
    as ``"record()"``, names the call): an unknown field (a :exc:`TypeError` naming the
    nearest and listing the fields), a value of a type the field never holds."""
    __tracebackhide__ = True
    known = [f.name for f in dataclasses.fields(record_type)]
    unknown = [name for name in values if name not in known]
    if unknown:
        raise TypeError(
            f"{where}: unknown {record_type.__name__} field(s): {', '.join(unknown)}"
            f"{did_you_mean(unknown[0], known)}; known: {', '.join(known)}"
        )
    kinds = _fields(record_type)
    for name, value in values.items():
        kind = _KINDS["tuple"] if name in MEMBER_FIELDS else kinds[name]
        if kind is not None and not _fits(value, kind[0]):
            first, _, last = kind[1].rpartition(", ")
            _refuse(f"{where}: {name}", f"{first} or {last}" if first else last, value)


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


# -- matching -------------------------------------------------------------------------------

#: Fields where one value or glob matches any item (``http_requests="POST *"``).
MEMBER_FIELDS = frozenset({"faults", "holds", "drop_reasons", "http_requests", "http_statuses"})


def field_matches(name: str, actual: Any, wanted: Any) -> bool:
    """Whether the field ``name``, holding ``actual``, meets the criterion ``wanted``."""
    if name in MEMBER_FIELDS and not isinstance(wanted, tuple) and not callable(wanted):
        return any(value_matches(a, wanted) for a in actual)
    return value_matches(actual, wanted)


def value_matches(actual: Any, wanted: Any) -> bool:
    if callable(wanted) and not isinstance(wanted, type | enum.Enum):
        return bool(wanted(actual))
    if isinstance(wanted, str) and isinstance(actual, str) and any(c in wanted for c in "*?["):
        return fnmatch.fnmatchcase(actual, wanted)
    return bool(actual == wanted)


def show(value: Any, field_name: str = "") -> str:
    """A value as a failure message prints it (passwords masked, bytes length shown)."""
    if field_name == "raw_password" and isinstance(value, bytes | str):
        return f"*** ({len(value)} bytes)"
    if isinstance(value, enum.Enum):
        return f"{type(value).__name__}.{value.name}"
    if isinstance(value, bytes) and len(value) > 64:
        return f"{value[:48]!r}… ({len(value)} bytes)"
    if callable(value) and not isinstance(value, type):
        return getattr(value, "__name__", repr(value))
    return repr(value)


def criteria_text(criteria: Mapping[str, Any]) -> str:
    """``host='x', port=443`` (passwords masked, predicates by name)."""
    return ", ".join(f"{k}={show(v, k)}" for k, v in criteria.items())


def mismatches(record: Any, criteria: Mapping[str, Any]) -> list[str]:
    """The criteria (checked already) that ``record`` does not meet, each as
    ``name=actual (wanted …)``."""
    wrong = []
    for name, wanted in criteria.items():
        actual = getattr(record, name)
        if not field_matches(name, actual, wanted):
            wrong.append(f"{name}={show(actual, name)} (wanted {show(wanted, name)})")
    return wrong
