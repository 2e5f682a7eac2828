"""The static types of the server's keyword options, for type checkers and editors.

Strategy: the option table (:mod:`._options`) is a runtime value, and mypy cannot read
types out of it; these ``TypedDict`` s give ``SOCKS5Server(**options)`` and
``configure(**options)`` their types (PEP 692). They say nothing else — defaults, checks,
docs and where an option may be given all live in the table — and a test holds their keys
to the table's names for the constructor and for ``configure()``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import TypedDict

from ._auth import Validator
from ._fault_types import Fault
from ._hosts import HostMap
from ._records import ConnectionRecord
from ._rules import Rule
from ._udp_faults import UdpFaults

__all__ = ["RuntimeOptions", "ServerOptions", "Users"]

Users = Mapping[str, str] | Mapping[bytes, bytes] | Iterable[tuple[str, str]]


class RuntimeOptions(TypedDict, total=False):
    """What ``configure()`` takes (and the constructor, and the marker)."""

    users: Users | None
    validator: Validator | None
    connect_timeout: float
    handshake_timeout: float | None
    socks4: bool
    host_map: HostMap | None
    hermetic: bool
    allow: str | Iterable[str]
    rules: Iterable[Rule]
    bind_timeout: float
    udp_faults: UdpFaults | None
    socks4_user_ids: str | bytes | Iterable[str | bytes] | None
    socks4_user_id_reply: int
    capture_payload: int
    idle_timeout: float | None
    max_connections: int | None


class ServerOptions(RuntimeOptions, total=False):
    """What the constructor takes besides ``host`` and ``port``."""

    backlog: int
    max_records: int | None
    on_connection_end: Callable[[ConnectionRecord], None] | None
    faults: Iterable[Fault]
    seed: int
    loop: str
    splice: bool
