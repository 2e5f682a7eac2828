"""Which destinations the proxy may reach: allow/deny rules and the hermetic default.

Strategy: a test suite must never reach the internet by accident, so the proxy is
*hermetic* unless told otherwise: loopback addresses, ``localhost`` and the names in
``host_map`` are allowed, and anything else is refused with REP 0x02 (connection not
allowed by ruleset) *before* any DNS lookup or dial. :class:`Rule` values written by the
test come first, in order, and the first one that matches decides (like a firewall's
rule list); the hermetic default decides when none does. Pure policy: no I/O, no DNS —
a rule's ``network`` matches the address the client asked for, never a resolved one.
"""

from __future__ import annotations

import fnmatch
import functools
import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from ._checks import (
    KnownArguments,
    bracket_hint,
    choice,
    did_you_mean,
    fail_type,
    fail_value,
    port,
    text,
)
from ._field_values import FieldValues
from ._hosts import HostMap, is_mapped
from ._protocol import Command
from ._public import public

__all__ = [
    "Decision",
    "Rule",
    "check_destination",
    "command_code",
    "command_name",
    "denial_message",
    "host_pattern",
    "parse_allow",
]

Action = Literal["allow", "deny"]
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

#: The words a rule's ``command`` may be given as (any case), besides the RFC byte: the
#: short ones and the :class:`Command` names (what ``Permission.command`` shows).
_COMMAND_WORDS = {
    "connect": Command.CONNECT,
    "bind": Command.BIND,
    "udp": Command.UDP_ASSOCIATE,
    "udp_associate": Command.UDP_ASSOCIATE,
}


_GLOB = frozenset("*?[")
_DOTTED = re.compile(r"[0-9]+(\.[0-9]+){3}")


def host_pattern(name: str, value: object) -> str:
    """A host glob, name or address as a client may send it: not empty, no spaces, no
    ``/`` (that is a network), no brackets around an IPv6 address (a glob would take
    them for a set of characters), and a dotted quad or IPv6 address (without a glob)
    that is a real address."""
    host = text(name, value)
    if not host or any(c.isspace() or not c.isprintable() or c == "/" for c in host):
        hint = " (a network goes in network=)" if "/" in host else ""
        raise fail_value(name, "a host name, address or glob without spaces", host, hint)
    if hint := bracket_hint(host):
        raise fail_value(name, "a host name, address or glob", host, hint)
    if not _GLOB & set(host) and (_DOTTED.fullmatch(host) or ":" in host):
        try:
            ipaddress.ip_address(host)
        except ValueError:
            what = "an IPv6 address" if ":" in host else "an IPv4 address"
            raise fail_value(name, what, host) from None
    return host


def _network(name: str, value: object) -> IPNetwork:
    written = text(name, value)
    try:
        return ipaddress.ip_network(written, strict=False)
    except ValueError:
        pass
    try:  # for the reason: the netmask, an octet, …
        _ = (ipaddress.IPv6Network if ":" in written else ipaddress.IPv4Network)(written, False)
        reason = ""
    except ValueError as exc:
        reason = f": {exc}"
    raise fail_value(name, "an IP network such as '10.0.0.0/8'", value, reason)


def _port_or_range(name: str, value: object) -> None:
    if isinstance(value, tuple):
        if len(value) != 2:
            raise fail_value(name, "a port or a (low, high) range", value)
        low, high = (port(f"{name}[{i}]", v) for i, v in enumerate(value))
        if low > high:
            raise fail_value(name, "a (low, high) range with low <= high", value)
    elif isinstance(value, int) and not isinstance(value, bool):
        port(name, value)
    else:
        raise fail_type(name, "a port or a (low, high) range", value)


def command_code(name: str, value: object) -> int:
    """A command given as a word, any case (``"connect"``, ``"bind"``, ``"udp"`` or the
    :class:`Command` name ``"UDP_ASSOCIATE"``), or a :class:`Command`, as its byte."""
    expected = f"one of {', '.join(map(repr, _COMMAND_WORDS))} (any case) or a Command"
    if isinstance(value, str):
        if (code := _COMMAND_WORDS.get(value.lower())) is None:
            raise fail_value(
                name, expected, value, did_you_mean(value.lower(), list(_COMMAND_WORDS))
            )
        return int(code)
    if isinstance(value, bool) or not isinstance(value, int):
        raise fail_type(name, expected, value)
    if value not in list(Command):
        raise fail_value(name, expected, value)
    return int(value)


def command_name(command: int) -> str:
    try:
        return Command(command).name
    except ValueError:
        return f"CMD 0x{command:02x}"


@public
@dataclass(frozen=True, kw_only=True, slots=True, repr=False, eq=False)
class Rule(KnownArguments, FieldValues):
    """One line of the proxy's rule list: allow or deny the requests it matches.

    Build rules with :meth:`allow` and :meth:`deny`. Every criterion given must hold for
    the rule to match; a rule with none matches everything.

    :param host: a glob (``*``, ``?``, ``[…]``, case-insensitive) on the requested
        destination as the client sent it: a name, a dotted quad, or an IPv6 address
        without brackets.
    :param network: an :mod:`ipaddress` network (``"10.0.0.0/8"``, ``"::1/128"``) that the
        requested address is in; never matches a name (names are not resolved to decide).
    :param port: a port, or an inclusive ``(low, high)`` range.
    :param command: ``Command.CONNECT``, ``Command.BIND`` or ``Command.UDP_ASSOCIATE``,
        or its name in any case (``"UDP_ASSOCIATE"``, as :attr:`Permission.command` shows
        it) or ``"connect"``, ``"bind"``, ``"udp"``; SOCKS 4 uses the same numbers.
    :param user: a glob on the RFC 1929 username or the SOCKS 4 ``USERID``; never matches
        a client that sent neither.
    """

    action: Action
    host: str | None = None
    network: str | None = None
    port: int | tuple[int, int] | None = None
    command: int | str | None = None
    user: str | None = None
    _network: IPNetwork | None = field(default=None, init=False, repr=False, compare=False)
    _command: int | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        choice("allow", "deny")("Rule: action", self.action)
        if self.host is not None:
            host_pattern("Rule: host", self.host)
        if self.network is not None:
            object.__setattr__(self, "_network", _network("Rule: network", self.network))
        if self.port is not None:
            _port_or_range("Rule: port", self.port)
        if self.command is not None:
            object.__setattr__(self, "_command", command_code("Rule: command", self.command))
        if self.user is not None:
            text("Rule: user", self.user)

    @classmethod
    def allow(cls, **criteria: Any) -> Rule:
        """A rule that lets matching requests through (even past the hermetic default)."""
        return cls(action="allow", **criteria)

    @classmethod
    def deny(cls, **criteria: Any) -> Rule:
        """A rule that refuses matching requests with REP 0x02 (SOCKS 4: 0x5B)."""
        return cls(action="deny", **criteria)

    def matches(
        self, *, host: str | None, port: int | None, command: int, user: str | None
    ) -> bool:
        """Whether every criterion of this rule holds for the request.

        ``host`` and ``port`` are ``None`` for a request without a destination (a UDP
        ASSOCIATE itself; its datagrams are checked one by one); a rule about the
        destination never matches it.
        """
        if self._command is not None and command != self._command:
            return False
        if self.user is not None and (
            user is None or not fnmatch.fnmatchcase(user.lower(), self.user.lower())
        ):
            return False
        if self.host is not None and (
            host is None or not fnmatch.fnmatchcase(host.lower(), self.host.lower())
        ):
            return False
        if self._network is not None and not (host is not None and _in(host, self._network)):
            return False
        if self.port is None:
            return True
        if port is None:
            return False
        if isinstance(self.port, tuple):
            return self.port[0] <= port <= self.port[1]
        return port == self.port

    def __str__(self) -> str:
        shown = {
            "host": self.host,
            "network": self.network,
            "port": self.port,
            "command": command_name(self._command) if self._command is not None else None,
            "user": self.user,
        }
        args = ", ".join(
            (f"command=Command.{v}" if k == "command" else f"{k}={v!r}")
            for k, v in shown.items()
            if v is not None
        )
        return f"Rule.{self.action}({args})"


def _ip(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def _in(host: str, network: IPNetwork) -> bool:
    ip = _ip(host)
    if ip is None:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.version == network.version and ip in network


def parse_allow(pattern: str, name: str = "allow") -> Rule:
    """An ``allow`` pattern as written in ``allow=[…]`` or the ``socks5_allow`` ini option:
    a network (``10.0.0.0/8``, ``192.0.2.7``, ``2001:db8::/32``), a host glob
    (``*.example.com``), or either with a port (``example.com:443``, ``*:8080``,
    ``[2001:db8::1]:443``). Anything else is a ``ValueError`` naming the pattern."""
    written = text(name, pattern)
    expected = "a host glob or a network, optionally with :port"
    text_ = written.strip()
    if not text_:
        raise fail_value(name, expected, pattern)
    try:
        ipaddress.ip_network(text_, strict=False)
    except ValueError:
        pass
    else:
        return Rule.allow(network=text_)
    host, port_text = text_, None
    if text_.startswith("["):
        inside, bracket, rest = text_[1:].partition("]")
        if not bracket or (rest and not rest.startswith(":")):
            raise fail_value(name, expected + " ([IPv6]:port)", pattern)
        host, port_text = inside, (rest[1:] if rest else None)
    elif text_.count(":") == 1:
        host, _, port_text = text_.partition(":")
    number = None
    if port_text is not None:
        if not port_text.isdigit():
            raise fail_value(name, expected, pattern, f": the port {port_text!r} is not a number")
        number = port(f"{name} {pattern!r}: port", int(port_text))
    if "/" in host:
        _network(name if host == text_ else f"{name} {pattern!r}", host)
    try:
        ipaddress.ip_network(host, strict=False)
    except ValueError:
        if ":" in host and not _GLOB & set(host):
            raise fail_value(
                name, expected, pattern, " (an IPv6 address with a port is written [addr]:port)"
            ) from None
        return Rule.allow(host=host_pattern(name, host), port=number)
    return Rule.allow(network=host, port=number)


@dataclass(frozen=True, kw_only=True, slots=True, repr=False, eq=False)
class Decision(FieldValues):
    """The verdict on one request: allowed or not, and what decided (a rule's text, or the
    hermetic default's reason)."""

    allowed: bool
    reason: str
    rule: Rule | None = None


# The hermetic default's verdicts: values, so every request shares them.
_NOT_HERMETIC = Decision(allowed=True, reason="hermetic=False")
_NO_DESTINATION = Decision(allowed=True, reason="no destination to check")
_LOOPBACK = Decision(allowed=True, reason="hermetic default: loopback")
_IN_HOST_MAP = Decision(allowed=True, reason="hermetic default: in host_map")
_NOT_LOCAL = Decision(allowed=False, reason="hermetic default: not loopback and not in host_map")


@functools.lru_cache(maxsize=1024)  # asked once per request: the same few hosts
def _is_local(host: str) -> bool:
    ip = _ip(host)
    if ip is None:
        name = host.rstrip(".").lower()
        return name == "localhost" or name.endswith(".localhost")
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_loopback or ip.is_unspecified


def check_destination(
    *,
    command: int,
    host: str | None,
    port: int | None,
    user: str | None,
    rules: Iterable[Rule] = (),
    host_map: HostMap | None = None,
    hermetic: bool = True,
) -> Decision:
    """Decide on one request: the first matching rule, else the hermetic default (allow
    loopback, ``localhost`` and ``host_map`` names; refuse the rest), else allow."""
    for rule in rules:
        if rule.matches(host=host, port=port, command=command, user=user):
            return Decision(allowed=rule.action == "allow", reason=str(rule), rule=rule)
    if not hermetic:
        return _NOT_HERMETIC
    if host is None or port is None:
        return _NO_DESTINATION
    if _is_local(host):
        return _LOOPBACK
    if host_map and is_mapped(host_map, host, port):
        return _IN_HOST_MAP
    return _NOT_LOCAL


def _bracketed(host: str) -> str:
    """``[v6]`` for an IPv6 address; anything else as given (a domain ``[::1]`` too)."""
    try:
        return f"[{host}]" if ipaddress.ip_address(host).version == 6 else host
    except ValueError:
        return host


def denial_message(decision: Decision, *, command: int, host: str | None, port: int | None) -> str:
    """What a record's ``error`` says about a refusal: which rule, and how to allow it."""
    if host is None:
        return f"{command_name(command)} denied by {decision.reason}"
    pattern = _bracketed(host)
    what = f"{command_name(command)} {pattern}:{port}"
    if decision.rule is not None:
        return f"{what} denied by {decision.rule}"
    return (
        f"{what} denied by the {decision.reason}: pytest-socks5 is hermetic and refuses "
        "destinations outside loopback and host_map, without any DNS lookup or dial. "
        f'To allow it: @pytest.mark.socks5(allow=["{pattern}"]), SOCKS5Server(allow=[…]) '
        f"or the ini option socks5_allow = {pattern}; map it to a local server with "
        "host_map; or turn the default off with hermetic=False (ini: socks5_hermetic = false)."
    )
