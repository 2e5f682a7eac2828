"""What every connection of one server shares.

Strategy: the engine makes one context per server and gives it to each connection it
accepts: the configuration (a frozen value swapped between tests), the records, the
registry of open connections, the faults, the gates and hooks, the dialler, the errors,
and ``serve`` — the front-end dispatcher each connection runs. It is generic in the
connection type so that it sits below the connection it serves.
"""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

from ._chaos import Chaos
from ._checkpoints import Checkpoints
from ._config import EngineConfig
from ._dialler import Dialler
from ._fault_set import FaultSet
from ._guard import InternalError, UserError
from ._hosts import describe_target
from ._live_record import LiveRecord
from ._recorder import Recorder
from ._records import Outcome
from ._registry import ConnectionRegistry
from ._user_code import UserCodeError

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
        #: Bugs (:class:`InternalError`: traceback and exception) and exceptions of the
        #: user's own code (:class:`UserError`), to fail their test.
        self.errors: list[str] = []

    def report_error(self, record: LiveRecord | None, exc: Exception | None = None) -> str:
        """Keep ``exc`` (by default the one being handled); end ``record`` with it: as
        ``USER_CODE_ERROR`` if it is a :class:`UserCodeError`, else as a bug."""
        if exc is None:
            handled = sys.exc_info()[1]
            assert isinstance(handled, Exception)
            exc = handled
        text: str
        if isinstance(exc, UserCodeError):
            text, outcome = UserError(exc, _connection(record)), Outcome.USER_CODE_ERROR
        else:
            text, outcome = InternalError(exc), Outcome.INTERNAL_ERROR
        self.errors.append(text)
        if record is not None:
            record.end_by_bug(text, outcome)
        return text


def _connection(record: LiveRecord | None) -> str:
    """The connection, as a message names it: ``connection #3 from 127.0.0.1:40000 to
    example.test:80``."""
    if record is None:
        return "a connection"
    text = f"connection #{record.id} from {describe_target(record.client_address)}"
    if record.host is None or record.port is None:
        return text
    return f"{text} to {describe_target((record.host, record.port))}"
