"""Shared by every test path (tests/, examples/, docs/examples/).

Two jobs. Nothing leaves loopback: every proxy's ways out (dial, look-up, datagrams) are
guarded. And the suite runs, and passes quietly, without pytest-asyncio: the plugin never
needs it, but a few of our tests and the docs examples written for its users do. Without
it installed (or with ``-p no:asyncio``), this conftest registers the ``asyncio`` marker
and pytest-asyncio's ini options, so that ``--strict-markers`` and ``--strict-config``
accept them, and skips the tests marked ``asyncio`` with the reason. tox's ``no-asyncio``
environment runs the suite that way.
"""

from __future__ import annotations

import errno
import ipaddress
import socket
from collections.abc import Iterator
from typing import Any

import pytest

#: pytest-asyncio's ini options that pyproject.toml sets.
ASYNCIO_INI = ("asyncio_mode", "asyncio_default_fixture_loop_scope")


def _has_pytest_asyncio(pluginmanager: pytest.PytestPluginManager) -> bool:
    return pluginmanager.has_plugin("asyncio")


def pytest_addoption(parser: pytest.Parser, pluginmanager: pytest.PytestPluginManager) -> None:
    if not _has_pytest_asyncio(pluginmanager):
        for name in ASYNCIO_INI:
            parser.addini(name, help="pytest-asyncio's option; pytest-asyncio is not installed")


def pytest_configure(config: pytest.Config) -> None:
    if not _has_pytest_asyncio(config.pluginmanager):
        config.addinivalue_line(
            "markers", "asyncio: a pytest-asyncio test (skipped: pytest-asyncio is not installed)"
        )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if _has_pytest_asyncio(config.pluginmanager):
        return
    skip = pytest.mark.skip(reason="needs pytest-asyncio, which is not installed")
    for item in items:
        if item.get_closest_marker("asyncio") is not None:
            item.add_marker(skip)


def _encodable(host: str) -> bool:
    """Whether a lookup of ``host`` could leave the machine: a name Python's IDNA codec
    refuses fails before any resolver is asked."""
    try:
        host.encode("idna")
    except UnicodeError:
        return False
    return True


def _is_local(host: str) -> bool:
    name = host.partition("%")[0].rstrip(".").lower()
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback or address.is_unspecified


@pytest.fixture(autouse=True)
def never_leave_the_machine(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Belt and braces for the hermetic rule: every proxy in these tests may dial, look up
    and send datagrams to loopback only. A way out to anywhere else fails the test (tests
    that let such a destination through replace the dialler's methods with spies first)."""
    from pytest_socks5._dialler import Dialler

    escapes: list[str] = []
    dial, resolve, send = Dialler.dial, Dialler.resolve, Dialler.send_datagram

    async def guarded_dial(self: Dialler, host: str, port: int, record: Any) -> Any:
        if not _is_local(host) and _encodable(host):
            escapes.append(f"dial {host}:{port}")
            raise PermissionError(errno.EPERM, "this test may not leave loopback")
        return await dial(self, host, port, record)

    async def guarded_resolve(self: Dialler, host: str, port: int, kind: int) -> Any:
        if not _is_local(host) and _encodable(host):
            escapes.append(f"resolve {host}")
            raise socket.gaierror(socket.EAI_NONAME, "this test may not look up names")
        return await resolve(self, host, port, kind)

    def guarded_send(self: Dialler, sock: socket.socket, data: bytes, address: Any) -> None:
        if not _is_local(address[0]):
            escapes.append(f"send to {address[0]}:{address[1]}")
            raise PermissionError(errno.EPERM, "this test may not leave loopback")
        send(self, sock, data, address)

    monkeypatch.setattr(Dialler, "dial", guarded_dial)
    monkeypatch.setattr(Dialler, "resolve", guarded_resolve)
    monkeypatch.setattr(Dialler, "send_datagram", guarded_send)
    yield
    assert escapes == [], "a proxy tried to leave the machine"
