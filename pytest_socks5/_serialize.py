"""Records as JSON values and back: bytes as hex, enums as integers, tuples as lists.

Strategy: one function each way, driven by the field list, so that a field added to
:class:`~pytest_socks5.ConnectionRecord` is written and read without a change here unless
it needs a conversion (tuples, such as addresses, become lists and come back as tuples).
Reading ignores keys that are not fields (``test`` and ``proxy``, which the plugin adds to
each line it writes), so a file stays readable by a later version. The password is
redacted on the way out unless asked for: the record holds it, a CI artefact need not.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from ._protocol import AddressType, AuthMethod, Command, Reply, Socks4Reply, coerce
from ._recording import ConnectionRecord, HandshakeMessage, Outcome, Timings

__all__ = ["record_from_dict", "record_to_dict", "redact_auth_request"]

_BYTES = frozenset(
    {
        "raw_username",
        "raw_password",
        "raw_address",
        "user_id",
        "payload_from_client",
        "payload_to_client",
    }
)
_FIELD_NAMES = tuple(f.name for f in dataclasses.fields(ConnectionRecord))


def _lists(value: Any) -> Any:
    """Tuples (addresses, method lists, fault descriptions) as JSON lists; enums as ints."""
    if isinstance(value, tuple | list):
        return [_lists(v) for v in value]
    if isinstance(value, int) and not isinstance(value, bool):
        return int(value)
    return value


def _tuples(value: Any) -> Any:
    if isinstance(value, list):
        return tuple(_tuples(v) for v in value)
    return value


def redact_auth_request(data: bytes) -> bytes:
    """An RFC 1929 request with each password byte replaced by ``*`` (same length)."""
    if len(data) < 2:
        return data
    plen_at = 2 + data[1]
    if len(data) <= plen_at:
        return data
    start = plen_at + 1
    end = min(len(data), start + data[plen_at])
    return data[:start] + b"*" * (end - start) + data[end:]


def record_to_dict(record: ConnectionRecord, *, show_password: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in _FIELD_NAMES:
        value = getattr(record, name)
        if name in _BYTES:
            out[name] = None if value is None else value.hex()
        elif name == "handshake":
            out[name] = [_message_to_dict(m, show_password) for m in value]
        elif name == "timings":
            out[name] = dataclasses.asdict(value)
        elif name == "outcome":
            out[name] = value.value
        elif isinstance(value, int) and not isinstance(value, bool):
            out[name] = int(value)
        else:
            out[name] = _lists(value)
    if record.raw_password is not None and not show_password:
        out["raw_password"] = None
        out["password_redacted"] = True
    return out


def _message_to_dict(message: HandshakeMessage, show_password: bool) -> dict[str, Any]:
    data = message.data
    if message.name == "auth request" and not show_password:
        data = redact_auth_request(data)
    return {
        "direction": message.direction,
        "name": message.name,
        "data": data.hex(),
        "at": message.at,
    }


def record_from_dict(data: Mapping[str, Any]) -> ConnectionRecord:
    values: dict[str, Any] = {}
    for name in _FIELD_NAMES:
        if name not in data:
            continue
        value = data[name]
        if name in _BYTES:
            value = None if value is None else bytes.fromhex(value)
        elif name == "handshake":
            value = tuple(
                HandshakeMessage(
                    direction=m["direction"],
                    name=m["name"],
                    data=bytes.fromhex(m["data"]),
                    at=float(m["at"]),
                )
                for m in value
            )
        elif name == "timings":
            value = Timings(**value)
        elif name == "outcome":
            value = Outcome(value)
        elif name == "offered_methods":
            value = tuple(coerce(v, AuthMethod) for v in value)
        else:
            value = _tuples(value)  # lists of strings, addresses: tuples, as in the record
        values[name] = value
    version = values.get("version")
    for name, enum_type in (
        ("chosen_method", AuthMethod),
        ("address_type", AddressType),
        ("command", Command if version != 4 else None),
        ("reply", Reply if version != 4 else Socks4Reply),
    ):
        if values.get(name) is not None and enum_type is not None:
            values[name] = coerce(values[name], enum_type)
    if "client_address" not in values:
        values["client_address"] = ("", 0)
    return ConnectionRecord(**values)
