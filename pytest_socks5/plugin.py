"""The pytest glue: options, the ``socks5`` marker, fixtures, the report header and the
transcript section of failing reports.

This is the only module that imports pytest. Nothing here runs unless a test asks for
a fixture: the session server starts on first use, so installing the plugin changes
nothing for a suite that does not use it. Each fixture that hands a test a server
registers it in the test's run (a ``TestRun`` in the item's stash, made afresh for each
run of the test's protocol, so a rerun's is its own); at teardown the fixture keeps the
final snapshot of its records (and writes them as JSON lines if asked), and
``pytest_runtest_makereport`` renders the watched servers' records into the report.
Options, ini settings and command-line flags come from the table in :mod:`._options`:
they are read and checked (and a bad one stops the run) once, at ``pytest_configure``; a
bad ``socks5`` marker errors its test at setup, in one line.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import pytest

from . import _chaos_settings
from ._option_parsers import PCAP_DIR
from ._options import OPTIONS, Option, Site, names, option
from ._plugin_inputs import (
    MarkerOptions,
    factory_mistake,
    ini_type,
    listen_address,
    read_marker,
    server_options,
)
from ._plugin_state import (
    SETTLE_TIMEOUT,
    append_records,
    header_lines,
    restart,
    settings_from,
    start,
    transcript_text,
    write_pcap,
)
from ._plugin_state import Settings as _Settings
from ._plugin_state import TestRun as _TestRun
from ._plugin_state import Watched as _Watched

if TYPE_CHECKING:  # the server's side loads with the first proxy a test asks for
    from ._server import SOCKS5Server

__all__ = [
    "socks5_listen_address",
    "socks5_proxy_env",
    "socks5_server",
    "socks5_server_factory",
    "socks5_server_options",
    "socks5_session_server",
]

_SETTINGS = pytest.StashKey[_Settings]()
#: This run of the test's protocol: dropped at its setup, so a rerun starts afresh.
_RUN = pytest.StashKey[_TestRun]()
_MARKER = pytest.StashKey[MarkerOptions]()
#: The session server once started, and where its address was given (for a message).
_SESSION = pytest.StashKey[tuple["SOCKS5Server", str]]()
#: Set while the test's body runs: a proxy made then starts the leak recording.
_IN_CALL = pytest.StashKey[bool]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("socks5", "pytest-socks5 (in-process SOCKS5 proxy)")
    for one in OPTIONS:
        if one.flag is not None:
            group.addoption(
                one.flag.name,
                dest=one.flag_dest,
                default=None,
                help=one.flag.help or one.doc,
                **one.flag.argparse_arguments(),
            )
        if one.ini is not None:
            parser.addini(
                one.ini_name,
                help=one.ini.help or one.doc,
                type=ini_type(one.ini.type, pytest.version_tuple),
                default=one.ini.default,
            )


def pytest_configure(config: pytest.Config) -> None:
    # A malformed value (a NAME:PASSWORD without a colon, say) stops the run here.
    config.stash[_SETTINGS] = _read_settings(config)
    if not hasattr(config, "workerinput"):  # xdist's controller shows the plan
        settings = config.stash[_SETTINGS]
        plan = _chaos_settings.ChaosPlan(settings.chaos, settings.chaos_seed)
        config.pluginmanager.register(plan, "socks5-chaos-plan")
    marker_names = names(Site.MARKER)
    shared = [n for n in marker_names if not option(n).own_listener]
    own = [n for n in marker_names if option(n).own_listener]
    config.addinivalue_line(
        "markers",
        "socks5(**options): configure the socks5_server fixture for this test; "
        f"options: {', '.join(shared)} (and {'/'.join(own)} for a dedicated server)",
    )


def _given(config: pytest.Config, one: Option) -> tuple[Any, str]:
    """An option's value from the command line, else the ini file, else its default,
    converted and checked by its declaration; and where it came from. A bad value is a
    usage error naming the flag or the ini option."""
    source, where = "default", ""
    try:
        value = one.default
        raw = config.getoption(one.flag_dest) if one.flag is not None else None
        if one.flag is not None and raw is not None:
            source, where = "command line", one.flag.name
            value = one.from_text(raw)
        elif one.ini is not None:
            source, where = "ini", f"ini option {one.ini_name}"
            value = one.from_text(config.getini(one.ini_name))
        if Site.CONSTRUCTOR in one.sites:
            one.normalise(value)
    except (TypeError, ValueError, pytest.UsageError) as exc:  # getini: a UsageError
        hint = ""
        if source == "command line" and one.name == "chaos":
            hint = _chaos_settings.bare_flag_hint(raw, config.getini("addopts"), config)
        raise pytest.UsageError(f"pytest-socks5: {where or one.name}: {exc}{hint}") from None
    return value, source


def _read_settings(config: pytest.Config) -> _Settings:
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for one in OPTIONS:
        if one.ini is None and one.flag is None:
            continue
        values[one.name], sources[one.name] = _given(config, one)
    seed_given = sources["seed"] == "command line" or config.getini("socks5_seed") != ""
    try:
        return settings_from(
            values,
            sources,
            seed=values["seed"] if seed_given else None,
            root=config.rootpath,
            here=config.invocation_params.dir,
            worker=getattr(config, "workerinput", {}),
            randomly=getattr(config.option, "randomly_seed", None),
        )
    except ValueError as exc:  # a directory that cannot be made or written to
        raise pytest.UsageError(str(exc)) from None


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """pytest-xdist: every worker gets the controller's chaos seed."""
    node.workerinput["socks5_chaos_seed"] = _settings(node.config).chaos_seed


def _settings(config: pytest.Config) -> _Settings:
    return config.stash[_SETTINGS]


def _marker(item: pytest.Item) -> MarkerOptions:
    """The test's ``socks5`` markers, checked once, the same for every fixture."""
    if (found := item.stash.get(_MARKER, None)) is None:
        markers = [(m.args, m.kwargs) for m in item.iter_markers("socks5")]
        found = item.stash[_MARKER] = _checked(read_marker, markers)
    return found


def _checked(check: Callable[[Any], Any], value: Any, what: str = "") -> Any:
    """``check(value)``; a mistake fails the test (errors it, at setup) with one line:
    what is wrong (for ``what``), and what is valid."""
    try:
        return check(value)
    except (TypeError, ValueError) as exc:
        mistake = f"{what}: {exc}" if what else str(exc)
    pytest.fail(mistake, pytrace=False)  # outside the except: no "during handling" chain


def pytest_report_header(config: pytest.Config) -> list[str]:
    return header_lines(_settings(config))


def _defaults(config: pytest.Config, *, users: bool = True) -> dict[str, Any]:
    """SOCKS5Server arguments from the command line and ini. ``socks5_server_factory``'s
    servers do not get the users (as documented)."""
    defaults = dict(_settings(config).server_defaults)
    if not users:
        del defaults["users"]
    return defaults


@pytest.fixture(scope="session")
def socks5_listen_address(pytestconfig: pytest.Config) -> tuple[str, int]:
    """``(host, port)`` for the session server and dedicated servers, and the host of
    ``socks5_server_factory``'s; override it in a ``conftest.py``.

    Port ``0`` (the default) picks a free port, which keeps ``pytest -n`` workers apart.
    """
    return (_settings(pytestconfig).host, 0)


@pytest.fixture(scope="session")
def socks5_server_options() -> dict[str, Any]:
    """Keyword arguments for the session :class:`SOCKS5Server` and dedicated servers
    (``users=…`` and so on); override it in a ``conftest.py`` to set suite-wide defaults.
    Not ``host`` or ``port``: the listen address is ``socks5_listen_address``'s."""
    return {}


@pytest.fixture(scope="session")
def socks5_session_server(
    request: pytest.FixtureRequest,
    socks5_listen_address: tuple[str, int],
    socks5_server_options: dict[str, Any],
) -> Iterator[SOCKS5Server]:
    """The one server of the session (of each xdist worker). Prefer ``socks5_server``,
    which resets it for every test."""
    what = "pytest-socks5: session server"
    host, port = _checked(listen_address, socks5_listen_address, what)
    defaults = _checked(server_options, socks5_server_options, what)
    options = {**_defaults(request.config), **defaults}
    given = _settings(request.config).listen_given(socks5_listen_address)
    server = _started(what, given, host, port, **options)
    request.config.stash[_SESSION] = (server, given)
    try:
        yield server
    finally:
        del request.config.stash[_SESSION]
        server.stop()


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """Before a test's fixtures: the state of the test's previous run, if it is run again
    (pytest-rerunfailures), is dropped; a session server an earlier test stopped starts
    again (:func:`~pytest_socks5._plugin_state.restart`), so every fixture that hands out
    a server hands out a running one."""
    if _RUN in item.stash:
        del item.stash[_RUN]
    session = item.config.stash.get(_SESSION, None)
    if session is None or session[0].is_running:
        return
    if "socks5_session_server" not in getattr(item, "fixturenames", ()):
        return
    if (failure := restart(*session)) is not None:
        pytest.fail(
            f"pytest-socks5: session server (stopped by an earlier test): {failure}", pytrace=False
        )


def _started(what: str, given: str | None, /, *args: Any, **kwargs: Any) -> SOCKS5Server:
    """A new ``SOCKS5Server(*args, **kwargs)``, started (its modules load with the first);
    if it cannot listen, a one-line error (a user's, not a traceback)."""
    from ._server import SOCKS5Server

    server = SOCKS5Server(*args, **kwargs)
    if (failure := start(server, given)) is not None:
        pytest.fail(f"{what}: {failure}", pytrace=False)
    return server


def _watch(item: pytest.Item, label: str, server: SOCKS5Server) -> _Watched:
    """Register ``server`` as used by ``item``, for its report and record file."""
    watched = _Watched(f"{label} at {server.url_for()}", server)
    run = item.stash.setdefault(_RUN, _TestRun())
    siblings = run.watched
    settings, marker = _settings(item.config), _marker(item)
    rate = _chaos_settings.rate_for_test(settings.chaos, marker.plugin.get("chaos"))
    if rate:
        seed = _chaos_settings.seed_for_test(settings.chaos_seed, item.nodeid, len(siblings))
        from ._chaos import Chaos

        watched.chaos = server._engine.context.chaos = Chaos(rate, seed)
    siblings.append(watched)
    if (leaks := run.leaks) is None:
        from ._leak_watch import TestLeaks

        leaks = run.leaks = TestLeaks(marker.leak_guard(settings.leak_guard))
    leaks.watch(server)
    if item.stash.get(_IN_CALL, False):  # made in the test's body: record from now on
        leaks.start()
    return watched


def _settle(item: pytest.Item, watched: _Watched) -> None:
    """At teardown: keep the final records and write them out if a directory was given."""
    settings = _settings(item.config)
    wanted = _marker(item).plugin.get("pcap")
    pcap = wanted or (wanted is None and settings.pcap_dir is not None)
    if pcap or settings.record_dir is not None:
        # The shared server outlives the test: a client that closed as the test ended
        # may not have been read yet. Files say how a connection ended when they can.
        watched.server._recorder.wait_settled(SETTLE_TIMEOUT)
    watched.final = tuple(watched.server.connections)
    run = item.stash[_RUN]
    if pcap:
        pcap_dir = settings.pcap_dir or (item.config.invocation_params.dir / PCAP_DIR)
        write_pcap(pcap_dir, item.nodeid, run.watched)
    if settings.record_dir is not None:
        run.record_file = append_records(
            run.record_file,
            settings.record_dir,
            item.nodeid,
            watched,
            settings.show_passwords,
        )


@pytest.fixture
def socks5_server(
    request: pytest.FixtureRequest, socks5_session_server: SOCKS5Server
) -> Iterator[SOCKS5Server]:
    """A running :class:`SOCKS5Server`, reset for this test: no records, default
    configuration plus this test's ``@pytest.mark.socks5(...)`` options."""
    item = request.node
    marker = _marker(item)
    options = dict(marker.server)  # the plugin's own options are read by _watch
    if marker.dedicated:
        what = "pytest-socks5: dedicated server"
        address = request.getfixturevalue("socks5_listen_address")
        host, port = _checked(listen_address, address, what)
        given = request.getfixturevalue("socks5_server_options")
        defaults = _checked(server_options, given, what)
        kwargs = {"host": host, "port": port, **_defaults(request.config), **defaults, **options}
        server = _started("@pytest.mark.socks5", None, **kwargs)
        try:
            watched = _watch(item, "socks5_server", server)
            yield server
        finally:
            server.stop()
        _settle(item, watched)
        watched.fail_teardown()
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
        watched.fail_teardown()
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
    _marker(request.node)
    what = "pytest-socks5: socks5_server_factory"
    host = _checked(listen_address, socks5_listen_address, what)[0]

    def make(**kwargs: Any) -> SOCKS5Server:
        __tracebackhide__ = True
        if (mistake := factory_mistake(kwargs)) is not None:
            raise mistake  # made here: its traceback is the test's call
        kwargs.setdefault("host", host)
        kwargs = {**_defaults(request.config, users=False), **kwargs}
        server = _started("socks5_server_factory", None, **kwargs)
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
        one.fail_teardown()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    """Record the client's lookups and connects while a proxy-using test runs; if its
    body passed, fail it with an exception the user's code raised in a server."""
    __tracebackhide__ = True
    if (run := item.stash.get(_RUN, None)) is not None and run.leaks is not None:
        run.leaks.start()
    item.stash[_IN_CALL] = True
    try:
        result = yield
    finally:
        item.stash[_IN_CALL] = False
        # Or made in the body (socks5_server_factory(), request.getfixturevalue).
        if (run := item.stash.get(_RUN, None)) is not None and run.leaks is not None:
            run.leaks.stop()
    for watched in run.watched if run is not None else ():
        watched.fail_call()
    return result


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: pytest.Item) -> Iterator[None]:
    """The leak guard: after the fixtures' teardown, fail a guarded test that leaked."""
    leaks = run.leaks if (run := item.stash.get(_RUN, None)) is not None else None
    message = leaks.verdict() if leaks is not None else None
    result = yield
    if message is not None:
        pytest.fail(message, pytrace=False)
    return result


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """Add the transcript of the proxies a test used to its report (when it failed, or
    always with ``socks5_transcript = all``)."""
    outcome = yield
    if (run := item.stash.get(_RUN, None)) is None or not (watched := run.watched):
        return
    from . import _chaos  # loaded with the test's proxy already

    report: pytest.TestReport = outcome.get_result()  # type: ignore[attr-defined]
    settings = _settings(item.config)
    chaos = [(w.label, w.chaos) for w in watched if w.chaos is not None]
    if chaos and report.when == "teardown":
        report.user_properties.append((_chaos_settings.PLAN_PROPERTY, _chaos.plan_entry(chaos)))
    if chaos and report.failed and (lines := _chaos.report_lines(chaos)):
        report.sections.append((f"socks5 chaos {report.when}", "\n".join(lines)))
    wanted = report.failed or (
        settings.transcript == "all" and report.when == "call" and report.passed
    )
    if settings.transcript == "never" or not wanted:
        return
    leak_lines = run.leaks.transcript() if run.leaks is not None else None
    text = transcript_text(watched, settings.show_passwords, report.failed, leak_lines)
    report.sections.append((f"socks5 transcript {report.when}", text))
