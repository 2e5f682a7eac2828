"""The checks and conversions the option table (:mod:`._options`) declares: each takes a
value as given and returns what the server keeps, or raises at once.

Strategy: small pure functions, one per kind of value, named for what they accept, so a
declaration reads ``normalise=allow_patterns``. Two families: normalisers take Python
values (keyword arguments, marker options); ``text_*`` and ``parse_*`` take what a
command line or an ini file gives (text, lists of text) and raise :class:`ValueError`
saying what was expected.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from ._protocol import Socks4Reply
from ._rules import Rule, parse_allow
from ._udp_faults import UdpFaults

__all__ = [
    "allow_patterns",
    "at_least",
    "callable_or_none",
    "loop_name",
    "none_or_above_zero",
    "parse_seconds",
    "parse_user",
    "port_number",
    "rules",
    "socks4_user_id_reply",
    "socks4_user_ids",
    "text_bytes",
    "text_choice",
    "text_seed",
    "text_users",
    "udp_faults",
]

# -- Python values -------------------------------------------------------------------------


def allow_patterns(patterns: str | Iterable[str]) -> tuple[Rule, ...]:
    """``allow=``: one pattern or several, each parsed into a :class:`Rule`."""
    if isinstance(patterns, str):
        patterns = [patterns]
    return tuple(parse_allow(p) for p in patterns)


def rules(values: Iterable[Rule]) -> tuple[Rule, ...]:
    checked = tuple(values)
    for rule in checked:
        if not isinstance(rule, Rule):
            raise TypeError(f"rules must be Rule values (Rule.allow/Rule.deny), got {rule!r}")
    return checked


def udp_faults(value: UdpFaults | None) -> UdpFaults | None:
    if value is not None and not isinstance(value, UdpFaults):
        raise TypeError(f"udp_faults must be a UdpFaults, got {value!r}")
    return value


def socks4_user_ids(ids: str | bytes | Iterable[str | bytes] | None) -> frozenset[bytes] | None:
    """SOCKS 4 ``USERID`` values, as bytes (text is encoded as UTF-8)."""
    if ids is None:
        return None
    if isinstance(ids, str | bytes):
        ids = [ids]
    return frozenset(i if isinstance(i, bytes) else i.encode("utf-8") for i in ids)


def socks4_user_id_reply(reply: int) -> Socks4Reply:
    if reply not in (0x5B, 0x5C, 0x5D):
        raise ValueError(f"socks4_user_id_reply must be 0x5B, 0x5C or 0x5D, got {reply!r}")
    return Socks4Reply(reply)


def callable_or_none(value: Any) -> Any:
    if value is not None and not callable(value):
        raise TypeError(f"expected a callable or None, got {value!r}")
    return value


def none_or_above_zero(name: str) -> Callable[[float | None], float | None]:
    def check(value: float | None) -> float | None:
        if value is not None and not value > 0:
            raise ValueError(f"{name} must be None or > 0, got {value!r}")
        return value

    return check


def at_least(low: int, name: str) -> Callable[[int | None], int | None]:
    def check(value: int | None) -> int | None:
        if value is not None and value < low:
            raise ValueError(f"{name} must be None or >= {low}, got {value!r}")
        return value

    return check


def port_number(port: int) -> int:
    """A TCP port: 0 (pick a free one) to 65535."""
    if not 0 <= port <= 65535:
        raise ValueError(f"a port is 0 to 65535 (0 picks a free one), got {port!r}")
    return port


def loop_name(name: str) -> str:
    if name not in ("asyncio", "uvloop"):
        raise ValueError(f"loop must be 'asyncio' or 'uvloop', not {name!r}")
    return name


# -- text, from a command line or an ini file ----------------------------------------------


def parse_user(text: str) -> tuple[str, str]:
    """``NAME:PASSWORD``: the password is everything after the first colon (maybe empty)."""
    name, colon, password = text.partition(":")
    if not name or not colon:
        raise ValueError(f"expected NAME:PASSWORD (the password may be empty), got {text!r}")
    return name, password


def text_users(pairs: Iterable[str]) -> dict[str, str]:
    users: dict[str, str] = {}
    for pair in pairs:
        try:
            name, password = parse_user(pair)
        except ValueError as exc:
            raise ValueError(f"socks5 users: {exc}") from None
        users[name] = password
    return users


def parse_seconds(text: str) -> float | None:
    """A timeout in seconds; ``0`` (or ``none``) means no limit."""
    if text.lower() == "none":
        return None
    try:
        seconds = float(text)
    except ValueError:
        raise ValueError(f"expected seconds, got {text!r}") from None
    if seconds < 0:
        raise ValueError(f"expected seconds >= 0, got {text!r}")
    return seconds or None


def text_bytes(value: str | int) -> int:
    """``socks5_capture_payload``: a number of bytes, not negative."""
    try:
        count = int(value or 0)
    except ValueError:
        raise ValueError("socks5_capture_payload must be a number of bytes") from None
    if count < 0:
        raise ValueError("socks5_capture_payload must not be negative")
    return count


def text_seed(value: str | int) -> int:
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"socks5_seed must be a whole number, got {value!r}") from None


def text_choice(name: str, choices: tuple[str, ...]) -> Callable[[str], str]:
    def check(value: str) -> str:
        if value not in choices:
            raise ValueError(f"{name} must be one of {', '.join(choices)}, not {value!r}")
        return value

    return check
