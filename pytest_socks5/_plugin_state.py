"""What the pytest plugin keeps per session and per test: its settings and the servers a
test used.

Strategy: plain dataclasses, kept apart from ``plugin.py`` for its size; the plugin fills
them (it alone imports pytest) and the report code reads them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ._chaos import Chaos
from ._records import ConnectionRecord
from ._server import SOCKS5Server

__all__ = ["Settings", "Watched"]


@dataclass(frozen=True)
class Settings:
    """The ini and command-line options, read once per session."""

    transcript: str
    record_dir: Path | None
    pcap_dir: Path | None
    show_passwords: bool
    #: ``leak_guard`` from the ini option or flag: ``None`` off, else allowed patterns.
    leak_guard: tuple[str, ...] | None
    host: str
    #: Chaos mode's rate (0: off) and the session's seed (``_chaos.session_seed``).
    chaos: float
    chaos_seed: int
    #: :class:`SOCKS5Server` arguments: the fixtures' defaults, under whatever
    #: ``socks5_server_options`` returns and under the marker.
    server_defaults: dict[str, Any]


@dataclass
class Watched:
    """A server a test used: its label in reports and, after teardown, its final records."""

    label: str
    server: SOCKS5Server
    final: tuple[ConnectionRecord, ...] | None = None
    chaos: Chaos | None = None

    def records(self) -> tuple[ConnectionRecord, ...]:
        return self.final if self.final is not None else tuple(self.server.connections)
