from __future__ import annotations

from collections.abc import Iterator

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
