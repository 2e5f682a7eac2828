"""pytest-socks5: a real SOCKS5 proxy, in-process, as a pytest fixture.

The public API is re-exported here; the pytest glue lives in :mod:`pytest_socks5.plugin`,
which this package never imports.
"""

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from . import faults
    from ._auth import Validator
    from ._checkpoints import Gate
    from ._dry_run import Permission
    from ._guard import ServerError
    from ._hosts import ECHO, Sink
    from ._leaks import Leak, LeakError
    from ._outcome import Outcome
    from ._protocol import AddressType, AuthMethod, AuthStatus, Command, Reply, Socks4Reply
    from ._records import ConnectionRecord, HandshakeMessage, NoMatchingConnection, Timings
    from ._rules import Rule
    from ._server import SOCKS5Server
    from ._udp_faults import UdpFaults
    from ._url import proxy_url

from ._protocol._exports import lazy_exports

#: Where each public name lives: it is imported on first use, so that loading the pytest
#: plugin (which imports this package) costs a suite that never asks for a proxy neither
#: the server nor asyncio.
_exported, __dir__ = lazy_exports(
    __name__,
    {
        "_auth": ("Validator",),
        "_checkpoints": ("Gate",),
        "_dry_run": ("Permission",),
        "_guard": ("ServerError",),
        "_hosts": ("ECHO", "Sink"),
        "_leaks": ("Leak", "LeakError"),
        "_outcome": ("Outcome",),
        "_protocol": (
            "AddressType",
            "AuthMethod",
            "AuthStatus",
            "Command",
            "Reply",
            "Socks4Reply",
        ),
        "_records": ("ConnectionRecord", "HandshakeMessage", "NoMatchingConnection", "Timings"),
        "_rules": ("Rule",),
        "_server": ("SOCKS5Server",),
        "_udp_faults": ("UdpFaults",),
        "_url": ("proxy_url",),
        "faults": ("faults",),
    },
    globals(),
)


def __getattr__(name: str) -> Any:
    """A public name, imported from its module on first use (PEP 562); and
    ``__version__``, the installed distribution's (``pyproject.toml`` is the one place it
    is written), read on first use: :mod:`importlib.metadata` costs a proxy process about
    20 ms of start-up and 1 MiB, and an uninstalled source tree still imports."""
    if name != "__version__":
        return _exported(name)
    from importlib.metadata import version

    globals()[name] = value = version("pytest-socks5")
    return value


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
