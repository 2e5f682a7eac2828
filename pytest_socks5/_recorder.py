"""The store of records: what every connection of one server recorded, and waiting on it.

Strategy: a running connection fills a :class:`~pytest_socks5._live_record.LiveRecord`;
:class:`Recorder` keeps them and hands out frozen :class:`~pytest_socks5.ConnectionRecord`
snapshots under a lock, so any thread sees a consistent view. The values themselves, how
they match and their JSON are in :mod:`pytest_socks5._records`.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Literal

from ._checks import boolean, integer, number
from ._criteria import check_criteria, criteria_text, mismatches
from ._live_record import LiveRecord
from ._records import ConnectionRecord, NoMatchingConnection, Outcome
from ._transcript import NOTHING_RECORDED_HINT, describe_record
from ._user_code import callable_name, users_error

__all__ = ["LiveRecord", "Recorder", "check_wait"]


_COUNT = integer(low=0)
_TIMEOUT = number(low=0)


def check_wait(count: object, timeout: object, ended: object) -> None:
    """``wait_for_connections()``'s own arguments, checked before any waiting."""
    __tracebackhide__ = True
    _COUNT("wait_for_connections(): count", count)
    _TIMEOUT("wait_for_connections(): timeout", timeout)
    boolean("wait_for_connections(): ended", ended)


class Recorder:
    """Thread-safe store of the records of one server, reset between tests.

    At most ``max_records`` records are kept (``None``: no limit; a server passes its
    ``max_records`` option, whose default is :data:`~._options.MAX_RECORDS`); when a new
    connection would exceed it, the oldest record is dropped and :attr:`dropped` counts it.
    """

    def __init__(
        self,
        on_end: Callable[[ConnectionRecord], None] | None = None,
        *,
        max_records: int | None = None,
    ) -> None:
        if max_records is not None and max_records < 0:
            raise ValueError(f"max_records must be None or at least 0, got {max_records}")
        self._lock = threading.Condition()
        self.max_records = max_records
        self._records: deque[LiveRecord] = deque(maxlen=max_records)
        self._ids = itertools.count(1)
        self.dropped = 0
        self.on_end = on_end
        self._wakers: list[Callable[[], None]] = []
        self._waiting = 0  # threads in wait_for or wait_settled
        #: Whether the server can record more: ``"new"`` (never started), ``"running"``,
        #: ``"stopped"`` (set by the engine; a stopped server's records have all ended).
        self.state: Literal["new", "running", "stopped"] = "new"

    def serving(self, running: bool) -> None:
        """The engine started (``True``) or has stopped: waiters see it at once."""
        with self._lock:
            self.state = "running" if running else "stopped"
            self._changed()

    def _changed(self) -> None:  # under the lock
        if self._waiting:
            self._lock.notify_all()
        for wake in self._wakers:
            wake()

    def new(self, client_address: tuple[str, int]) -> LiveRecord:
        with self._lock:
            record = LiveRecord(id=next(self._ids), client_address=client_address)
            if len(self._records) == self.max_records:
                self.dropped += 1
            self._records.append(record)
            self._changed()
        return record

    def ended(self, record: LiveRecord) -> None:
        """Call after :meth:`LiveRecord.end` so waiters and the log see the change."""
        with self._lock:
            self._changed()
        if self.on_end is not None:
            try:
                self.on_end(record.freeze())
            except BaseException as exc:
                source = f"on_connection_end {callable_name(self.on_end)}"
                raise users_error(exc, source) from exc

    def clear(self) -> None:
        with self._lock:
            self._records = deque(maxlen=self.max_records)
            self.dropped = 0

    def bound_addresses(self) -> set[tuple[str, int]]:
        """Where the open BIND and UDP ASSOCIATE connections listen or relay: addresses
        of the proxy's own, which their clients are told to use."""
        with self._lock:
            return {
                r.bound_address
                for r in self._records
                if r.bound_address is not None and r.outcome is Outcome.OPEN
            }

    def snapshot(self) -> tuple[ConnectionRecord, ...]:
        with self._lock:
            return tuple(r.freeze() for r in self._records)

    def __iter__(self) -> Iterator[ConnectionRecord]:
        return iter(self.snapshot())

    def find(self, **criteria: Any) -> list[ConnectionRecord]:
        """Records whose fields match: exact values, globs for text, or predicates."""
        __tracebackhide__ = True
        check_criteria(criteria, ConnectionRecord)
        return [r for r in self.snapshot() if not mismatches(r, criteria)]

    def ready(
        self, count: int, criteria: Mapping[str, Any], *, ended: bool = False
    ) -> list[ConnectionRecord] | None:
        """The records matching ``criteria`` (closed, with ``ended``), if ``count`` do."""
        found = [r for r in self.snapshot() if not mismatches(r, criteria)]
        if ended:
            found = [r for r in found if r.outcome is not Outcome.OPEN]
        return found if len(found) >= count else None

    def poll(
        self, count: int, timeout: float, criteria: Mapping[str, Any], *, ended: bool
    ) -> list[ConnectionRecord] | None:
        """:meth:`ready`; but when the server is not running, nothing more can arrive, so
        not ready is the failure, at once."""
        __tracebackhide__ = True
        found = self.ready(count, criteria, ended=ended)
        if found is None and self.state != "running":
            raise self.waited_in_vain(count, timeout, criteria, ended=ended)
        return found

    def waited_in_vain(
        self, count: int, timeout: float, criteria: Mapping[str, Any], *, ended: bool
    ) -> NoMatchingConnection:
        what = "closed " if ended else ""
        matching = f" matching {criteria_text(criteria)}" if criteria else ""
        wanted = f"{count} {what}connection(s){matching}"
        if self.state != "running":
            headline = f"expected {wanted}, and the server is not running: none can arrive"
        else:
            headline = f"waited {timeout:g}s for {wanted}"
        return NoMatchingConnection(headline + "\n" + self.explain(criteria))

    def on_change(self, wake: Callable[[], None]) -> Callable[[], None]:
        """Call ``wake`` (on the recording thread) after each new or ended record, until
        the returned function is called."""
        with self._lock:
            self._wakers.append(wake)
        return lambda: self._forget(wake)

    def _forget(self, wake: Callable[[], None]) -> None:
        with self._lock:
            self._wakers.remove(wake)

    def wait_for(
        self, count: int = 1, *, timeout: float = 5.0, ended: bool = False, **criteria: Any
    ) -> list[ConnectionRecord]:
        """Block until ``count`` matching records exist (``ended=True`` waits for them to
        close too); raise :class:`NoMatchingConnection` after ``timeout`` seconds."""
        __tracebackhide__ = True  # pytest shows the test's line, not these
        check_wait(count, timeout, ended)
        check_criteria(criteria, ConnectionRecord)
        deadline = time.monotonic() + timeout
        with self._lock:
            while (found := self.poll(count, timeout, criteria, ended=ended)) is None:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise self.waited_in_vain(count, timeout, criteria, ended=ended)
                self._wait(left)
        return found

    def wait_settled(self, timeout: float) -> None:
        """Wait up to ``timeout`` seconds for every open connection to end (for a report
        taken just after a test, whose client may still be closing)."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while any(r.outcome is Outcome.OPEN for r in self._records):
                left = deadline - time.monotonic()
                if left <= 0:
                    return
                self._wait(left)

    def _wait(self, left: float) -> None:  # under the lock
        self._waiting += 1
        try:
            self._lock.wait(min(left, 0.05))
        finally:
            self._waiting -= 1

    def explain(self, criteria: Mapping[str, Any], *, limit: int = 10) -> str:
        """What was recorded, closest to ``criteria`` first, with the fields that differ."""
        records = self.snapshot()
        dropped = self.dropped
        lost = f" ({dropped} older record(s) dropped: max_records={self.max_records})"
        lost = lost if dropped else ""
        if not records and self.state == "new":
            return (
                "No connections were recorded: the server was never started (start it "
                "with 'with server:', server.start() or 'async with server:')."
            )
        if not records:
            stopped = (
                " while the server ran (it is stopped now)" if self.state != "running" else ""
            )
            return f"No connections were recorded{stopped}{lost} {NOTHING_RECORDED_HINT}."
        ranked = sorted(records, key=lambda r: len(mismatches(r, criteria)))
        lines = [f"{len(records)} connection(s) were recorded{lost}, closest first:"]
        for r in ranked[:limit]:
            lines.append("  " + describe_record(r))
            wrong = mismatches(r, criteria)
            if wrong and criteria:
                lines.append("      differs: " + "; ".join(wrong))
        if len(ranked) > limit:
            lines.append(f"  … and {len(ranked) - limit} more")
        return "\n".join(lines)
