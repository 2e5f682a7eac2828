"""The leak assertions of ``SOCKS5Server``: what the test's client did around the proxy.

Strategy: a mixin over the :class:`~._leaks.LeakLog` that the pytest plugin hands every
proxy of a test while the test runs (the audit hook of :mod:`._leak_hook` fills it); the
lists are copies, the assertions raise :class:`~._leaks.LeakError` with the message the
guard would give. Outside such a test nothing records, and asking is a
:class:`RuntimeError` rather than a pass that proves nothing. Pure.
"""

from __future__ import annotations

from ._checks import optional, text
from ._leaks import Leak, LeakError, LeakLog, describe

__all__ = ["LeakQueries"]

_HOST = optional(text)
_NOT_RECORDING = (
    "no leak record for this server: local lookups and direct connections are recorded "
    "while a test uses the socks5_server, socks5_proxy_env or socks5_server_factory fixture"
)


class LeakQueries:
    """DNS-leak and bypass checks, mixed into :class:`~pytest_socks5.SOCKS5Server`."""

    _leak_log: LeakLog | None = None

    def _watch_leaks(self, log: LeakLog | None) -> None:
        self._leak_log = log

    def _leaks(self) -> LeakLog:
        if self._leak_log is None:
            raise RuntimeError(_NOT_RECORDING)
        return self._leak_log

    @property
    def local_lookups(self) -> list[Leak]:
        """The name lookups the test process made itself during this test, not the
        proxy's (a DNS leak unless expected), allowed ones included, in order."""
        return self._leaks().lookups

    @property
    def direct_connections(self) -> list[Leak]:
        """The connects the test process made to somewhere other than a proxy of the
        test during this test (a bypass unless expected), allowed ones included."""
        return self._leaks().connections

    def assert_no_local_dns(self, host: str | None = None) -> None:
        """Fail if the client looked up a name itself (of ``host`` only, if given)
        instead of leaving it to the proxy (``socks5h://``); the leak guard's allow-list
        applies. The message names each call, its arguments and the caller's frame.
        ``host`` is a name (or an address) as the client gave it, compared without case
        or a trailing dot."""
        __tracebackhide__ = True
        _HOST("assert_no_local_dns(): host", host)
        log = self._leaks()
        lookups, _ = log.leaks(host)
        message = describe(lookups, [], log.allow)
        if message is not None:
            raise LeakError(message)

    def assert_no_bypass(self) -> None:
        """Fail if the client connected anywhere but to a proxy of the test (the leak
        guard's allow-list applies)."""
        __tracebackhide__ = True
        log = self._leaks()
        _, connects = log.leaks()
        message = describe([], connects, log.allow)
        if message is not None:
            raise LeakError(message)
