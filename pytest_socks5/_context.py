"""What every connection of one server shares.

Strategy: the engine makes one context per server and gives it to each connection it
accepts: the configuration (a frozen value swapped between tests), the records, the
registry of open connections, the faults, the gates and hooks, the dialler, the errors,
and ``serve`` — the front-end dispatcher each connection runs. It is generic in the
connection type so that it sits below the connection it serves.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

from ._chaos import Chaos
from ._checkpoints import Checkpoints
from ._config import EngineConfig
from ._dialler import Dialler
from ._fault_set import FaultSet
from ._guard import InternalError
from ._live_record import LiveRecord
from ._recorder import Recorder
from ._registry import ConnectionRegistry

__all__ = ["ServerContext"]

C = TypeVar("C")


class ServerContext(Generic[C]):
    """What every connection of one server shares; ``config`` is swapped between tests."""

    def __init__(
        self,
        *,
        config: EngineConfig,
        recorder: Recorder,
        serve: Callable[[C], Awaitable[None]],
    ) -> None:
        self.config = config
        self.recorder = recorder
        self.serve = serve
        self.registry = ConnectionRegistry()
        self.faults = FaultSet()
        #: Chaos mode's per-test source of extra faults (``_chaos.py``), or ``None``.
        self.chaos: Chaos | None = None
        #: Gates and hooks a test added (``hold()``, ``on()``).
        self.checkpoints = Checkpoints()
        self.dialler = Dialler()
        #: Bugs (:class:`InternalError`: traceback and exception), to fail their test.
        self.errors: list[str] = []

    def report_error(self, record: LiveRecord | None, exc: Exception | None = None) -> str:
        """Keep ``exc`` (by default the one being handled); end ``record`` with it."""
        text = InternalError(exc)
        self.errors.append(text)
        if record is not None:
            record.end_by_bug(text)
        return text
