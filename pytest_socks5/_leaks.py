"""What a test's client did around the proxy: the name lookups it made itself (DNS leaks)
and the connects it made anywhere but to a proxy of the test (bypasses).

Strategy: :class:`LeakLog` is one test's store, filled by the audit hook
(:mod:`._leak_hook`) from any thread and read by the assertions and the guard. It keeps
what was seen and decides nothing until asked: an allow-list (the patterns of
``allow=``, see :func:`~._rules.parse_allow`) only filters what :meth:`LeakLog.leaks`
returns, so the lists stay complete. Lookups of address literals never reach a resolver
and are not noted; nor are lookups of a proxy's own host name, or connects to a proxy's
listen address. Every message names the call with its arguments, the frame of the
caller's code, and the scheme or setting that usually causes it. Pure.
"""

from __future__ import annotations

import functools
import ipaddress
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Literal

from ._checks import is_address
from ._field_values import FieldValues
from ._public import public
from ._rules import Rule, parse_allow

__all__ = [
    "BYPASS_HINT",
    "LOOKUP_HINT",
    "Leak",
    "LeakError",
    "LeakLog",
    "is_loopback",
]

LOOKUP_HINT = (
    "the client resolved the name itself and sent the proxy an address: use socks5h:// "
    "(or socks4a://) instead of socks5://, or the client's remote-DNS setting (rdns=True), "
    "so that the proxy resolves it"
)
BYPASS_HINT = (
    "the client went around the proxy: usually NO_PROXY/no_proxy (many clients skip the "
    "proxy for localhost and 127.0.0.1), a proxy setting the library does not read "
    "(trust_env=False, a missing socks extra), or a connection opened outside the proxied "
    "session; allow an expected one with leak_guard={'allow': ['host:port']}"
)


@public
class LeakError(AssertionError):
    """A DNS leak or a proxy bypass: raised by ``assert_no_local_dns``,
    ``assert_no_bypass`` and the guard."""


def is_loopback(host: str) -> bool:
    """Whether ``host`` is a loopback address literal (``127.0.0.0/8``, ``::1``)."""
    return is_address(host) and ipaddress.ip_address(_address_key(host)).is_loopback


@functools.lru_cache(maxsize=256)  # pure; asked for the same few hosts every test
def _address_key(host: str) -> str:
    """``host`` as compared with a proxy's listen address (``::ffff:127.0.0.1`` is
    ``127.0.0.1``)."""
    try:
        ip = ipaddress.ip_address(host.partition("%")[0])
    except ValueError:
        return host.lower().rstrip(".")
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return str(ip)


@public
@dataclass(frozen=True, repr=False, eq=False)
class Leak(FieldValues):
    """One name lookup (``kind="lookup"``) or connect (``kind="connect"``) the test
    process made itself, outside the proxy."""

    kind: Literal["lookup", "connect"]
    #: The audit event: ``socket.getaddrinfo``, ``socket.gethostbyname``, ``socket.connect``…
    call: str
    #: The call's arguments as shown (a connect's socket left out).
    arguments: str
    host: str
    port: int | None
    #: ``file:line in function`` of the first caller outside the standard library,
    #: site-packages and this plugin; ``None`` when the thread has none (a worker thread).
    where: str | None
    #: ``file:line`` of the frame that made the call itself (inside a library, often).
    via: str
    thread: str

    @property
    def target(self) -> str:
        """``host`` or ``host:port`` (``[v6]:port``)."""
        if self.port is None:
            return self.host
        shown = f"[{self.host}]" if ":" in self.host else self.host
        return f"{shown}:{self.port}"

    def __str__(self) -> str:
        where = self.where or f"no frame of the test's code on thread {self.thread!r}"
        return f"{self.call}({self.arguments}) at {where} (called from {self.via})"


class LeakLog:
    """The lookups and connects of one test, seen by the audit hook; thread-safe.

    :param allow: patterns (as in the ``allow`` option: host globs or networks, with an
        optional ``:port``) of lookups and connects the test expects.
    """

    def __init__(self, allow: Iterable[str] = ()) -> None:
        self.allow: tuple[str, ...] = tuple(allow)
        self._rules: tuple[Rule, ...] = tuple(
            parse_allow(p, "leak_guard allow") for p in self.allow
        )
        self._lock = threading.Lock()
        self._lookups: list[Leak] = []
        self._connections: list[Leak] = []
        self._proxy_names: set[str] = set()
        self._proxy_addresses: set[tuple[str, int]] = set()
        self._bound: tuple[Callable[[], Iterable[tuple[str, int]]], ...] = ()

    # -- what the proxies of the test are ---------------------------------------------------

    def add_proxy(
        self,
        name: str,
        addresses: Iterable[tuple[str, int]],
        bound: Callable[[], Iterable[tuple[str, int]]] = tuple,
    ) -> None:
        """A proxy of the test: its host name (looked up freely), listen addresses, and
        ``bound``: where its open BIND and UDP ASSOCIATE connections listen or relay now,
        which a client (or a BIND peer) is told to connect to."""
        with self._lock:
            self._proxy_names.add(_address_key(name))
            for host, port in addresses:
                self._proxy_addresses.add((_address_key(host), port))
                self._proxy_names.add(_address_key(host))
            self._bound = (*self._bound, bound)

    def is_proxy_name(self, host: str) -> bool:
        return _address_key(host) in self._proxy_names

    def is_proxy(self, host: str, port: int) -> bool:
        key = _address_key(host)
        if (key, port) in self._proxy_addresses:
            return True
        if any((key, port) in {(_address_key(h), p) for h, p in b()} for b in self._bound):
            return True
        # A name for a proxy (localhost) with a proxy's port.
        ports = {p for _, p in self._proxy_addresses}
        return not is_address(host) and key in self._proxy_names and port in ports

    # -- noting and reading ----------------------------------------------------------------

    def note(self, leak: Leak) -> None:
        with self._lock:
            (self._lookups if leak.kind == "lookup" else self._connections).append(leak)

    @property
    def lookups(self) -> list[Leak]:
        with self._lock:
            return list(self._lookups)

    @property
    def connections(self) -> list[Leak]:
        with self._lock:
            return list(self._connections)

    def allowed(self, leak: Leak) -> bool:
        return any(
            rule.matches(host=leak.host, port=leak.port, command=1, user=None)
            for rule in self._rules
        )

    def leaks(self, host: str | None = None) -> tuple[list[Leak], list[Leak]]:
        """``(lookups, connects)`` not allowed; lookups only of ``host`` if given."""
        lookups = [one for one in self.lookups if not self.allowed(one)]
        if host is not None:
            lookups = [one for one in lookups if _address_key(one.host) == _address_key(host)]
        return lookups, [one for one in self.connections if not self.allowed(one)]

    def report(self, *, lookups: bool = True, connects: bool = True) -> str | None:
        """The failure message for the leaks not allowed, or ``None`` if there are none."""
        found_lookups, found_connects = self.leaks()
        return describe(
            found_lookups if lookups else [], found_connects if connects else [], self.allow
        )


def describe(lookups: list[Leak], connects: list[Leak], allow: tuple[str, ...] = ()) -> str | None:
    """Each leak on a line under a headline, with the usual cause; ``None`` if none."""
    parts = []
    if lookups:
        lines = "\n".join(f"  {one}" for one in lookups)
        parts.append(
            f"DNS leak: {len(lookups)} name lookup(s) made by the test process, not by "
            f"the proxy:\n{lines}\n  cause: {LOOKUP_HINT}"
        )
    if connects:
        lines = "\n".join(f"  {one}" for one in connects)
        parts.append(
            f"proxy bypass: {len(connects)} connect(s) to somewhere other than a proxy of "
            f"the test:\n{lines}\n  cause: {BYPASS_HINT}"
        )
    if not parts:
        return None
    if allow:
        parts.append(f"allowed: {', '.join(allow)}")
    return "\n".join(parts)
