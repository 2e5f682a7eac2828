from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from .helpers import closed_port, echo_target, http_target


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
