"""The pytest glue: options, the ``socks5`` marker, fixtures and the report header.

This is the only module that imports pytest. Nothing here runs unless a test asks for
a fixture: the session server starts on first use, so installing the plugin changes
nothing for a suite that does not use it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from . import __version__
from ._server import SOCKS5Server

__all__ = [
    "socks5_listen_address",
    "socks5_server",
    "socks5_server_factory",
    "socks5_server_options",
    "socks5_session_server",
]

#: Marker keywords that need a listener of their own (a dedicated server for the test).
_LISTEN_KEYS = frozenset({"host", "port", "backlog"})
#: Marker keywords applied to the shared session server for one test.
_RUNTIME_KEYS = frozenset(
    {"users", "validator", "connect_timeout", "handshake_timeout", "socks4", "host_map", "faults"}
)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("socks5", "pytest-socks5 (in-process SOCKS5 proxy)")
    group.addoption(
        "--socks5-host",
        dest="socks5_host",
        default=None,
        help="address the socks5_server fixture listens on "
        "(127.0.0.1, ::1, or localhost for both; default: ini socks5_host or 127.0.0.1)",
    )
    group.addoption(
        "--socks5-seed",
        dest="socks5_seed",
        type=int,
        default=None,
        help="seed for faults with a probability (default: ini socks5_seed or 0)",
    )
    group.addoption(
        "--socks5-user",
        dest="socks5_users",
        action="append",
        default=None,
        metavar="NAME:PASSWORD",
        help="a user the socks5_server fixture accepts, requiring username/password "
        "authentication; repeat for several (default: ini socks5_users, or no authentication)",
    )
    parser.addini("socks5_seed", default="0", help="seed for faults with a probability")
    parser.addini(
        "socks5_users",
        type="args",
        default=[],
        help="NAME:PASSWORD pairs the socks5_server fixture accepts, requiring "
        "username/password authentication (default: none, no authentication)",
    )
    parser.addini(
        "socks5_host",
        default="127.0.0.1",
        help="address the socks5_server fixture listens on (default 127.0.0.1)",
    )


def pytest_configure(config: pytest.Config) -> None:
    _users(config)  # a malformed NAME:PASSWORD stops the run here, saying which
    config.addinivalue_line(
        "markers",
        "socks5(**options): configure the socks5_server fixture for this test; "
        "options: users, validator, connect_timeout, handshake_timeout, socks4, host_map, "
        "faults "
        "(and host/port/backlog for a dedicated server)",
    )


def pytest_report_header(config: pytest.Config) -> str:
    host = _host(config)
    users = _users(config)
    auth = f", {len(users)} user(s) required" if users else ""
    return (
        f"pytest-socks5 {__version__}: socks5_server listens on {host}{auth} "
        "(started on first use)"
    )


def _seed(config: pytest.Config) -> int:
    value = config.getoption("socks5_seed")
    return int(value if value is not None else config.getini("socks5_seed"))


def _users(config: pytest.Config) -> dict[str, str]:
    """``--socks5-user`` (all of them) or else the ``socks5_users`` ini pairs."""
    pairs = config.getoption("socks5_users") or config.getini("socks5_users")
    users: dict[str, str] = {}
    for pair in pairs:
        name, colon, password = pair.partition(":")
        if not name or not colon:
            raise pytest.UsageError(
                f"socks5 users are NAME:PASSWORD (the password may be empty), got {pair!r}"
            )
        users[name] = password
    return users


def _defaults(config: pytest.Config) -> dict[str, Any]:
    """SOCKS5Server arguments from the command line and ini: the fixtures' defaults, under
    whatever ``socks5_server_options`` returns."""
    defaults: dict[str, Any] = {"seed": _seed(config)}
    users = _users(config)
    if users:
        defaults["users"] = users
    return defaults


def _host(config: pytest.Config) -> str:
    return str(config.getoption("socks5_host") or config.getini("socks5_host"))


@pytest.fixture(scope="session")
def socks5_listen_address(pytestconfig: pytest.Config) -> tuple[str, int]:
    """``(host, port)`` for the session server; override it in a ``conftest.py``.

    Port ``0`` (the default) picks a free port, which keeps ``pytest -n`` workers apart.
    """
    return (_host(pytestconfig), 0)


@pytest.fixture(scope="session")
def socks5_server_options() -> dict[str, Any]:
    """Keyword arguments for the session :class:`SOCKS5Server` (``users=…`` and so on);
    override it in a ``conftest.py`` to set suite-wide defaults."""
    return {}


@pytest.fixture(scope="session")
def socks5_session_server(
    request: pytest.FixtureRequest,
    socks5_listen_address: tuple[str, int],
    socks5_server_options: dict[str, Any],
) -> Iterator[SOCKS5Server]:
    """The one server of the session (of each xdist worker). Prefer ``socks5_server``,
    which resets it for every test."""
    host, port = socks5_listen_address
    options = {**_defaults(request.config), **socks5_server_options}
    server = SOCKS5Server(host, port, **options)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def _marker_options(request: pytest.FixtureRequest) -> dict[str, Any]:
    options: dict[str, Any] = {}
    # Closest marker last so that a function's marker beats its class's or module's.
    for marker in reversed(list(request.node.iter_markers("socks5"))):
        if marker.args:
            raise pytest.UsageError("@pytest.mark.socks5 takes keyword arguments only")
        options.update(marker.kwargs)
    unknown = set(options) - _LISTEN_KEYS - _RUNTIME_KEYS
    if unknown:
        raise pytest.UsageError(
            f"unknown @pytest.mark.socks5 option(s): {', '.join(sorted(unknown))}; "
            f"known: {', '.join(sorted(_LISTEN_KEYS | _RUNTIME_KEYS))}"
        )
    return options


def _check_errors(server: SOCKS5Server) -> None:
    if server.errors:
        pytest.fail(
            "pytest-socks5 had an internal error while serving this test:\n"
            + "\n".join(server.errors),
            pytrace=False,
        )


@pytest.fixture
def socks5_server(request: pytest.FixtureRequest) -> Iterator[SOCKS5Server]:
    """A running :class:`SOCKS5Server`, reset for this test: no records, default
    configuration plus this test's ``@pytest.mark.socks5(...)`` options."""
    options = _marker_options(request)
    if options.keys() & _LISTEN_KEYS:
        defaults: dict[str, Any] = request.getfixturevalue("socks5_server_options")
        host, port = request.getfixturevalue("socks5_listen_address")
        kwargs = {"host": host, "port": port, **_defaults(request.config), **defaults, **options}
        with SOCKS5Server(**kwargs) as server:
            yield server
            _check_errors(server)
        return
    server = request.getfixturevalue("socks5_session_server")
    server.reset()
    for fault in options.pop("faults", ()):
        server.add_fault(fault)
    if options:
        server.configure(**options)
    try:
        yield server
        _check_errors(server)
    finally:
        server.reset()


@pytest.fixture
def socks5_server_factory(
    request: pytest.FixtureRequest,
    socks5_listen_address: tuple[str, int],
) -> Iterator[Callable[..., SOCKS5Server]]:
    """Make extra running servers (proxy chains, several proxies); all are stopped when
    the test ends. Takes the :class:`SOCKS5Server` arguments."""
    servers: list[SOCKS5Server] = []

    def make(**kwargs: Any) -> SOCKS5Server:
        kwargs.setdefault("host", socks5_listen_address[0])
        kwargs.setdefault("seed", _seed(request.config))
        server = SOCKS5Server(**kwargs).start()
        servers.append(server)
        return server

    try:
        yield make
    finally:
        for server in servers:
            server.stop()
    for server in servers:
        _check_errors(server)
