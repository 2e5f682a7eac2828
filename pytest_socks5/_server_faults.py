"""``socks5_server.add_fault(…)`` and the rest: the server's methods for the faults it
applies.

Strategy: a mixin of :class:`~pytest_socks5.SOCKS5Server` (as the gates and hooks are),
so the server module stays about the server's lifecycle. The engine's
:class:`~pytest_socks5._fault_set.FaultSet` holds the faults and picks them for each
connection; these methods only add, remove and list them.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from ._engine import Engine
from ._fault_types import Fault

__all__ = ["FaultMethods"]


class FaultMethods:
    """The faults applied to new connections: added, removed, listed."""

    _engine: Engine

    def add_fault(self, fault: Fault) -> Fault:
        """Apply ``fault`` to new connections it matches, until removed; return it.

        Thread-safe, and takes effect at once (a connection already past the fault's
        phase is not affected).
        """
        return self._engine.faults.add(fault)

    def remove_fault(self, fault: Fault) -> None:
        """Stop applying ``fault`` (no error if it is not there)."""
        self._engine.faults.remove(fault)

    def clear_faults(self) -> None:
        """Remove every fault, including those given at construction."""
        self._engine.faults.clear()

    @property
    def faults(self) -> tuple[Fault, ...]:
        """The faults currently applied, in the order they were added."""
        return self._engine.faults.faults

    @contextlib.contextmanager
    def fault(self, fault: Fault) -> Iterator[Fault]:
        """``with server.fault(Stall(at="reply")):`` applies the fault inside the block."""
        self.add_fault(fault)
        try:
            yield fault
        finally:
            self.remove_fault(fault)
