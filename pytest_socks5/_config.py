"""The per-test part of a server's behaviour, as one frozen value swapped atomically, so
each connection sees one consistent configuration."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from ._auth import AuthPolicy
from ._hosts import HostMap
from ._protocol import Socks4Reply
from ._rules import Rule
from ._udp_faults import UdpFaults

__all__ = ["EngineConfig"]


@dataclass(frozen=True, kw_only=True)
class EngineConfig:
    """Behaviour that can change between tests without rebinding the listener."""

    auth: AuthPolicy = field(default_factory=AuthPolicy)
    connect_timeout: float = 10.0
    handshake_timeout: float | None = 30.0
    socks4: bool = True
    host_map: HostMap = field(default_factory=dict)
    splice: bool = False
    # -- issue 5: BIND, UDP ASSOCIATE, SOCKS 4 user ids, destination rules --------
    bind_timeout: float = 10.0
    rules: tuple[Rule, ...] = ()
    allow: tuple[Rule, ...] = ()
    hermetic: bool = True
    udp_faults: UdpFaults | None = None
    socks4_user_ids: frozenset[bytes] | None = None
    socks4_user_id_reply: int = Socks4Reply.REJECTED
    #: Keep the first this many payload bytes each way in the record (0: none).
    capture_payload: int = 0
    # -- issue 8: limits --
    #: Seconds a tunnel may move no byte either way before it is closed.
    idle_timeout: float | None = None
    #: Connections open at once; one more is closed at accept and recorded.
    max_connections: int | None = None

    def __post_init__(self) -> None:
        if self.idle_timeout is not None and not self.idle_timeout > 0:
            raise ValueError(f"idle_timeout must be None or > 0, got {self.idle_timeout!r}")
        if self.max_connections is not None and self.max_connections < 0:
            raise ValueError(f"max_connections must be None or >= 0, got {self.max_connections!r}")

    def with_changes(self, **changes: Any) -> EngineConfig:
        return replace(self, **changes)
