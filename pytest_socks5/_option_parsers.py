"""The checks and conversions the option table (:mod:`._options`) declares: each takes a
value as given and returns what the server keeps, or raises at once.

Strategy: small pure functions, one per kind of value, named for what they accept, so a
declaration reads ``normalise=allow_patterns``. Two families: normalisers take Python
values (keyword arguments, marker options); ``text_*`` and ``parse_*`` take what a
command line or an ini file gives (text, lists of text) and raise :class:`ValueError`
saying what was expected.
"""

from __future__ import annotations

import importlib.util
import math
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from ._auth import AuthPolicy
from ._checks import (
    SWITCH_OFF,
    SWITCH_ON,
    boolean,
    callable_value,
    choice,
    fail_type,
    fail_value,
    instance,
    is_address,
    listen_port,
    number,
    optional,
    sequence,
    text,
)
from ._protocol import Socks4Reply
from ._rules import Rule, parse_allow

__all__ = [
    "LOOP_NAMES",
    "PCAP_DIR",
    "allow_patterns",
    "callable_or_none",
    "faults",
    "leak_guard",
    "listen_host",
    "listen_port",
    "loop_name",
    "no_limit_or_seconds",
    "parse_seconds",
    "parse_user",
    "pcap_switch",
    "resolve_loop",
    "rules",
    "seconds_above_zero",
    "socks4_user_id_reply",
    "socks4_user_ids",
    "text_bytes",
    "text_choice",
    "text_pcap",
    "text_record_dir",
    "text_seed",
    "text_switch",
    "text_users",
    "udp_faults",
    "user_pairs",
]

# -- Python values -------------------------------------------------------------------------

seconds_above_zero = number(above=0)
_NO_LIMIT = "None or 0 (no limit), or a number > 0"


def no_limit_or_seconds(name: str, value: Any) -> float | None:
    """A timeout that may be off: ``None`` or ``0`` (no limit, kept as ``None``), or
    seconds > 0. ``python -m pytest_socks5``'s flags take the same (``0`` or ``none``)."""
    if isinstance(value, bool) or not isinstance(value, int | float | None):
        raise fail_type(name, _NO_LIMIT, value)
    if value is None or value == 0:
        return None
    if not math.isfinite(value) or value < 0:  # an infinite one is None or 0
        raise fail_value(name, _NO_LIMIT, value)
    return value


callable_or_none = optional(callable_value)
#: ``loop=``: ``"auto"`` is uvloop when it is installed, else asyncio.
LOOP_NAMES = ("auto", "uvloop", "asyncio")
loop_name = choice(*LOOP_NAMES)


def resolve_loop(name: str) -> str:
    """The loop ``loop=`` names: ``"auto"`` is ``"uvloop"`` when uvloop is installed (the
    faster for handshakes, latency and memory: docs/performance.rst), else
    ``"asyncio"``."""
    if name != "auto":
        return name
    return "uvloop" if importlib.util.find_spec("uvloop") is not None else "asyncio"


_LISTEN_HOST = "a listen address such as 127.0.0.1, ::1 or localhost (both)"


def listen_host(name: str, value: Any) -> str:
    """``host=``: an address to listen on, as a socket takes it. Refused before anything
    listens: an empty one (it would listen on every interface: an open proxy), one in
    brackets (a URL's form, which no socket takes), one with spaces around it, and one
    with a port (``127.0.0.1:1080``, which a socket would look up as a name)."""
    text(name, value)
    if not value.strip():
        hint = " (an empty host would listen on every interface: an open proxy)"
    elif value.startswith("[") and value.endswith("]"):
        hint = f": write an IPv6 address without brackets ({value[1:-1]})"
    elif value != value.strip():
        hint = f": without the spaces ({value.strip()})"
    elif ":" in value and not is_address(value):  # IPv6 has colons; a port follows one
        host = value.rsplit(":", 1)[0].strip("[]")
        hint = f": a host without a port ({host}); the port is given on its own"
    else:
        return str(value)
    raise fail_value(name, _LISTEN_HOST, value, hint)


def _allow(name: str, pattern: Any) -> Rule:
    return parse_allow(pattern, name)


#: ``allow=``: one pattern or several, each parsed into a :class:`Rule`.
allow_patterns = sequence(_allow, what="a pattern or a list of patterns", one=str)

_LEAK_GUARD = "True, False or {'allow': [patterns]}"


def leak_guard(name: str, value: Any) -> tuple[str, ...] | None:
    """``leak_guard=``: ``None`` when off, else the allowed patterns (``True``: none)."""
    if isinstance(value, bool) or value is None:
        return () if value else None
    if not isinstance(value, Mapping):
        raise fail_type(name, _LEAK_GUARD, value)
    unknown = sorted(map(str, set(value) - {"allow"}))
    if unknown:
        raise fail_value(name, _LEAK_GUARD, value, f": unknown key(s) {', '.join(unknown)}")
    patterns = value.get("allow", ())
    allow_patterns(f"{name} allow", patterns)
    return (patterns,) if isinstance(patterns, str) else tuple(patterns)


rules = sequence(
    instance(Rule, "a Rule (Rule.allow(…) or Rule.deny(…))"), what="a list of Rule values"
)


# The fault types load with the first fault given, not with the option table: loading the
# pytest plugin reads the table, and a suite that never asks for a proxy needs no faults.
def _fault(name: str, value: Any) -> Any:
    from ._fault_types import Fault

    return instance(Fault, "a fault from pytest_socks5.faults")(name, value)


def _udp_faults(name: str, value: Any) -> Any:
    from ._udp_faults import UdpFaults

    return instance(UdpFaults, "a UdpFaults")(name, value)


faults = sequence(_fault, what="a list of faults, such as [Stall(at='reply')]")
udp_faults = optional(_udp_faults)


def _user_id(name: str, value: Any) -> bytes:
    if isinstance(value, str):
        user_id = value.encode("utf-8")
    elif isinstance(value, bytes):
        user_id = value
    else:
        raise fail_type(name, "a str or bytes", value)
    if b"\x00" in user_id:  # SOCKS 4 ends the USERID at its first NUL: it would never match
        raise fail_value(name, "a USERID without a NUL byte", value, " (the NUL ends it)")
    from ._protocol import MAX_SOCKS4_FIELD  # the parser's: only when ids are given

    if len(user_id) > MAX_SOCKS4_FIELD:  # the server refuses a longer one unread
        what = f"a USERID of at most {MAX_SOCKS4_FIELD} bytes"
        raise fail_value(name, what, value, f" ({len(user_id)} bytes: it could never match)")
    return user_id


def socks4_user_ids(name: str, ids: Any) -> frozenset[bytes] | None:
    """SOCKS 4 ``USERID`` values, as bytes (text is encoded as UTF-8)."""
    if ids is None:
        return None
    return frozenset(
        sequence(_user_id, what="a USERID or a list of them", one=(str, bytes))(name, ids)
    )


_USER_ID_REPLIES = (
    "0x5B, 0x5C or 0x5D (Socks4Reply.REJECTED, IDENTD_UNREACHABLE or IDENTD_MISMATCH)"
)


def socks4_user_id_reply(name: str, reply: Any) -> Socks4Reply:
    """A refusal's ``CD``: one message, listing the three, for a wrong type or value."""
    if isinstance(reply, bool) or not isinstance(reply, int):
        raise fail_type(name, _USER_ID_REPLIES, reply)
    if reply not in (0x5B, 0x5C, 0x5D):
        raise fail_value(name, _USER_ID_REPLIES, reply)
    return Socks4Reply(reply)


_USERS = "a {name: password} mapping or (name, password) pairs"


def user_pairs(name: str, value: Any) -> tuple[tuple[bytes, bytes], ...] | None:
    """``{name: password}`` or ``(name, password)`` pairs, text or bytes, as bytes. A
    message never shows a password."""
    if value is None:
        return None
    if isinstance(value, str | bytes):
        shown = value if isinstance(value, str) else value.decode("utf-8", "replace")
        user, colon, _ = shown.partition(":")
        got = f"{user}:***" if colon else "***"
        hint = f"; for one user: {name}={{{user!r}: '…'}}" if colon else ""
        raise TypeError(f"{name} must be {_USERS}, got the string {got!r}{hint}")
    if isinstance(value, Mapping):
        pairs = list(value.items())
    elif isinstance(value, Iterable):
        pairs = list(value)
    else:
        raise fail_type(name, _USERS, value)
    for i, pair in enumerate(pairs):
        if not (isinstance(pair, tuple | list) and len(pair) == 2):
            kind = type(pair).__name__
            raise TypeError(f"{name} must be {_USERS}; item {i} is not a pair (a {kind})")
        user, password = pair
        where = f"{name}[{user!r}]" if isinstance(value, Mapping) else f"{name}[{i}]"
        if not isinstance(user, str | bytes):
            raise fail_type(f"{where}: the user name", "a str or bytes", user)
        if not isinstance(password, str | bytes):  # its type only: never show a password
            kind = type(password).__name__
            raise TypeError(
                f"{where}: the password must be a str or bytes, got a value of type {kind}"
            )
    try:
        return AuthPolicy.build(pairs).users
    except ValueError as exc:
        raise ValueError(f"{name}: {exc}") from None


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
        if name in users:
            raise ValueError(
                f"socks5 users: the user {name!r} is given twice; give each user once"
            )
        users[name] = password
    return users


def parse_seconds(text: str) -> float | None:
    """A timeout in seconds, as text: ``none`` is ``None``; the option's check says what
    else it takes (``0``: no limit)."""
    if text.lower() == "none":
        return None
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"expected seconds, or 0 or none for no limit, got {text!r}") from None


def text_bytes(value: str | int) -> int:
    """``socks5_capture_payload``: a number of bytes (the table's check refuses < 0)."""
    try:
        return int(value or 0)
    except ValueError:
        raise ValueError(f"expected a number of bytes, got {value!r}") from None


def pcap_switch(name: str, value: Any) -> bool | str:
    """The marker's ``pcap=``: True or False (``""``, the unset default, passes too)."""
    return value if value == "" else boolean(name, value)


#: Where ``pcap=True`` (the marker's) and ``socks5_pcap = true`` write their captures.
PCAP_DIR = "socks5-pcap"


def text_pcap(value: str) -> str:
    """``socks5_pcap`` or ``--socks5-pcap``: a directory, or a switch as the marker's
    ``pcap=`` is: true, yes or on write to ``socks5-pcap``; false, no or off write none
    (``./true`` is a directory of that name)."""
    word = value.strip().lower()
    return PCAP_DIR if word in SWITCH_ON else "" if word in SWITCH_OFF else value


def text_record_dir(value: str) -> str:
    """``socks5_record_dir`` or ``--socks5-record-dir``: a directory, never a switch."""
    if value.strip().lower() in SWITCH_ON + SWITCH_OFF:
        raise ValueError(
            f"socks5_record_dir is a directory (leave it out for none), got {value!r}; "
            f"write ./{value} for a directory of that name"
        )
    return value


def text_seed(value: str | int) -> int:
    if value == "":  # not given: 0 (chaos mode then picks a seed of its own)
        return 0
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"socks5_seed must be a whole number, got {value!r}") from None


def text_switch(name: str) -> Callable[[Any], bool]:
    """A boolean ini option (``socks5_hermetic``): true/false, yes/no or on/off in any case
    (pytest's own 1/0, y/n and t/f too), or a boolean (a flag's, a TOML file's, the
    default). Anything else, an empty value too, is a :class:`ValueError` in the form of
    every option's message, not pytest's bare "invalid truth value"."""
    on, off = (*SWITCH_ON, "1", "y", "t"), (*SWITCH_OFF, "0", "n", "f")
    pairs = zip(SWITCH_ON, SWITCH_OFF, strict=True)
    valid = "one of " + ", ".join(f"{yes}/{no}" for yes, no in pairs)

    def read(value: Any) -> bool:
        if isinstance(value, bool):
            return value
        word = value.strip().lower() if isinstance(value, str) else None
        if word not in on and word not in off:
            raise fail_value(name, valid, value)
        return word in on

    return read


def text_choice(name: str, choices: tuple[str, ...]) -> Callable[[str], str]:
    """An ini option or flag that is one of ``choices``, checked as every choice is:
    ``"<name> must be one of 'a', 'b', got 'c'"``, suggesting the nearest."""
    one_of = choice(*choices)

    def check(value: str) -> str:
        return str(one_of(name, value))

    return check
