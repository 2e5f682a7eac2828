"""pytest-socks5: a real SOCKS5 proxy, in-process, as a pytest fixture.

The public API is re-exported here; the pytest glue lives in :mod:`pytest_socks5.plugin`,
which this package never imports.
"""

from . import faults
from ._auth import Validator
from ._protocol import AddressType, AuthMethod, AuthStatus, Command, Reply, Socks4Reply
from ._recording import ConnectionRecord, NoMatchingConnection, Outcome
from ._server import ServerError, SOCKS5Server
from ._url import proxy_url

__version__ = "0.1.0"

# Public classes say "pytest_socks5.X" in tracebacks, not the private module they live in.
for _cls in (ConnectionRecord, NoMatchingConnection, Outcome, SOCKS5Server, ServerError):
    _cls.__module__ = __name__
del _cls

__all__ = [
    "AddressType",
    "AuthMethod",
    "AuthStatus",
    "Command",
    "ConnectionRecord",
    "NoMatchingConnection",
    "Outcome",
    "Reply",
    "SOCKS5Server",
    "ServerError",
    "Socks4Reply",
    "Validator",
    "__version__",
    "faults",
    "proxy_url",
]
