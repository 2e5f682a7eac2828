"""Every option, declared once: name, default, one-line doc, how a value is checked and
normalised, and where it may be given.

Strategy: :data:`OPTIONS` is the single source. ``SOCKS5Server(...)`` and ``configure()``,
the ``socks5`` marker, the pytest ini options and command-line flags, ``python -m
pytest_socks5`` and the reference docs all read it, so an option is added or renamed in
one place. A value is checked (:mod:`._checks`) when it is given, never at the first
connection; an unknown name is refused with the valid ones listed and the nearest
suggested. Static types are spelt in :mod:`._option_types`. Pure.
"""

from __future__ import annotations

import functools
from collections.abc import Collection, Mapping
from typing import Any

from ._auth import AuthPolicy
from ._checks import boolean, did_you_mean, fail_type, integer, optional
from ._hosts import check_host_map
from ._option_model import Flag, Ini, Option, Site
from ._option_parsers import (
    LOOP_NAMES,
    allow_patterns,
    callable_or_none,
    faults,
    listen_host,
    listen_port,
    loop_name,
    no_limit_or_seconds,
    parse_seconds,
    parse_user,
    rules,
    seconds_above_zero,
    socks4_user_id_reply,
    socks4_user_ids,
    text_bytes,
    text_seed,
    text_switch,
    text_users,
    udp_faults,
    user_pairs,
)
from ._options_pytest import PYTEST_OPTIONS
from ._protocol import Socks4Reply

# fmt: off
__all__ = ["CLI_MAX_RECORDS", "MAX_RECORDS", "OPTIONS", "Flag", "Ini", "Option", "Site",
           "check_names", "config_values", "defaults", "names", "normalise", "option"]
# fmt: on

#: How many records a server keeps by default; older ones are dropped and counted.
MAX_RECORDS = 100_000

#: Nothing reads the records of the command-line server (each is logged as it ends), so
#: it keeps only the most recent ones instead of every record for as long as it runs.
CLI_MAX_RECORDS = 1000


_RUNTIME = frozenset({Site.CONSTRUCTOR, Site.CONFIGURE, Site.MARKER})
_LISTEN = frozenset({Site.CONSTRUCTOR, Site.MARKER})
_SERVER = frozenset({Site.CONSTRUCTOR})


def _runtime(name: str, default: Any, doc: str, **more: Any) -> Option:
    return Option(
        name=name, default=default, doc=doc, given_to=_RUNTIME, per_connection=True, **more
    )


OPTIONS: tuple[Option, ...] = (
    # -- where the server listens ------------------------------------------------------
    Option(
        name="host",
        default="127.0.0.1",
        doc="Listen address: 127.0.0.1, ::1, or localhost for both on one port.",
        given_to=_LISTEN,
        check=listen_host,
        own_listener=True,
        ini=Ini(
            default="127.0.0.1",
            help="address the socks5_server fixture listens on (default 127.0.0.1)",
        ),
        flag=Flag(
            name="--socks5-host",
            help="address the socks5_server fixture listens on "
            "(127.0.0.1, ::1, or localhost for both; default: ini socks5_host or 127.0.0.1)",
        ),
        main=Flag(
            name="--host", help="listen address: 127.0.0.1 (default), ::1, or localhost for both"
        ),
    ),
    Option(
        name="port",
        default=0,
        doc="Listen port; 0 picks a free one.",
        given_to=_LISTEN,
        check=listen_port,
        own_listener=True,
        main=Flag(
            name="--port", type=int, default=1080, help="listen port (default 1080; 0 picks one)"
        ),
    ),
    Option(
        name="backlog",
        default=1024,
        doc="The listen backlog: 0 to 2**31 - 1, the C int listen() takes (the kernel "
        "caps it at its own limit, somaxconn on Linux).",
        given_to=_LISTEN,
        check=integer(low=0, high=2**31 - 1, note=" (a C int, as listen() takes)"),
        own_listener=True,
    ),
    # -- authentication ----------------------------------------------------------------
    _runtime(
        "users",
        None,
        "Accepted {username: password} pairs; with any, RFC 1929 authentication is required.",
        check=user_pairs,
        ini=Ini(
            type="args",
            default=[],
            help="NAME:PASSWORD pairs the socks5_server fixture accepts, requiring "
            "username/password authentication (default: none, no authentication)",
        ),
        flag=Flag(
            name="--socks5-user",
            action="append",
            metavar="NAME:PASSWORD",
            help="a user the socks5_server fixture accepts, requiring username/password "
            "authentication; repeat for several (default: ini socks5_users, or no authentication)",
        ),
        from_text=text_users,
        main=Flag(
            name="--user",
            action="append",
            type=parse_user,
            metavar="NAME:PASSWORD",
            default=[],
            help="require username/password auth; repeat for several users",
        ),
    ),
    _runtime(
        "validator",
        None,
        "(username, password) -> bool for credentials not in users; requires RFC 1929.",
        check=callable_or_none,
    ),
    # -- the handshake -------------------------------------------------------------------
    _runtime(
        "connect_timeout",
        10.0,
        "Seconds for resolving and connecting upstream; beyond them REP 0x06.",
        check=seconds_above_zero,
        main=Flag(
            name="--connect-timeout",
            type=float,
            metavar="SECONDS",
            help="seconds for resolving and connecting to a destination; past them the "
            "reply is REP 0x06 (TTL expired) (default 10)",
        ),
    ),
    _runtime(
        "handshake_timeout",
        30.0,
        "Seconds from accept to a complete request; None or 0 for no limit.",
        check=no_limit_or_seconds,
        main=Flag(
            name="--handshake-timeout",
            type=parse_seconds,
            metavar="SECONDS",
            help="close clients that have not sent a complete request by then "
            "(default 30; 0: none)",
        ),
    ),
    _runtime(
        "socks4",
        True,
        "Also accept SOCKS 4 and 4a on the same port.",
        check=boolean,
        main=Flag(name="--no-socks4", action="store_false", help="refuse SOCKS 4/4a clients"),
    ),
    _runtime(
        "host_map",
        None,
        'Play or redirect destinations: {name or "name:port": "address[:port]", ECHO, '
        "Sink(…) or None}.",
        check=check_host_map,
        default_doc="{}",
    ),
    # -- destinations ----------------------------------------------------------------------
    _runtime(
        "hermetic",
        True,
        "Refuse destinations outside loopback, localhost, host_map and the rules.",
        check=boolean,
        ini=Ini(
            type="bool",
            default=True,
            help="refuse destinations outside loopback and host_map (default true)",
        ),
        from_text=text_switch("socks5_hermetic"),
        main=Flag(
            name="--no-hermetic",
            action="store_false",
            help="allow every destination, not only loopback (the default refuses the rest)",
        ),
    ),
    _runtime(
        "allow",
        (),
        "Destinations allowed anyway: host globs or networks, with an optional :port.",
        check=allow_patterns,
        ini=Ini(
            type="linelist",
            default=[],
            help="destinations the proxy may reach besides loopback and host_map: host "
            "globs or networks, optionally with :port (one a line)",
        ),
        from_text=list,
        main=Flag(
            name="--allow",
            action="append",
            metavar="PATTERN",
            default=[],
            help="also allow this destination (host glob or network, optionally :port); repeat",
        ),
        default_doc="()",
    ),
    _runtime(
        "rules",
        (),
        "Rule values, checked first, in order; the first match decides.",
        check=rules,
    ),
    # -- BIND, UDP ASSOCIATE, SOCKS 4 user ids ---------------------------------------------
    _runtime(
        "bind_timeout",
        10.0,
        "Seconds a BIND waits for its incoming connection.",
        check=seconds_above_zero,
    ),
    _runtime(
        "udp_faults", None, "A UdpFaults applied to every UDP association.", check=udp_faults
    ),
    _runtime(
        "socks4_user_ids",
        None,
        "Accept SOCKS 4 requests only with one of these USERID values (none with a NUL byte, "
        "which ends a USERID, or over 1,024 bytes, the longest the server reads).",
        check=socks4_user_ids,
        main=Flag(
            name="--socks4-user-id",
            action="append",
            metavar="ID",
            help="accept SOCKS 4 requests only with this USERID (with --user, the way SOCKS 4 "
            "clients get in); repeat for several (default: any USERID)",
        ),
    ),
    _runtime(
        "socks4_user_id_reply",
        Socks4Reply.REJECTED,
        "The reply to a USERID not in socks4_user_ids: 0x5B, 0x5C or 0x5D.",
        check=socks4_user_id_reply,
        default_doc="0x5B",
    ),
    # -- records and limits ----------------------------------------------------------------
    _runtime(
        "capture_payload",
        0,
        "Keep the first this many payload bytes each way in every record (0: none).",
        check=integer(low=0),
        ini=Ini(
            default="0", help="bytes of payload kept each way in every record (default 0: none)"
        ),
        flag=Flag(
            name="--socks5-capture-payload",
            type=int,
            metavar="BYTES",
            help="keep the first BYTES of payload each way in every record (default 0: none)",
        ),
        from_text=text_bytes,
    ),
    _runtime(
        "idle_timeout",
        None,
        "Seconds an open tunnel may move no byte either way before it is closed; None or "
        "0: never.",
        check=no_limit_or_seconds,
        main=Flag(
            name="--idle-timeout",
            type=parse_seconds,
            metavar="SECONDS",
            help="close tunnels that move no byte either way for this long (default 0: never)",
        ),
    ),
    _runtime(
        "max_connections",
        None,
        "Connections open at once; one more is closed at accept and recorded. None: no "
        "limit; 0 closes every one (a full proxy).",
        check=optional(integer(low=0)),
        main=Flag(
            name="--max-connections",
            type=int,
            metavar="N",
            help="refuse connections beyond N open at once (default: no limit)",
        ),
    ),
    Option(
        name="max_records",
        default=MAX_RECORDS,
        doc="Records kept; past it the oldest is dropped and counted. None: no limit; "
        "0 keeps none.",
        given_to=_SERVER,
        check=optional(integer(low=0)),
        main=Flag(
            name="--max-records",
            type=int,
            metavar="N",
            default=CLI_MAX_RECORDS,
            help=f"connection records kept in memory (default {CLI_MAX_RECORDS})",
        ),
    ),
    Option(
        name="on_connection_end",
        default=None,
        doc="Called (on the server's thread) with each finished record.",
        given_to=_SERVER,
        check=callable_or_none,
    ),
    # -- faults and how the server runs ---------------------------------------------------
    Option(
        name="faults",
        default=(),
        doc="Faults (pytest_socks5.faults) applied from the start; a marker's for one test.",
        given_to=_LISTEN,
        check=faults,
        default_doc="()",
    ),
    Option(
        name="seed",
        default=0,
        doc="Seeds the RNG of faults with a probability, so runs replay exactly.",
        given_to=_SERVER,
        check=integer(),
        ini=Ini(help="seed for faults with a probability and for chaos mode (default 0)"),
        flag=Flag(
            name="--socks5-seed",
            type=int,
            help="seed for faults with a probability (default: ini socks5_seed or 0)",
        ),
        from_text=text_seed,
    ),
    Option(
        name="loop",
        default="auto",
        doc='The server thread\'s event loop: "uvloop", "asyncio", or "auto" (uvloop when '
        "installed). Never the caller's loop; ignored by ``async with``.",
        given_to=_SERVER,
        check=loop_name,
        ini=Ini(
            default="auto",
            help="event loop of the server thread: auto (default), uvloop or asyncio",
        ),
        flag=Flag(
            name="--socks5-loop",
            metavar="NAME",
            choices=LOOP_NAMES,
            help="event loop of the server thread: auto (uvloop when installed), uvloop "
            "or asyncio (default: ini socks5_loop or auto)",
        ),
        main=Flag(
            name="--loop",
            metavar="NAME",
            choices=LOOP_NAMES,
            help="event loop: auto (default: uvloop when installed), uvloop or asyncio",
        ),
    ),
    Option(
        name="splice",
        default=False,
        doc="Relay with Linux splice(2) the tunnels nothing needs to see: no transfer "
        "fault, payload capture, data hook or idle_timeout (those take the ordinary relay).",
        given_to=_SERVER,
        per_connection=True,
        check=boolean,
        main=Flag(
            name="--splice", action="store_true", help="relay with Linux splice(2) (zero-copy)"
        ),
    ),
    *PYTEST_OPTIONS,
)

_BY_NAME = {o.name: o for o in OPTIONS}


def option(name: str) -> Option:
    return _BY_NAME[name]


def names(site: Site) -> list[str]:
    """The options that may be given at ``site``, in the table's order."""
    return list(_names(site))


@functools.cache
def _names(site: Site) -> tuple[str, ...]:
    # The table is fixed at import; every test's marker is checked against it.
    return tuple(o.name for o in OPTIONS if site in o.sites)


def check_names(
    given: Collection[object], site: Site, *, context: str, leave_out: tuple[str, ...] = ()
) -> None:
    """Refuse names not given at ``site`` (or in ``leave_out``), as Python refuses an
    unexpected keyword (:class:`TypeError`): ``"<context>: user (did you mean users?);
    known: …"``; a name that is not text: ``"option names must be text, got 1 (int)…"``."""
    __tracebackhide__ = True  # pytest shows the caller's line, not this one
    valid = tuple(name for name in _names(site) if name not in leave_out)
    known = f"known: {', '.join(valid)}"
    if odd := [name for name in given if not isinstance(name, str)]:
        raise TypeError(f"{fail_type('option names', 'text', odd[0])}; {known}")
    unknown = sorted({name for name in given if isinstance(name, str)}.difference(valid))
    if not unknown:
        return
    described = [name + did_you_mean(name, valid) for name in unknown]
    raise TypeError(f"{context}: {', '.join(described)}; {known}")


def defaults(site: Site) -> dict[str, Any]:
    return {o.name: o.default for o in OPTIONS if site in o.sites}


def normalise(values: Mapping[str, Any]) -> dict[str, Any]:
    """Each value checked and normalised by its declaration."""
    return {name: _BY_NAME[name].normalise(value) for name, value in values.items()}


def config_values(values: Mapping[str, Any], auth: AuthPolicy | None = None) -> dict[str, Any]:
    """The ``EngineConfig`` fields that normalised ``values`` set. ``users`` and
    ``validator`` each change their own part of ``auth`` (the current policy; none by
    default) and keep the other: ``configure(validator=f)`` keeps the users, and
    ``users=None`` means no users, as its default does."""
    out = {name: v for name, v in values.items() if _BY_NAME[name].per_connection}
    if "users" in out or "validator" in out:
        auth = auth or AuthPolicy()
        users = out.pop("users", auth.users)
        validator = out.pop("validator", auth.validator)
        out["auth"] = AuthPolicy(users=users or (), validator=validator)
    return out
