"""The per-test part of a server's behaviour, as one frozen value swapped atomically, so
each connection sees one consistent configuration.

Strategy: a plain frozen value that the I/O layer reads field by field. Its fields are the
options the table in :mod:`._options` marks ``per_connection`` (``users`` and
``validator`` together make ``auth``); the table checks and normalises every value before
it gets here, so this class checks nothing itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from ._auth import AuthPolicy
from ._field_values import FieldValues
from ._hosts import HostMap
from ._protocol import Socks4Reply
from ._rules import Rule
from ._udp_faults import UdpFaults

__all__ = ["EngineConfig"]


@dataclass(frozen=True, kw_only=True, repr=False, eq=False)
class EngineConfig(FieldValues):
    """Behaviour that can change between tests without rebinding the listener."""

    auth: AuthPolicy = field(default_factory=AuthPolicy)
    connect_timeout: float = 10.0
    handshake_timeout: float | None = 30.0
    socks4: bool = True
    host_map: HostMap = field(default_factory=dict)
    splice: bool = False
    # -- destination rules, BIND, UDP ASSOCIATE, SOCKS 4 user ids -------------------
    bind_timeout: float = 10.0
    rules: tuple[Rule, ...] = ()
    allow: tuple[Rule, ...] = ()
    hermetic: bool = True
    udp_faults: UdpFaults | None = None
    socks4_user_ids: frozenset[bytes] | None = None
    socks4_user_id_reply: int = Socks4Reply.REJECTED
    #: Keep the first this many payload bytes each way in the record (0: none).
    capture_payload: int = 0
    # -- limits --
    #: Seconds a tunnel may move no byte either way before it is closed.
    idle_timeout: float | None = None
    #: Connections open at once; one more is closed at accept and recorded.
    max_connections: int | None = None

    def with_changes(self, **changes: Any) -> EngineConfig:
        return replace(self, **changes)
