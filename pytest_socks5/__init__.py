"""pytest-socks5: a real SOCKS5 proxy, in-process, as a pytest fixture.

The public API is re-exported here; the pytest glue lives in :mod:`pytest_socks5.plugin`,
which this package never imports.
"""

from . import faults
from ._auth import Validator
from ._checkpoints import Gate
from ._dry_run import Permission
from ._guard import ServerError
from ._hosts import ECHO, Sink
from ._leaks import Leak, LeakError
from ._protocol import AddressType, AuthMethod, AuthStatus, Command, Reply, Socks4Reply
from ._records import ConnectionRecord, HandshakeMessage, NoMatchingConnection, Outcome, Timings
from ._rules import Rule
from ._server import SOCKS5Server
from ._udp_faults import UdpFaults
from ._url import proxy_url


def __getattr__(name: str) -> str:
    """``__version__``, the installed distribution's (``pyproject.toml`` is the one place
    it is written), read on first use: :mod:`importlib.metadata` costs a proxy process
    about 20 ms of start-up and 1 MiB, and an uninstalled source tree still imports."""
    if name == "__version__":
        from importlib.metadata import version

        globals()["__version__"] = value = version("pytest-socks5")
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# Public classes say "pytest_socks5.X" in tracebacks, not the private module they live in.
for _cls in (
    ConnectionRecord,
    Gate,
    HandshakeMessage,
    Leak,
    LeakError,
    NoMatchingConnection,
    Outcome,
    Permission,
    Rule,
    SOCKS5Server,
    ServerError,
    Sink,
    Timings,
    UdpFaults,
):
    _cls.__module__ = __name__
del _cls

__all__ = [
    "ECHO",
    "AddressType",
    "AuthMethod",
    "AuthStatus",
    "Command",
    "ConnectionRecord",
    "Gate",
    "HandshakeMessage",
    "Leak",
    "LeakError",
    "NoMatchingConnection",
    "Outcome",
    "Permission",
    "Reply",
    "Rule",
    "SOCKS5Server",
    "ServerError",
    "Sink",
    "Socks4Reply",
    "Timings",
    "UdpFaults",
    "Validator",
    "__version__",
    "faults",
    "proxy_url",
]
