"""The pytest glue: options, the ``socks5`` marker, fixtures, the report header and the
transcript section of failing reports.

This is the only module that imports pytest. Nothing here runs unless a test asks for
a fixture: the session server starts on first use, so installing the plugin changes
nothing for a suite that does not use it. Each fixture that hands a test a server
registers it in the test item's stash ("watched"); at teardown the fixture keeps the
final snapshot of its records (and writes them as JSON lines if asked), and
``pytest_runtest_makereport`` renders the watched servers' records into the report.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from . import __version__
from ._options import ISSUE5_OPTIONS
from ._records import ConnectionRecord
from ._server import SOCKS5Server
from ._transcript import render_transcript

__all__ = [
    "socks5_listen_address",
    "socks5_proxy_env",
    "socks5_server",
    "socks5_server_factory",
    "socks5_server_options",
    "socks5_session_server",
]

#: Marker keywords that need a listener of their own (a dedicated server for the test).
_LISTEN_KEYS = frozenset({"host", "port", "backlog"})
#: Marker keywords applied to the shared session server for one test.
_RUNTIME_KEYS = (
    frozenset({"users", "validator", "connect_timeout", "handshake_timeout", "socks4", "host_map"})
    | {"faults", "capture_payload"}
    | {"idle_timeout", "max_connections"}  # issue 8
    | ISSUE5_OPTIONS  # BIND, UDP ASSOCIATE, SOCKS 4 user ids, destination rules
)
_TRANSCRIPT_MODES = ("failed", "all", "never")
#: Seconds a failing test's report waits for its open connections to finish.
_SETTLE_TIMEOUT = 0.25


@dataclass(frozen=True)
class _Settings:
    """The transcript and record options, read once per session."""

    transcript: str
    record_dir: Path | None
    show_passwords: bool
    capture_payload: int


@dataclass
class _Watched:
    """A server a test used: its label in reports and, after teardown, its final records."""

    label: str
    server: SOCKS5Server
    final: tuple[ConnectionRecord, ...] | None = None

    def records(self) -> tuple[ConnectionRecord, ...]:
        return self.final if self.final is not None else tuple(self.server.connections)


_SETTINGS = pytest.StashKey[_Settings]()
_WATCHED = pytest.StashKey[list[_Watched]]()
_RECORD_FILE = pytest.StashKey[Path]()


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
    parser.addini(
        "socks5_hermetic",
        type="bool",
        default=True,
        help="refuse destinations outside loopback and host_map (default true)",
    )
    parser.addini(
        "socks5_allow",
        type="linelist",
        default=[],
        help="destinations the proxy may reach besides loopback and host_map: host globs "
        "or networks, optionally with :port (one a line)",
    )
    group.addoption(
        "--socks5-transcript",
        dest="socks5_transcript",
        default=None,
        choices=_TRANSCRIPT_MODES,
        help="add a transcript of the proxy's connections to the report of tests that "
        "used it: failed (default), all (passing tests too; pytest shows their sections "
        "with -rP) or never",
    )
    parser.addini(
        "socks5_transcript",
        default="failed",
        help="which reports of proxy-using tests get a transcript: failed, all or never",
    )
    group.addoption(
        "--socks5-record-dir",
        dest="socks5_record_dir",
        default=None,
        metavar="DIR",
        help="write each proxy-using test's connection records to DIR as JSON lines",
    )
    parser.addini(
        "socks5_record_dir",
        default="",
        help="directory (relative to the rootdir) for each test's records as JSON lines",
    )
    group.addoption(
        "--socks5-show-passwords",
        dest="socks5_show_passwords",
        action="store_true",
        default=None,
        help="show RFC 1929 passwords in transcripts and record files instead of ***",
    )
    parser.addini(
        "socks5_show_passwords",
        type="bool",
        default=False,
        help="show RFC 1929 passwords in transcripts and record files",
    )
    group.addoption(
        "--socks5-capture-payload",
        dest="socks5_capture_payload",
        default=None,
        type=int,
        metavar="BYTES",
        help="keep the first BYTES of payload each way in every record (default 0: none)",
    )
    parser.addini(
        "socks5_capture_payload",
        default="0",
        help="bytes of payload kept each way in every record (default 0: none)",
    )


def pytest_configure(config: pytest.Config) -> None:
    _users(config)  # a malformed NAME:PASSWORD stops the run here, saying which
    config.addinivalue_line(
        "markers",
        "socks5(**options): configure the socks5_server fixture for this test; "
        "options: users, validator, connect_timeout, handshake_timeout, socks4, host_map, "
        "faults, hermetic, allow, rules, bind_timeout, udp_faults, socks4_user_ids, "
        "socks4_user_id_reply, capture_payload, idle_timeout, max_connections "
        "(and host/port/backlog for a dedicated server)",
    )
    config.stash[_SETTINGS] = _read_settings(config)


def _read_settings(config: pytest.Config) -> _Settings:
    transcript = config.getoption("socks5_transcript") or config.getini("socks5_transcript")
    if transcript not in _TRANSCRIPT_MODES:
        raise pytest.UsageError(
            f"socks5_transcript must be one of {', '.join(_TRANSCRIPT_MODES)}, not {transcript!r}"
        )
    record_dir: Path | None = None
    if cli_dir := config.getoption("socks5_record_dir"):
        record_dir = config.invocation_params.dir / cli_dir
    elif ini_dir := config.getini("socks5_record_dir"):
        record_dir = config.rootpath / ini_dir
    show = config.getoption("socks5_show_passwords")
    if show is None:
        show = config.getini("socks5_show_passwords")
    capture = config.getoption("socks5_capture_payload")
    if capture is None:
        try:
            capture = int(config.getini("socks5_capture_payload") or 0)
        except ValueError:
            raise pytest.UsageError("socks5_capture_payload must be a number of bytes") from None
    if capture < 0:
        raise pytest.UsageError("socks5_capture_payload must not be negative")
    return _Settings(
        transcript=transcript,
        record_dir=record_dir,
        show_passwords=bool(show),
        capture_payload=capture,
    )


def _settings(config: pytest.Config) -> _Settings:
    return config.stash[_SETTINGS]


def _payload_default(config: pytest.Config) -> dict[str, Any]:
    capture = _settings(config).capture_payload
    return {"capture_payload": capture} if capture else {}


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
    defaults: dict[str, Any] = {
        "seed": _seed(config),
        **_ini_options(config),
        **_payload_default(config),
    }
    users = _users(config)
    if users:
        defaults["users"] = users
    return defaults


def _host(config: pytest.Config) -> str:
    return str(config.getoption("socks5_host") or config.getini("socks5_host"))


def _ini_options(config: pytest.Config) -> dict[str, Any]:
    """The suite's destination policy from the ini file, for every server the fixtures
    make (fixture and marker options win over it)."""
    return {
        "hermetic": bool(config.getini("socks5_hermetic")),
        "allow": list(config.getini("socks5_allow")),
    }


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


def _watch(item: pytest.Item, label: str, server: SOCKS5Server) -> _Watched:
    """Register ``server`` as used by ``item``, for its report and record file."""
    watched = _Watched(f"{label} at {server.url_for()}", server)
    item.stash.setdefault(_WATCHED, []).append(watched)
    return watched


def _settle(item: pytest.Item, watched: _Watched) -> None:
    """At teardown: keep the final records and write them out if a directory was given."""
    watched.final = tuple(watched.server.connections)
    settings = _settings(item.config)
    if settings.record_dir is None:
        return
    path = item.stash.get(_RECORD_FILE, None)
    mode = "a"
    if path is None:
        settings.record_dir.mkdir(parents=True, exist_ok=True)
        path = item.stash[_RECORD_FILE] = settings.record_dir / _record_file_name(item.nodeid)
        mode = "w"
    with path.open(mode, encoding="utf-8") as out:
        for record in watched.final:
            line = record.to_dict(show_password=settings.show_passwords)
            out.write(_json_line({"test": item.nodeid, "proxy": watched.label, **line}))


def _json_line(value: dict[str, Any]) -> str:
    import json

    return json.dumps(value, ensure_ascii=False, separators=(",", ":")) + "\n"


def _record_file_name(nodeid: str) -> str:
    """``tests/test_a.py::test_b[x]`` → ``tests_test_a.py__test_b_x_.jsonl`` (made unique
    with a hash when it had to be shortened)."""
    name = re.sub(r"[^A-Za-z0-9._-]", "_", nodeid).lstrip(".") or "test"
    if len(name) > 150:
        digest = hashlib.sha1(nodeid.encode(), usedforsecurity=False).hexdigest()[:10]
        name = f"{name[:140]}-{digest}"
    return name + ".jsonl"


@pytest.fixture
def socks5_server(
    request: pytest.FixtureRequest, socks5_session_server: SOCKS5Server
) -> Iterator[SOCKS5Server]:
    """A running :class:`SOCKS5Server`, reset for this test: no records, default
    configuration plus this test's ``@pytest.mark.socks5(...)`` options."""
    marked = request.node.get_closest_marker("socks5") is not None
    options = _marker_options(request) if marked else {}
    item = request.node
    if options.keys() & _LISTEN_KEYS:
        defaults: dict[str, Any] = request.getfixturevalue("socks5_server_options")
        host, port = request.getfixturevalue("socks5_listen_address")
        kwargs = {"host": host, "port": port, **_defaults(request.config), **defaults, **options}
        with SOCKS5Server(**kwargs) as server:
            watched = _watch(item, "socks5_server", server)
            yield server
        _settle(item, watched)
        _check_errors(server)
        return
    server = socks5_session_server
    server.reset()
    for fault in options.pop("faults", ()):
        server.add_fault(fault)
    if options:
        server.configure(**options)
    watched = _watch(item, "socks5_server", server)
    try:
        yield server
        _settle(item, watched)
        _check_errors(server)
    finally:
        server.reset()


@pytest.fixture
def socks5_proxy_env(socks5_server: SOCKS5Server) -> Iterator[SOCKS5Server]:
    """``socks5_server``, with ``ALL_PROXY``, ``HTTP_PROXY`` and ``HTTPS_PROXY`` (and their
    lower-case forms) pointing at it and ``NO_PROXY`` unset for this test; see
    :meth:`SOCKS5Server.proxy_env`."""
    with socks5_server.proxy_env():
        yield socks5_server


@pytest.fixture
def socks5_server_factory(
    request: pytest.FixtureRequest,
    socks5_listen_address: tuple[str, int],
) -> Iterator[Callable[..., SOCKS5Server]]:
    """Make extra running servers (proxy chains, several proxies); all are stopped when
    the test ends. Takes the :class:`SOCKS5Server` arguments."""
    watched: list[_Watched] = []

    def make(**kwargs: Any) -> SOCKS5Server:
        kwargs.setdefault("host", socks5_listen_address[0])
        kwargs = {
            "seed": _seed(request.config),
            **_ini_options(request.config),
            **_payload_default(request.config),
            **kwargs,
        }
        server = SOCKS5Server(**kwargs).start()
        label = f"socks5_server_factory server {len(watched) + 1}"
        watched.append(_watch(request.node, label, server))
        return server

    try:
        yield make
    finally:
        for one in watched:
            one.server.stop()
        for one in watched:
            _settle(request.node, one)
    for one in watched:
        _check_errors(one.server)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """Add the transcript of the proxies a test used to its report (when it failed, or
    always with ``socks5_transcript = all``)."""
    outcome = yield
    watched = item.stash.get(_WATCHED, None)
    if not watched:
        return
    report: pytest.TestReport = outcome.get_result()  # type: ignore[attr-defined]
    settings = _settings(item.config)
    wanted = report.failed or (
        settings.transcript == "all" and report.when == "call" and report.passed
    )
    if settings.transcript == "never" or not wanted:
        return
    if report.failed:
        # A client that failed a moment ago may still be closing: give the records of
        # open connections a moment to say how they ended.
        for w in watched:
            if w.final is None:
                w.server._recorder.wait_settled(_SETTLE_TIMEOUT)
    text = "\n\n".join(
        render_transcript(w.records(), title=w.label, show_password=settings.show_passwords)
        for w in watched
    )
    report.sections.append((f"socks5 transcript {report.when}", text))
