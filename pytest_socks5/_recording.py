"""What happened on each connection, as frozen records, and how tests query them.

Strategy: the server fills a mutable :class:`LiveRecord` (plain attributes and counters,
no copies of payload) while a connection runs, and :class:`Recorder` hands out frozen
:class:`ConnectionRecord` snapshots under a lock, so any thread sees a consistent view.
Matching is shared by every query and assertion: keyword criteria, where a value may be
an exact value, a glob (for text fields) or a predicate.
"""

from __future__ import annotations

import dataclasses
import enum
import fnmatch
import itertools
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from ._escape import escape_bytes, escape_text, quote_bytes, quote_text
from ._protocol import AddressType, AuthMethod, Command, Reply, describe

__all__ = [
    "MAX_RECORDS",
    "ConnectionRecord",
    "LiveRecord",
    "NoMatchingConnection",
    "Outcome",
    "Recorder",
    "describe_record",
]


class Outcome(enum.Enum):
    """How a connection ended (``OPEN`` while it has not)."""

    OPEN = "open"
    #: The tunnel ran and both sides closed (FIN).
    CLOSED = "closed"
    #: The tunnel ran and one side reset it (RST) or failed.
    RESET = "reset"
    #: The request was answered with a failure REP (or SOCKS4 0x5B to 0x5D).
    REJECTED = "rejected"
    #: The client offered no method the server accepts (``05 FF``).
    NO_ACCEPTABLE_METHOD = "no-acceptable-method"
    #: RFC 1929 credentials were refused.
    AUTH_FAILED = "auth-failed"
    #: The client broke the protocol; ``error`` says how.
    PROTOCOL_ERROR = "protocol-error"
    #: The client went away before the handshake finished.
    CLIENT_CLOSED = "client-closed"
    #: The handshake took longer than ``handshake_timeout``.
    TIMEOUT = "timeout"
    #: The server stopped while the connection was open.
    SERVER_STOPPED = "server-stopped"
    #: A bug in pytest-socks5; the traceback is in ``error`` and fails the test.
    INTERNAL_ERROR = "internal-error"
    # -- issue 8: reliability limits --
    #: The tunnel moved no byte either way for ``idle_timeout`` seconds.
    IDLE_TIMEOUT = "idle-timeout"
    #: Refused at accept: ``max_connections`` connections were already open.
    CONNECTION_LIMIT = "connection-limit"


@dataclass(frozen=True, kw_only=True)
class ConnectionRecord:
    """One client connection to the proxy, as the proxy saw it.

    Fields that a connection never reached (a request when authentication failed) are
    ``None``. ``bytes_from_client`` counts payload relayed client → destination and
    ``bytes_to_client`` destination → client; handshake bytes are not counted.
    """

    id: int
    client_address: tuple[str, int]
    version: int | None = None
    offered_methods: tuple[int, ...] = ()
    chosen_method: int | None = None
    username: str | None = None
    raw_username: bytes | None = None
    raw_password: bytes | None = field(default=None, repr=False)
    authenticated: bool | None = None
    command: int | None = None
    address_type: int | None = None
    host: str | None = None
    port: int | None = None
    raw_address: bytes | None = None
    user_id: bytes | None = None
    reply: int | None = None
    bound_address: tuple[str, int] | None = None
    upstream_address: tuple[str, int] | None = None
    bytes_from_client: int = 0
    bytes_to_client: int = 0
    started_at: float = 0.0
    ended_at: float | None = None
    outcome: Outcome = Outcome.OPEN
    closed_by: str | None = None
    error: str | None = None
    faults: tuple[str, ...] = ()

    def __str__(self) -> str:
        return describe_record(self)

    @property
    def duration(self) -> float | None:
        """Seconds from accept to close, or ``None`` while open."""
        return None if self.ended_at is None else self.ended_at - self.started_at

    @property
    def succeeded(self) -> bool:
        """Whether the proxy granted the request (REP 0x00 or SOCKS4 0x5A)."""
        return self.reply in (Reply.SUCCEEDED, 0x5A) and self.command is not None

    @property
    def target(self) -> str:
        """``host:port`` of the requested destination (``[v6]:port`` for IPv6)."""
        if self.host is None:
            return "(no request)"
        host = f"[{self.host}]" if self.address_type == AddressType.IPV6 else self.host
        return f"{host}:{self.port}"

    def matches(self, **criteria: Any) -> bool:
        """Whether every criterion holds: exact values, globs for text, or predicates
        (as in :meth:`pytest_socks5.SOCKS5Server.find_connections`)."""
        return not self.mismatches(**criteria)

    def mismatches(self, **criteria: Any) -> list[str]:
        """The criteria that do not hold, each as ``name=actual (wanted …)``."""
        wrong = []
        for name, wanted in criteria.items():
            actual = getattr(self, name)
            if not _value_matches(actual, wanted):
                wrong.append(f"{name}={_show(actual)} (wanted {_show(wanted)})")
        return wrong


def _value_matches(actual: Any, wanted: Any) -> bool:
    if callable(wanted) and not isinstance(wanted, type | enum.Enum):
        return bool(wanted(actual))
    if isinstance(wanted, str) and isinstance(actual, str) and any(c in wanted for c in "*?["):
        return fnmatch.fnmatchcase(actual, wanted)
    return bool(actual == wanted)


def _show(value: Any) -> str:
    if isinstance(value, enum.Enum):
        return f"{type(value).__name__}.{value.name}"
    if callable(value):
        return getattr(value, "__name__", repr(value))
    return repr(value)


_FIELDS = {f.name for f in dataclasses.fields(ConnectionRecord)} | {
    "duration",
    "succeeded",
    "target",
}


def check_criteria(criteria: dict[str, Any]) -> None:
    """Refuse a misspelt field name at once instead of matching nothing."""
    unknown = sorted(set(criteria) - _FIELDS)
    if unknown:
        raise TypeError(
            f"unknown ConnectionRecord field(s): {', '.join(unknown)}; "
            f"known: {', '.join(sorted(_FIELDS))}"
        )


@dataclass(kw_only=True, slots=True)
class LiveRecord:
    """The mutable twin of :class:`ConnectionRecord` that a running connection fills in
    (plain attributes and counters, so recording costs no copies); see :meth:`freeze`."""

    id: int
    client_address: tuple[str, int]
    version: int | None = None
    offered_methods: tuple[int, ...] = ()
    chosen_method: int | None = None
    username: str | None = None
    raw_username: bytes | None = None
    raw_password: bytes | None = field(default=None, repr=False)
    authenticated: bool | None = None
    command: int | None = None
    address_type: int | None = None
    host: str | None = None
    port: int | None = None
    raw_address: bytes | None = None
    user_id: bytes | None = None
    reply: int | None = None
    bound_address: tuple[str, int] | None = None
    upstream_address: tuple[str, int] | None = None
    bytes_from_client: int = 0
    bytes_to_client: int = 0
    started_at: float = field(default_factory=time.time)
    ended_at: float | None = None
    outcome: Outcome = Outcome.OPEN
    closed_by: str | None = None
    error: str | None = None
    faults: list[str] = field(default_factory=list)

    def freeze(self) -> ConnectionRecord:
        values = {name: getattr(self, name) for name in _RECORD_FIELDS}
        values["faults"] = tuple(self.faults)
        return ConnectionRecord(**values)

    def end(
        self, outcome: Outcome, *, closed_by: str | None = None, error: str | None = None
    ) -> bool:
        """Record the end once; later calls are ignored. Returns whether this call ended it."""
        if self.outcome is not Outcome.OPEN:
            return False
        self.outcome = outcome
        self.closed_by = closed_by
        if error is not None:
            self.error = error
        self.ended_at = time.time()
        return True


_RECORD_FIELDS = tuple(f.name for f in dataclasses.fields(ConnectionRecord))


class NoMatchingConnection(AssertionError):
    """An assertion about recorded connections failed; the message lists what happened."""


#: How many records a server keeps by default; older ones are dropped and counted.
MAX_RECORDS = 100_000


class Recorder:
    """Thread-safe store of the records of one server, reset between tests.

    At most ``max_records`` records are kept (``None``: no limit); when a new connection
    would exceed it, the oldest record is dropped and :attr:`dropped` counts it.
    """

    def __init__(
        self,
        on_end: Callable[[ConnectionRecord], None] | None = None,
        *,
        max_records: int | None = MAX_RECORDS,
    ) -> None:
        if max_records is not None and max_records < 0:
            raise ValueError(f"max_records must be None or at least 0, got {max_records}")
        self._lock = threading.Condition()
        self.max_records = max_records
        self._records: deque[LiveRecord] = deque(maxlen=max_records)
        self._ids = itertools.count(1)
        self.dropped = 0
        self.on_end = on_end

    def new(self, client_address: tuple[str, int]) -> LiveRecord:
        with self._lock:
            record = LiveRecord(id=next(self._ids), client_address=client_address)
            if len(self._records) == self.max_records:
                self.dropped += 1
            self._records.append(record)
            self._lock.notify_all()
        return record

    def ended(self, record: LiveRecord) -> None:
        """Call after :meth:`LiveRecord.end` so waiters and the log see the change."""
        with self._lock:
            self._lock.notify_all()
        if self.on_end is not None:
            self.on_end(record.freeze())

    def clear(self) -> None:
        with self._lock:
            self._records = deque(maxlen=self.max_records)
            self.dropped = 0

    def snapshot(self) -> tuple[ConnectionRecord, ...]:
        with self._lock:
            return tuple(r.freeze() for r in self._records)

    def __iter__(self) -> Iterator[ConnectionRecord]:
        return iter(self.snapshot())

    def find(self, **criteria: Any) -> list[ConnectionRecord]:
        """Records whose fields match: exact values, globs for text, or predicates."""
        check_criteria(criteria)
        return [r for r in self.snapshot() if r.matches(**criteria)]

    def wait_for(
        self, count: int = 1, *, timeout: float = 5.0, **criteria: Any
    ) -> list[ConnectionRecord]:
        """Block until ``count`` matching records exist (``ended=True`` waits for them to
        close too); raise :class:`NoMatchingConnection` after ``timeout`` seconds."""
        check_criteria({k: v for k, v in criteria.items() if k != "ended"})
        want_ended = bool(criteria.pop("ended", False))
        deadline = time.monotonic() + timeout

        def ready() -> list[ConnectionRecord] | None:
            found = [r for r in self.snapshot() if r.matches(**criteria)]
            if want_ended:
                found = [r for r in found if r.outcome is not Outcome.OPEN]
            return found if len(found) >= count else None

        with self._lock:
            while (found := ready()) is None:
                left = deadline - time.monotonic()
                if left <= 0:
                    what = "closed " if want_ended else ""
                    raise NoMatchingConnection(
                        f"waited {timeout:g}s for {count} {what}connection(s)"
                        + _criteria_text(criteria)
                        + "\n"
                        + self.explain(criteria)
                    )
                self._lock.wait(min(left, 0.05))
        return found

    def explain(self, criteria: dict[str, Any]) -> str:
        """What was recorded, closest to ``criteria`` first, with the fields that differ."""
        records = self.snapshot()
        dropped = self.dropped
        lost = (
            f" ({dropped} older record(s) dropped: max_records={self.max_records})"
            if dropped
            else ""
        )
        if not records:
            return f"No connections were recorded.{lost}"
        ranked = sorted(records, key=lambda r: len(r.mismatches(**criteria)))
        lines = [f"{len(records)} connection(s) were recorded{lost}, closest first:"]
        for r in ranked[:10]:
            lines.append("  " + describe_record(r))
            wrong = r.mismatches(**criteria)
            if wrong and criteria:
                lines.append("      differs: " + "; ".join(wrong))
        if len(ranked) > 10:
            lines.append(f"  … and {len(ranked) - 10} more")
        return "\n".join(lines)


def _criteria_text(criteria: dict[str, Any]) -> str:
    if not criteria:
        return ""
    return " matching " + ", ".join(f"{k}={_show(v)}" for k, v in criteria.items())


def _shown_user(r: ConnectionRecord) -> str | None:
    """The username (or SOCKS 4 USERID) from the bytes the client sent, escaped."""
    if r.raw_username is not None:
        return quote_bytes(r.raw_username)
    if r.user_id is not None:
        return quote_bytes(r.user_id)
    return None if r.username is None else quote_text(r.username)


def _shown_target(r: ConnectionRecord) -> str:
    """:attr:`ConnectionRecord.target`, with a domain name shown from its raw bytes."""
    if r.address_type == AddressType.DOMAIN and r.raw_address is not None:
        return f"{escape_bytes(r.raw_address)}:{r.port}"
    return escape_text(r.target)


def describe_record(r: ConnectionRecord) -> str:
    """One line: ``#3 127.0.0.1:40512 SOCKS5 CONNECT example.test:80 (DOMAIN) → REP 0x00 …``.

    Whatever the client sent is shown escaped (see :mod:`pytest_socks5._escape`): the line
    is always one printable line, and the password is never part of it.
    """
    client = f"{r.client_address[0]}:{r.client_address[1]}"
    parts = [f"#{r.id} {escape_text(client)}"]
    if r.version is not None:
        parts.append(f"SOCKS{r.version}")
    user = _shown_user(r)
    if user is not None:
        parts.append(f"user={user}")
    if r.command is not None:
        cmd = (
            Command(r.command).name
            if r.command in Command.__members__.values()
            else f"CMD 0x{r.command:02x}"
        )
        atyp = describe(r.address_type, AddressType) if r.address_type is not None else "?"
        parts.append(f"{cmd} {_shown_target(r)} (ATYP {atyp})")
    elif r.chosen_method is not None:
        parts.append(f"method {describe(r.chosen_method, AuthMethod)}")
    if r.reply is not None:
        enum_type = Reply if r.version != 4 else None
        parts.append(
            "→ REP " + (describe(r.reply, enum_type) if enum_type else f"0x{r.reply:02x}")
        )
    parts.append(f"[{r.outcome.value}")
    if r.closed_by and r.outcome is not Outcome.OPEN:
        parts[-1] += f" by {r.closed_by}"
    elif r.closed_by:
        parts[-1] += f", {r.closed_by} sent EOF"
    parts[-1] += f", {r.bytes_from_client}↑ {r.bytes_to_client}↓ bytes]"
    if r.faults:
        parts.append("faults: " + ", ".join(escape_text(f) for f in r.faults))
    if r.error:
        # The last line of a traceback is the exception; escape_text shows any other
        # line-breaking character instead of obeying it.
        last = r.error.rstrip("\n").rsplit("\n", 1)[-1]
        parts.append(f"error: {escape_text(last)}")
    return " ".join(parts)
