"""One test's leak watch, for the pytest plugin: which proxies are the test's, when the
audit hook records, and what the guard says at teardown.

Strategy: the plugin makes one :class:`TestLeaks` per test that uses a proxy fixture and
hands it each server the test gets; recording runs only during the test's call phase
(so fixtures that start or poll their own servers are not counted), through
:mod:`._leak_hook`. The guard (``leak_guard``: ``None`` off, else the allowed patterns)
only decides whether :meth:`TestLeaks.verdict` returns a failure message; the lists and
the on-demand assertions work either way. No pytest here: the plugin stays thin.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import _leak_hook
from ._leaks import LeakLog, describe

if TYPE_CHECKING:  # made with a test's first proxy; the type only
    from ._server import SOCKS5Server

__all__ = ["TestLeaks"]


class TestLeaks:
    """The lookups and connects of one test's client, and its guard."""

    __test__ = False  # not a test class, whatever pytest collects

    def __init__(self, guard: tuple[str, ...] | None) -> None:
        self.guard = guard
        self.log = LeakLog(guard or ())
        self._servers: list[SOCKS5Server] = []

    def watch(self, server: SOCKS5Server) -> None:
        """``server`` is a proxy of this test: connects to it and lookups of its host
        name are the client's business; its leak lists are this test's."""
        self.log.add_proxy(server.host, server.listen_addresses, server._bound_addresses)
        server._watch_leaks(self.log)
        self._servers.append(server)

    def start(self) -> None:
        _leak_hook.start(self.log)

    def stop(self) -> None:
        if _leak_hook.current() is self.log:
            _leak_hook.stop()

    def verdict(self) -> str | None:
        """Stop watching; the guard's failure message, or ``None`` (unguarded, or clean)."""
        self.stop()
        for server in self._servers:
            server._watch_leaks(None)
        if self.guard is None:
            return None
        message = self.log.report()
        if message is None:
            return None
        return "pytest-socks5 leak guard: " + message

    def transcript(self) -> str | None:
        """The leak lines for a failing test's transcript, or ``None`` if nothing leaked."""
        lookups, connects = self.log.leaks()
        found = describe(lookups, connects, self.log.allow)
        return None if found is None else f"client leaks (seen by the audit hook):\n{found}"
