from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

# httpcore, httpx and requests: the clients inner test suites use in pytester's in-process
# runs are imported here, before any run takes its sys.modules snapshot (the modules a run
# imports are dropped after it). Half-dropped, a library breaks in the next run: requests
# ("You can only merge into CookieJar"), and httpx, which imports httpcore on first use and
# caches its exception classes (an httpcore.ProxyError from a re-imported httpcore is no
# longer mapped to httpx.ProxyError). Imported here, every run shares one copy of each.
import httpcore  # noqa: F401
import httpx  # noqa: F401
import pytest
import requests  # noqa: F401

from pytest_socks5 import SOCKS5Server
from pytest_socks5._splice import AVAILABLE as SPLICE_AVAILABLE

from .helpers import closed_port, echo_target, http_target

#: The four ways a server can move bytes: every feature must behave the same on each.
VARIANTS: dict[str, dict[str, Any]] = {
    "asyncio": {"loop": "asyncio", "splice": False},
    "asyncio+splice": {"loop": "asyncio", "splice": True},
    "uvloop": {"loop": "uvloop", "splice": False},
    "uvloop+splice": {"loop": "uvloop", "splice": True},
}


@pytest.fixture(params=list(VARIANTS))
def variant(request: pytest.FixtureRequest) -> dict[str, Any]:
    """``loop`` and ``splice`` for one of the four :data:`VARIANTS` (skipped where the
    platform lacks uvloop or ``splice(2)``)."""
    options = VARIANTS[request.param]
    if options["loop"] == "uvloop":
        pytest.importorskip("uvloop")
    if options["splice"] and not SPLICE_AVAILABLE:
        pytest.skip("os.splice is Linux-only")
    return options


@pytest.fixture
def make_server(variant: dict[str, Any]) -> Iterator[Callable[..., SOCKS5Server]]:
    """Start servers (``SOCKS5Server`` arguments) on this test's variant; all are stopped
    when the test ends. A test that takes it runs once per variant."""
    servers: list[SOCKS5Server] = []

    def make(**kwargs: Any) -> SOCKS5Server:
        server = SOCKS5Server(**variant, **kwargs).start()
        servers.append(server)
        return server

    try:
        yield make
    finally:
        for server in servers:
            server.stop()


@pytest.fixture
def echo_server() -> Iterator[tuple[str, int]]:
    """A loopback TCP echo server: ``(host, port)``."""
    with echo_target() as address:
        yield address


@pytest.fixture
def http_server() -> Iterator[tuple[str, int]]:
    """A loopback HTTP/1.1 server answering ``hello from <path>``."""
    with http_target() as address:
        yield address


@pytest.fixture
def refused_port() -> Iterator[int]:
    """A port on 127.0.0.1 where connections are refused."""
    with closed_port() as port:
        yield port


# -- figures of the reliability suites (issue 8) ------------------------------------------

_FIGURES = pytest.StashKey[list[str]]()


@pytest.fixture(scope="session")
def figures_log(pytestconfig: pytest.Config) -> list[str]:
    """Lines printed at the end of the run under "pytest-socks5 reliability figures"."""
    return pytestconfig.stash.setdefault(_FIGURES, [])


@pytest.fixture
def report_figures(
    request: pytest.FixtureRequest, figures_log: list[str]
) -> Callable[[str], None]:
    """Note a figure (cases tried, bytes verified, …) for the end-of-run summary."""

    def report(text: str) -> None:
        figures_log.append(f"{request.node.name}: {text}")

    return report


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    lines = terminalreporter.config.stash.get(_FIGURES, [])
    if lines:
        terminalreporter.section("pytest-socks5 reliability figures")
        for line in lines:
            terminalreporter.write_line(line)
