"""``server.permits(host, port)``: what the rules and the host map would do with a
request, without dialling or looking anything up.

Strategy: the same pure functions the server asks for every request —
:func:`~pytest_socks5._rules.check_destination` and the host map's lookup — asked about a
request nobody made, with the server's configuration of the moment. Nothing here opens
a socket or resolves a name (a name is only compared, in its IDNA form), so a test may
ask about any destination. The answer is a small frozen value that prints as a sentence.
"""

from __future__ import annotations

from dataclasses import dataclass

from ._checks import bracket_hint, fail_value, optional, port, text
from ._config import EngineConfig
from ._hosts import Unresolvable, describe_target, is_mapped, map_destination
from ._public import public
from ._rules import Rule, check_destination, command_code, command_name, host_pattern

__all__ = ["Permission", "dry_run"]

_WHERE = "permits(): "
_GLOB = frozenset("*?[")
_NOT_A_GLOB = " (not a glob: permits() asks about one request; rules take globs)"


@public
@dataclass(frozen=True, kw_only=True, slots=True)
class Permission:
    """The answer of :meth:`SOCKS5Server.permits`: would the server let this request
    through, what decided, and where ``host_map`` sends it. True when allowed."""

    #: Whether the request would pass the rules (``False``: REP 0x02, SOCKS 4: 0x5B).
    allowed: bool
    #: ``"CONNECT"``, ``"BIND"`` or ``"UDP_ASSOCIATE"``.
    command: str
    host: str
    port: int
    #: What decided: the rule's text (``Rule.deny(host='*.corp.test')``) or the default's
    #: reason (``hermetic default: in host_map``).
    reason: str
    #: The rule that decided, or ``None`` when a default did.
    rule: Rule | None
    #: Where ``host_map`` sends it (``127.0.0.1:8080``, ``ECHO``, ``Sink()``,
    #: ``unresolvable``), or ``None`` when ``host_map`` has no entry for it.
    mapped_to: str | None

    def __bool__(self) -> bool:
        return self.allowed

    def __str__(self) -> str:
        target = f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"
        verdict = "allowed" if self.allowed else "refused"
        mapped = f"; host_map sends it to {self.mapped_to}" if self.mapped_to else ""
        if self.mapped_to == "unresolvable":
            mapped = "; host_map makes it unresolvable (REP 0x04)"
        return f"{self.command} {target} {verdict} by {self.reason}{mapped}"


def dry_run(
    config: EngineConfig, host: str, port_number: int, command: object, user: str | None
) -> Permission:
    """What ``config`` would do with a ``command`` request for ``host:port_number``. Its
    arguments are checked as ``permits()``'s: one destination (a name or an address, no
    glob), a port, a command (:func:`~pytest_socks5._rules.command_code`), a user."""
    named = text(f"{_WHERE}host", host)
    if hint := bracket_hint(named) or (_NOT_A_GLOB if _GLOB & set(named) else ""):
        raise fail_value(f"{_WHERE}host", "one destination, a host name or address", host, hint)
    host_pattern(f"{_WHERE}host", host)
    port(f"{_WHERE}port", port_number)
    code = command_code(f"{_WHERE}command", command)
    optional(text)(f"{_WHERE}user", user)
    decision = check_destination(
        command=code,
        host=host,
        port=port_number,
        user=user,
        rules=config.rules + config.allow,
        host_map=config.host_map,
        hermetic=config.hermetic,
    )
    mapped_to = None
    if config.host_map and is_mapped(config.host_map, host, port_number):
        try:
            mapped_to = describe_target(map_destination(config.host_map, host, port_number))
        except Unresolvable:
            mapped_to = "unresolvable"
    return Permission(
        allowed=decision.allowed,
        command=command_name(code),
        host=host,
        port=port_number,
        reason=decision.reason,
        rule=decision.rule,
        mapped_to=mapped_to,
    )
