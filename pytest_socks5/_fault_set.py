"""The faults a server applies, and which of them hit a connection at each point.

Strategy: :class:`FaultSet` is an immutable tuple of active faults swapped under a lock,
so tests may add and remove faults from any thread while the server runs. Each active
fault carries its own counters (``times``, ``nth``) and a random generator seeded from
the server's seed and its position, so ``probability`` replays exactly. The server asks
:meth:`FaultSet.pick` at each point where a fault can act — the answer to the greeting,
to the RFC 1929 sub-negotiation, the request (before dialling), the reply, and the
tunnel once it is open; with no faults configured that question costs one ``if``.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Sequence

from ._fault_types import Fault, Phase, TransferFault
from ._records import ConnectionRecord
from ._user_code import users_error

__all__ = ["FaultSet"]


class _Active:
    """A fault in a server's set, with its own counters and RNG."""

    __slots__ = ("applied", "fault", "matched", "rng")

    def __init__(self, fault: Fault, seed: int) -> None:
        self.fault = fault
        self.matched = 0
        self.applied = 0
        self.rng = random.Random(fault.seed if fault.seed is not None else seed)


class FaultSet:
    """The faults a server applies, safe to change from any thread while it runs."""

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed
        self._lock = threading.Lock()
        self._active: tuple[_Active, ...] = ()

    def __bool__(self) -> bool:
        return bool(self._active)

    def add(self, fault: Fault) -> Fault:
        if not isinstance(fault, Fault):
            raise TypeError(f"expected a pytest_socks5.faults.Fault, got {fault!r}")
        with self._lock:
            index = len(self._active)
            self._active = (*self._active, _Active(fault, self.seed + index))
        return fault

    def remove(self, fault: Fault) -> None:
        with self._lock:
            self._active = tuple(a for a in self._active if a.fault is not fault)

    def clear(self) -> None:
        with self._lock:
            self._active = ()

    @property
    def faults(self) -> tuple[Fault, ...]:
        return tuple(a.fault for a in self._active)

    def pick(
        self, phase: Phase | None, record: ConnectionRecord, skip: Sequence[Fault] = ()
    ) -> list[Fault]:
        """The faults acting at ``phase`` (``None``: transfer) that hit this connection,
        but those in ``skip`` (acting on it already), which are neither counted nor drawn.

        Counting ``times``/``nth`` and drawing ``probability`` happen here, once per
        connection and fault (and per later origin of a forwarding connection, whose
        faults are picked for it).
        """
        hits = []
        with self._lock:
            for active in self._active:
                fault = active.fault
                is_transfer = isinstance(fault, TransferFault)
                if (phase is None) != is_transfer or (
                    phase is not None and fault.phase is not phase
                ):
                    continue
                if skip and fault in skip:
                    continue
                try:
                    if not fault.selects(record):
                        continue
                except BaseException as exc:  # its when= predicate
                    source = f"when= predicate of {fault.describe()}"
                    raise users_error(exc, source) from exc
                active.matched += 1
                if fault.nth is not None and active.matched != fault.nth:
                    continue
                if fault.times is not None and active.applied >= fault.times:
                    continue
                if fault.probability is not None and active.rng.random() >= fault.probability:
                    continue
                active.applied += 1
                hits.append(fault)
        return hits
