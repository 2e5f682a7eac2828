"""The fault values: what goes wrong, and which connections it hits.

Strategy: every fault is a frozen, keyword-only dataclass. :class:`Fault` holds the
selection fields and checks them against a :class:`~pytest_socks5.ConnectionRecord`
(its ``repr``, ``==`` and hash are ``_field_values.FieldValues``');
handshake faults say at which :class:`Phase` they act, transfer faults
(:class:`TransferFault`) in which :class:`Direction`. Nothing here acts: the server asks a
:class:`~pytest_socks5._fault_set.FaultSet` which faults hit a connection and applies them
itself. The public names are re-exported by :mod:`pytest_socks5.faults`.

Selection uses only what is known at that point: at the greeting, the client address;
from the sub-negotiation on, the username; from the request on, everything. Asking for
``host=`` on a greeting fault is an error, not a silent never-match.
"""

from __future__ import annotations

import enum
import fnmatch
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ._checks import KnownArguments, choice
from ._fault_checks import check_fields, check_known_at
from ._field_values import FieldValues
from ._protocol import AddressType, AuthStatus, Reply
from ._records import ConnectionRecord

__all__ = [
    "Bandwidth",
    "Blackhole",
    "BoundAddress",
    "Close",
    "CloseAfter",
    "Delay",
    "Direction",
    "FailAuth",
    "Fault",
    "ForceMethod",
    "Fragment",
    "Latency",
    "Phase",
    "RawAnswer",
    "ReplyWith",
    "ResetAfter",
    "Slicer",
    "SlowClose",
    "Stall",
    "TransferFault",
    "Truncate",
    "WrongVersion",
    "to_direction",
]


class Phase(enum.Enum):
    """Where in the handshake a fault acts: on the server's answer to each client message.

    ``REQUEST`` acts after the request is read and *before* the destination is dialled;
    ``REPLY`` acts on the reply itself, after the dial.
    """

    GREETING = "greeting"
    AUTH = "auth"
    REQUEST = "request"
    REPLY = "reply"


class Direction(enum.StrEnum):
    """Which way a fault acts, in the records' words (``HandshakeMessage.direction``,
    ``bytes_from_client``): a member equals its string, ``Direction.TO_CLIENT ==
    "to_client"``.

    The older names are aliases: ``Direction.UPSTREAM is Direction.FROM_CLIENT``,
    ``Direction.DOWNSTREAM is Direction.TO_CLIENT``, and ``"upstream"``/``"downstream"``
    are accepted wherever a direction is.
    """

    #: client → destination
    FROM_CLIENT = "from_client"
    #: destination → client
    TO_CLIENT = "to_client"
    #: both ways
    BOTH = "both"
    UPSTREAM = "from_client"
    DOWNSTREAM = "to_client"

    @classmethod
    def _missing_(cls, value: object) -> Direction | None:
        old = {"upstream": cls.FROM_CLIENT, "downstream": cls.TO_CLIENT}
        return old.get(value) if isinstance(value, str) else None

    def includes(self, direction: Direction) -> bool:
        return self is Direction.BOTH or self is direction


def to_direction(value: Direction | str, name: str = "direction") -> Direction:
    """``value`` as a :class:`Direction`: a member, its string, or an older word."""
    if isinstance(value, Direction):
        return value
    _DIRECTION(name, value)
    return Direction(value)


_DIRECTION = choice("from_client", "to_client", "both", "upstream", "downstream")
_PHASE = choice(*(p.value for p in Phase))


@dataclass(frozen=True, kw_only=True, repr=False, eq=False)
class Fault(KnownArguments, FieldValues):
    """Base of every fault: which connections it hits, and how often.

    :param host: requested host, exact or glob (``"*.example.test"``).
    :param port: requested port.
    :param command: requested CMD (``Command.CONNECT`` …).
    :param address_type: requested ATYP (``AddressType.DOMAIN`` …).
    :param username: RFC 1929 username (or SOCKS4 user ID), exact or glob.
    :param client: client IP address, exact or glob (not CIDR, which is refused).
    :param when: a predicate on the connection's record so far.
    :param times: hit only the first ``times`` matching connections.
    :param nth: hit only the ``nth`` matching connection (1-based); not with ``times``.
    :param probability: hit each matching connection with this probability, drawn from
        a RNG seeded with ``seed`` (default: the server's ``seed``), so a failing run
        replays exactly.
    """

    host: str | None = None
    port: int | None = None
    command: int | None = None
    address_type: int | None = None
    username: str | None = None
    client: str | None = None
    when: Callable[[ConnectionRecord], bool] | None = field(default=None, compare=False)
    times: int | None = None
    nth: int | None = None
    probability: float | None = None
    seed: int | None = None

    #: Where this fault acts (transfer faults: ``None``, they act on the open tunnel).
    @property
    def phase(self) -> Phase | None:
        return None

    def __post_init__(self) -> None:
        check_fields(self)
        check_known_at(self, None if self.phase is None else self.phase.value)

    def describe(self) -> str:
        """``ReplyWith(reply=0x05, port=8080, times=2)``: the fault's own arguments (``at``
        aside, a record says where it acted; ``http_status`` if given), then the selection
        arguments given. Codes (REP, status, method, ATYP…) in hex, sizes in decimal."""
        own = [k for k in self.__dataclass_fields__ if k not in _SELECTION and k != "at"]
        split = getattr(self, "split", None)  # Fragment: a split, or slices of ``size``
        own = [k for k in own if k not in (("size",) if split else ("split",))]
        own = [k for k in own if k != "http_status" or getattr(self, k) is not None]
        given = [k for k in _SELECTION if getattr(self, k) is not None]
        args = [f"{k}={_show(k, getattr(self, k))}" for k in (*own, *given)]
        return f"{type(self).__name__}({', '.join(args)})"

    def selects(self, record: ConnectionRecord) -> bool:
        """Whether the record matches every selection field (not counting times/nth)."""
        checks: list[tuple[Any, Any]] = [
            (self.port, record.port),
            (self.command, record.command),
            (self.address_type, record.address_type),
        ]
        if any(want is not None and want != got for want, got in checks):
            return False
        for pattern, value in (
            (self.host, record.host),
            (self.username, record.username),
            (self.client, record.client_address[0]),
        ):
            if pattern is not None and (value is None or not fnmatch.fnmatchcase(value, pattern)):
                return False
        return self.when is None or bool(self.when(record))


#: The selection arguments, in the order :meth:`Fault.describe` shows them.
_SELECTION: tuple[str, ...] = ("host", "port", "command", "address_type", "username")
_SELECTION += ("client", "when", "times", "nth", "probability", "seed")
#: Arguments that are protocol codes, shown in hex; every other number is decimal.
_CODES = frozenset(
    {"reply", "status", "method", "version", "bound_type", "command", "address_type"}
)


def _show(name: str, value: Any) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        if name in _CODES and 0 <= value < 256:
            return f"0x{value:02x}"  # an enum member too: the byte on the wire
        if not isinstance(value, enum.Enum):
            return str(value)
    if isinstance(value, enum.Enum):
        return str(value.name).lower() if isinstance(value, Phase | Direction) else value.name
    if callable(value):
        return str(getattr(value, "__name__", type(value).__name__))  # when=<lambda>
    return repr(value) if isinstance(value, bytes | str) else str(value)


def _phase(value: Phase | str, name: str) -> Phase:
    return value if isinstance(value, Phase) else Phase(_PHASE(name, value))


# -- handshake faults: what the server answers ------------------------------------------


@dataclass(frozen=True, kw_only=True, repr=False, eq=False)
class _PhaseFault(Fault):
    at: Phase | str = Phase.REPLY

    def __post_init__(self) -> None:
        object.__setattr__(self, "at", _phase(self.at, f"{type(self).__name__}: at"))
        super().__post_init__()

    @property
    def phase(self) -> Phase:
        assert isinstance(self.at, Phase)
        return self.at


@dataclass(frozen=True, kw_only=True, repr=False, eq=False)
class Stall(_PhaseFault):
    """Never answer at ``at``: the connection stays open, silent, until the client gives
    up or the server stops (the server's ``handshake_timeout`` does not cut it short)."""


@dataclass(frozen=True, kw_only=True, repr=False, eq=False)
class Delay(_PhaseFault):
    """Answer at ``at`` only after ``seconds``."""

    seconds: float = 1.0


@dataclass(frozen=True, kw_only=True, repr=False, eq=False)
class Close(_PhaseFault):
    """Close instead of answering at ``at``: FIN, or RST with ``reset=True``."""

    reset: bool = False


@dataclass(frozen=True, kw_only=True, repr=False, eq=False)
class _AnswerFault(_PhaseFault):
    """Faults that change the answer's bytes, so there must be an answer to change."""

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.phase is Phase.REQUEST:
            raise ValueError(
                f"{type(self).__name__} changes an answer; at='request' has none "
                "(the request is answered by the reply: use at='reply')"
            )


@dataclass(frozen=True, kw_only=True, repr=False, eq=False)
class Truncate(_AnswerFault):
    """Send only the first ``length`` bytes of the answer at ``at``, then close (or stall,
    with ``then="stall"``)."""

    length: int = 1
    then: str = "close"


@dataclass(frozen=True, kw_only=True, repr=False, eq=False)
class WrongVersion(_AnswerFault):
    """Answer at ``at`` with ``version`` as the VER byte (the rest unchanged)."""

    version: int = 0x04


@dataclass(frozen=True, kw_only=True, repr=False, eq=False)
class RawAnswer(_AnswerFault):
    """Send ``data`` instead of the answer at ``at``, then close (or stall, with
    ``then="stall"``)."""

    data: bytes = b""
    then: str = "close"


@dataclass(frozen=True, kw_only=True, repr=False, eq=False)
class Fragment(_AnswerFault):
    """Send the correct answer at ``at`` in slices of ``size`` bytes (default 1),
    ``delay`` seconds apart: exposes clients that take one read for one message. With
    ``split=N``, two pieces instead: the first ``N`` bytes, then the rest; ``size`` and
    ``split`` together are refused (``size`` stays ``None``)."""

    size: int | None = None
    delay: float = 0.01
    split: int | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.split is None and self.size is None:
            object.__setattr__(self, "size", 1)


@dataclass(frozen=True, kw_only=True, repr=False, eq=False)
class ForceMethod(Fault):
    """Answer the greeting with ``method`` (``0xFF``, or one the client did not offer).

    After ``0x02`` the server runs the RFC 1929 sub-negotiation and accepts any
    credentials unless it has users of its own; after any other method it closes.
    """

    method: int = 0xFF

    @property
    def phase(self) -> Phase:
        return Phase.GREETING


@dataclass(frozen=True, kw_only=True, repr=False, eq=False)
class FailAuth(Fault):
    """Answer the RFC 1929 sub-negotiation with ``status`` (non-zero), then close."""

    status: int = AuthStatus.FAILURE

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.status == 0:
            raise ValueError("FailAuth needs a non-zero status (0x00 is success)")

    @property
    def phase(self) -> Phase:
        return Phase.AUTH


@dataclass(frozen=True, kw_only=True, repr=False, eq=False)
class ReplyWith(Fault):
    """Answer with REP ``reply`` without dialling, then close, as a server whose dial
    failed so; over HTTP, the status for ``reply`` (502/403/504) or ``http_status``."""

    reply: int = Reply.GENERAL_FAILURE
    http_status: int | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.reply == Reply.SUCCEEDED:
            raise ValueError("ReplyWith answers a failure; a success needs a real dial")

    @property
    def phase(self) -> Phase:
        return Phase.REQUEST


@dataclass(frozen=True, kw_only=True, repr=False, eq=False)
class BoundAddress(Fault):
    """Put this ``BND.ADDR``/``BND.PORT`` in the reply (success or failure): any ATYP
    ``bound_type``, including invalid ones (``0x00``), with ``raw`` as the address bytes
    (default for an ATYP with no encoding: none at all)."""

    bound_type: int = AddressType.IPV4
    bound_host: str = "0.0.0.0"
    bound_port: int = 0
    raw: bytes | None = None

    @property
    def phase(self) -> Phase:
        return Phase.REPLY


# -- transfer faults: what happens in the open tunnel -----------------------------------


@dataclass(frozen=True, kw_only=True, repr=False, eq=False)
class TransferFault(Fault):
    """Base of the faults that act on an open tunnel, one ``direction`` or both."""

    direction: Direction | str = Direction.BOTH

    def __post_init__(self) -> None:
        name = f"{type(self).__name__}: direction"
        object.__setattr__(self, "direction", to_direction(self.direction, name))
        super().__post_init__()

    @property
    def flows(self) -> Direction:
        assert isinstance(self.direction, Direction)
        return self.direction


@dataclass(frozen=True, kw_only=True, repr=False, eq=False)
class Latency(TransferFault):
    """Deliver each chunk ``seconds`` (± uniform ``jitter``) after it arrived; order kept."""

    seconds: float = 0.1
    jitter: float = 0.0


@dataclass(frozen=True, kw_only=True, repr=False, eq=False)
class Bandwidth(TransferFault):
    """Forward at most ``bytes_per_second``."""

    bytes_per_second: int = 100_000


@dataclass(frozen=True, kw_only=True, repr=False, eq=False)
class Slicer(TransferFault):
    """Forward in writes of ``size`` bytes, ``delay`` seconds apart."""

    size: int = 1
    delay: float = 0.0


@dataclass(frozen=True, kw_only=True, repr=False, eq=False)
class Blackhole(TransferFault):
    """After ``after`` bytes, stop forwarding: what arrives is read and dropped, and so is
    the sender's close (FIN or RST). The other side hears nothing more — the connection
    stays open until the other side closes too (its close ends the tunnel, even one it
    sent before) or the server stops."""

    after: int = 0


@dataclass(frozen=True, kw_only=True, repr=False, eq=False)
class CloseAfter(TransferFault):
    """After ``after`` bytes, close the tunnel cleanly (FIN both ways)."""

    after: int = 0


@dataclass(frozen=True, kw_only=True, repr=False, eq=False)
class ResetAfter(TransferFault):
    """After ``after`` bytes, or ``seconds`` after the tunnel opened, reset (RST) both
    sides."""

    after: int | None = None
    seconds: float | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        if (self.after is None) == (self.seconds is None):
            raise ValueError("ResetAfter takes exactly one of after= (bytes) or seconds=")


@dataclass(frozen=True, kw_only=True, repr=False, eq=False)
class SlowClose(TransferFault):
    """Pass on an EOF only ``seconds`` after it arrived (a reset is passed on at once)."""

    seconds: float = 1.0
