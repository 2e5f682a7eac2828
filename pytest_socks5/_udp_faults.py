"""Faults for UDP associations: drop, delay or corrupt datagrams; close the control
connection. Pure policy: the relay in ``_udp.py`` asks, per datagram, what to do.

Strategy: :class:`UdpFaults` is a frozen description; every association gets its own
:class:`UdpFaultState` (a seeded random generator and counters) from :meth:`UdpFaults.start`,
so the same test makes the same decisions on every run. Which datagrams are touched is
``after`` / ``limit`` (deterministic) and the probabilities ``drop`` / ``corrupt``
(seeded); a probability of 1 makes a fault certain.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Literal

from ._checks import Check, KnownArguments, integer, number, optional, probability
from ._fault_types import Direction, to_direction
from ._field_values import FieldValues
from ._public import public

__all__ = ["DatagramDirection", "FaultAction", "UdpFaultState", "UdpFaults"]

#: The way one datagram goes, in the records' words.
DatagramDirection = Literal["from_client", "to_client"]


_CHECKS: dict[str, Check] = {
    "drop": probability,
    "corrupt": probability,
    "delay": number(low=0),
    "after": integer(low=0),
    "limit": optional(integer(low=0)),
    "close_control_after": optional(integer(low=1)),
    "seed": optional(integer()),
}


@public
@dataclass(frozen=True, kw_only=True, slots=True, repr=False, eq=False)
class UdpFaults(KnownArguments, FieldValues):
    """Misbehaviour of the UDP relay, for every association made while it is configured.

    :param drop: probability (0 to 1) that a datagram is dropped.
    :param corrupt: probability that one byte of a datagram's payload is flipped (its
        SOCKS header stays intact, so the datagram is still delivered).
    :param delay: seconds each datagram is held before it is sent on.
    :param direction: which datagrams the faults above touch: ``"both"`` (default),
        ``"from_client"`` (client → destination) or ``"to_client"`` (destination →
        client), as strings or :class:`~pytest_socks5.faults.Direction` members: the
        same words as the TCP transfer faults and the records.
    :param after: let the first ``after`` datagrams in ``direction`` through untouched.
    :param limit: touch at most ``limit`` datagrams (``None``: no limit).
        ``drop=1, after=2, limit=1`` drops exactly the third datagram.
    :param close_control_after: close the client's TCP control connection once this many
        datagrams (both directions, faults or not) have been relayed, which ends the
        association.
    :param seed: seed of each association's random generator (``None``: a fresh random
        seed, so runs differ).
    """

    drop: float = 0.0
    corrupt: float = 0.0
    delay: float = 0.0
    direction: Direction | str = Direction.BOTH
    after: int = 0
    limit: int | None = None
    close_control_after: int | None = None
    seed: int | None = 0

    def __post_init__(self) -> None:
        for name, check in _CHECKS.items():
            check(f"UdpFaults: {name}", getattr(self, name))
        direction = to_direction(self.direction, "UdpFaults: direction")
        object.__setattr__(self, "direction", direction)

    def start(self) -> UdpFaultState:
        """Fresh state for one association."""
        return UdpFaultState(faults=self, rng=random.Random(self.seed))


@dataclass(frozen=True, kw_only=True, slots=True, repr=False, eq=False)
class FaultAction(FieldValues):
    """What to do with one datagram: drop it, or send ``data`` after ``delay`` seconds.
    ``applied`` names the faults that changed something (for the record)."""

    drop: bool = False
    data: bytes = b""
    delay: float = 0.0
    applied: tuple[str, ...] = ()


@dataclass(kw_only=True, slots=True, eq=False)
class UdpFaultState:
    """The faults of one association: its random generator and counters."""

    faults: UdpFaults
    rng: random.Random
    seen: int = 0
    touched: int = 0
    relayed: int = 0
    _closed: bool = field(default=False, repr=False)

    def on_datagram(self, direction: DatagramDirection | Direction, data: bytes) -> FaultAction:
        """Decide about one datagram's payload going ``direction``."""
        faults = self.faults
        if not to_direction(faults.direction).includes(to_direction(direction)):
            return FaultAction(data=data)
        index = self.seen
        self.seen += 1
        if index < faults.after or (faults.limit is not None and self.touched >= faults.limit):
            return FaultAction(data=data)
        applied: list[str] = []
        if faults.drop and self.rng.random() < faults.drop:
            self.touched += 1
            return FaultAction(drop=True, applied=("udp-drop",))
        if faults.corrupt and data and self.rng.random() < faults.corrupt:
            at = self.rng.randrange(len(data))
            data = data[:at] + bytes((data[at] ^ 0xFF,)) + data[at + 1 :]
            applied.append("udp-corrupt")
        if faults.delay:
            applied.append("udp-delay")
        if applied:
            self.touched += 1
        return FaultAction(data=data, delay=faults.delay, applied=tuple(applied))

    def on_relayed(self) -> bool:
        """Count one relayed datagram; ``True`` once the control connection must close."""
        self.relayed += 1
        limit = self.faults.close_control_after
        if limit is not None and not self._closed and self.relayed >= limit:
            self._closed = True
            return True
        return False
