"""Normalising the options added for BIND, UDP ASSOCIATE, SOCKS 4 user ids and
destination rules (issue 5) into :class:`~pytest_socks5._engine.EngineConfig` values.
Pure policy: bad values are refused when the server is built or configured, not at the
first connection."""

from __future__ import annotations

from typing import Any

from ._protocol import Socks4Reply
from ._rules import Rule, parse_allow
from ._udp_faults import UdpFaults

__all__ = ["ISSUE5_OPTIONS", "issue5_options"]

ISSUE5_OPTIONS = frozenset(
    {
        "hermetic",
        "allow",
        "rules",
        "bind_timeout",
        "udp_faults",
        "socks4_user_ids",
        "socks4_user_id_reply",
    }
)


def issue5_options(**options: Any) -> dict[str, Any]:
    """Normalise the BIND/UDP/SOCKS 4/rules options into :class:`EngineConfig` values,
    refusing bad ones at once rather than at the first connection."""
    out = dict(options)
    if "allow" in out:
        patterns = out["allow"]
        if isinstance(patterns, str):
            patterns = [patterns]
        out["allow"] = tuple(parse_allow(p) for p in patterns)
    if "rules" in out:
        rules = tuple(out["rules"])
        for rule in rules:
            if not isinstance(rule, Rule):
                raise TypeError(f"rules must be Rule values (Rule.allow/Rule.deny), got {rule!r}")
        out["rules"] = rules
    if out.get("udp_faults") is not None and not isinstance(out["udp_faults"], UdpFaults):
        raise TypeError(f"udp_faults must be a UdpFaults, got {out['udp_faults']!r}")
    if out.get("socks4_user_ids") is not None:
        ids = out["socks4_user_ids"]
        if isinstance(ids, str | bytes):
            ids = [ids]
        out["socks4_user_ids"] = frozenset(
            i if isinstance(i, bytes) else i.encode("utf-8") for i in ids
        )
    if "socks4_user_id_reply" in out:
        reply = out["socks4_user_id_reply"]
        if reply not in (0x5B, 0x5C, 0x5D):
            raise ValueError(f"socks4_user_id_reply must be 0x5B, 0x5C or 0x5D, got {reply!r}")
        out["socks4_user_id_reply"] = Socks4Reply(reply)
    return out
