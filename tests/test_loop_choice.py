"""Which event loop the server thread runs: ``loop="auto"`` (uvloop when installed), and
every place that says or chooses it (constructor, ini, pytest flag, CLI, header, banner)."""

from __future__ import annotations

import asyncio
import importlib.util
import threading
from importlib.util import find_spec

import pytest

from pytest_socks5 import ConnectionRecord, SOCKS5Server, rawclient
from pytest_socks5._option_parsers import resolve_loop
from pytest_socks5._runner import LoopThread

from .cli_process import CliProcess, run_cli

UVLOOP = find_spec("uvloop") is not None
AUTO = "uvloop" if UVLOOP else "asyncio"
INI = "[pytest]\n" + (
    "asyncio_default_fixture_loop_scope = function\n" if find_spec("pytest_asyncio") else ""
)


def test_auto_is_uvloop_when_installed_else_asyncio(monkeypatch: pytest.MonkeyPatch) -> None:
    assert resolve_loop("auto") == AUTO
    assert resolve_loop("asyncio") == "asyncio"
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "uvloop" else real(name, *a)
    )
    assert resolve_loop("auto") == "asyncio"
    assert SOCKS5Server().loop_name == "asyncio"


@pytest.mark.parametrize("loop", ["auto", "asyncio", "uvloop"])
def test_the_server_thread_runs_the_loop_it_names(loop: str) -> None:
    if loop == "uvloop" and not UVLOOP:
        pytest.skip("uvloop is not installed")
    seen: list[str] = []
    ended = threading.Event()

    def on_end(record: ConnectionRecord) -> None:  # called on the server's thread
        seen.append(type(asyncio.get_running_loop()).__module__)
        ended.set()

    with SOCKS5Server(loop=loop, on_connection_end=on_end) as server:
        rawclient.connect(server.address, timeout=5).close()
        assert ended.wait(5)
        assert server.loop_name == resolve_loop(loop)
    assert seen == ["uvloop" if server.loop_name == "uvloop" else "asyncio.unix_events"]


def test_asyncio_is_asyncios_own_loop_whatever_policy_the_suite_installed() -> None:
    """``loop="asyncio"`` runs asyncio's selector loop even in a suite that installed
    uvloop's event-loop policy (as ``uvloop.install()`` does): the name says what runs."""
    if not UVLOOP:
        pytest.skip("uvloop is not installed")
    import uvloop

    seen: list[type[asyncio.AbstractEventLoop]] = []
    policy = asyncio.get_event_loop_policy()
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    try:
        with SOCKS5Server(loop="asyncio") as server:
            assert server._loop is not None
            seen.append(type(server._loop))
    finally:
        asyncio.set_event_loop_policy(policy)
    assert seen == [asyncio.SelectorEventLoop]


def test_the_header_names_the_loop_and_the_flag_and_ini_choose_it(
    pytester: pytest.Pytester,
) -> None:
    pytester.makeini(INI)
    pytester.makepyfile(
        test_loop="""
        def test_loop(socks5_server, pytestconfig):
            expected = pytestconfig.getoption("socks5_loop") or pytestconfig.getini("socks5_loop")
            if expected != "auto":
                assert socks5_server.loop_name == expected
        """
    )
    result = pytester.runpytest("-p", "no:cacheprovider", "test_loop.py")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines([f"pytest-socks5 *: socks5_server listens on *event loop {AUTO}"])
    result = pytester.runpytest(
        "-p", "no:cacheprovider", "--socks5-loop", "asyncio", "test_loop.py"
    )
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["pytest-socks5 *, event loop asyncio"])
    pytester.makeini(INI + "socks5_loop = asyncio\n")
    result = pytester.runpytest("-p", "no:cacheprovider", "test_loop.py")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["pytest-socks5 *, event loop asyncio"])
    pytester.makeini(INI + "socks5_loop = trio\n")
    result = pytester.runpytest("-p", "no:cacheprovider", "test_loop.py")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["*socks5_loop: loop must be one of 'auto', 'uvloop', 'asyncio', got 'trio'*"]
    )


@pytest.mark.parametrize(
    ("args", "loop"),
    [((), AUTO), (("--loop", "asyncio"), "asyncio"), (("--uvloop",), "uvloop")],
)
def test_the_cli_says_which_loop_it_runs(args: tuple[str, ...], loop: str) -> None:
    if loop == "uvloop" and not UVLOOP:
        pytest.skip("uvloop is not installed")
    with CliProcess.start("--port", "0", *args) as proxy:
        assert proxy.line().startswith("pytest-socks5 listening on socks5://127.0.0.1:")
        assert proxy.line(stream="err").endswith(f": event loop {loop}")


def test_the_cli_refuses_an_unknown_loop_in_one_line() -> None:
    result = run_cli("--loop", "trio")
    assert result.returncode == 2
    assert "argument --loop: invalid choice: 'trio'" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_loop_that_cannot_close_makes_stop_raise_instead_of_hanging() -> None:
    """The loop closes on its own thread: should the close never finish (uvloop's waits
    for every handle, and a leaked one holds it forever), stop() says so in time."""
    release = threading.Event()

    class StuckLoop(asyncio.SelectorEventLoop):
        def close(self) -> None:
            release.wait(10)  # a close that does not finish while the test waits
            super().close()

    runner = LoopThread(StuckLoop, "pytest-socks5 test")
    runner.wait_ready(5)
    try:
        with pytest.raises(RuntimeError, match=r"did not stop and close within 0\.2 s"):
            runner.stop(timeout=0.2)
    finally:
        release.set()
        runner.thread.join(5)
    assert runner.loop.is_closed()
