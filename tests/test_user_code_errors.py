"""An exception raised by the test's own code that the proxy calls — a hook, a data hook,
a custom fault's ``rewrite``, a ``when=`` predicate (of a fault or a gate), a
``validator``, ``on_connection_end`` — is the user's, not pytest-socks5's: the connection
ends as ``USER_CODE_ERROR``, and ``raise_errors()`` raises that exception itself (its own
type, never ``ServerError``) with a note naming the code and the connection. The
plugin's report (the test fails at its call) is checked in test_plugin.py."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from pytest_socks5 import ConnectionRecord, Outcome, SOCKS5Server, testing
from pytest_socks5.faults import Close, CustomFault, FunctionFault

from .helpers import (
    closed_port,
    connect,
    only_record,
    read_until_closed,
    socks5_request,
    socks5_tunnel,
)


class HookFailed(Exception):
    """What the user's code raises here: a type pytest-socks5 never raises."""


def fail(*args: Any) -> Any:
    raise HookFailed("the user's code failed")


@pytest.fixture
def server() -> Iterator[SOCKS5Server]:
    with SOCKS5Server() as server:
        yield server


def assert_users(server: SOCKS5Server, exc_type: type[Exception], source: str) -> None:
    """The one connection ended as the user's error, which raise_errors() raises as it
    is, noted with ``source`` and the connection."""
    record = only_record(server)
    assert record.outcome is Outcome.USER_CODE_ERROR
    assert record.error is not None
    assert f"raised by your {source}" in record.error
    assert "internal error" not in record.error
    (error,) = server.errors
    assert error == record.error
    with pytest.raises(exc_type) as raised:
        server.raise_errors()
    (note,) = raised.value.__notes__
    assert note.startswith(f"pytest-socks5: raised by your {source}")
    assert "for connection #1 from 127.0.0.1:" in note
    assert note.endswith("(an error in your code, not in pytest-socks5)")
    server.reset()


def handshake(server: SOCKS5Server, target: tuple[str, int]) -> None:
    """A SOCKS5 CONNECT to ``target``, read until the proxy closes."""
    with connect(server.address) as sock:
        sock.sendall(b"\x05\x01\x00" + socks5_request(*target))
        read_until_closed(sock)


@pytest.mark.parametrize("phase", ["greeting", "request", "reply"])
def test_a_hook(server: SOCKS5Server, echo_server: tuple[str, int], phase: str) -> None:
    server.on(phase, fail)
    handshake(server, echo_server)
    assert_users(server, HookFailed, f"on({phase!r}) hook fail")


def test_an_async_hook(server: SOCKS5Server, echo_server: tuple[str, int]) -> None:
    @server.on("request")
    async def refuse(record: ConnectionRecord) -> None:
        raise HookFailed("async")

    handshake(server, echo_server)
    assert_users(server, HookFailed, "on('request') hook test_an_async_hook.<locals>.refuse")


@pytest.mark.parametrize("error", [ConnectionResetError, TimeoutError])
def test_a_hooks_network_error_is_not_the_clients(
    server: SOCKS5Server, echo_server: tuple[str, int], error: type[Exception]
) -> None:
    """A ``ConnectionError`` or ``TimeoutError`` from a hook is neither a client's close nor
    the handshake's timeout: it is not swallowed."""

    def hook(record: ConnectionRecord) -> None:
        raise error("from the hook")

    server.on("request", hook)
    handshake(server, echo_server)
    source = "on('request') hook test_a_hooks_network_error_is_not_the_clients.<locals>.hook"
    assert_users(server, error, source)


def test_a_hook_returning_junk(server: SOCKS5Server, echo_server: tuple[str, int]) -> None:
    server.on("reply", lambda record: "refuse")
    handshake(server, echo_server)
    assert "returned 'refuse'" in server.errors[0]
    assert_users(
        server, TypeError, "on('reply') hook test_a_hook_returning_junk.<locals>.<lambda>"
    )


def test_a_data_hook(server: SOCKS5Server, echo_server: tuple[str, int]) -> None:
    server.on("data", fail)
    with socks5_tunnel(server.address, *echo_server) as (sock, _):
        sock.sendall(b"ping")
        read_until_closed(sock)
    assert_users(server, HookFailed, "on('data') hook fail (from_client)")


@dataclass(frozen=True, kw_only=True, repr=False, eq=False)
class Exploding(CustomFault):
    def rewrite(self, answer: bytes) -> bytes:
        raise HookFailed("rewrite")


@pytest.mark.parametrize(
    ("fault", "exc_type", "source"),
    [
        (Exploding(at="reply"), HookFailed, "custom fault Exploding.rewrite()"),
        (
            FunctionFault(function=str, at="reply"),
            TypeError,
            "custom fault FunctionFault.rewrite()",
        ),
        (
            Close(at="request", when=fail),
            HookFailed,
            "when= predicate of Close(reset=False, when=fail)",
        ),
    ],
    ids=["rewrite", "rewrite-returns-str", "when"],
)
def test_a_fault(
    server: SOCKS5Server,
    echo_server: tuple[str, int],
    fault: Any,
    exc_type: type[Exception],
    source: str,
) -> None:
    server.add_fault(fault)
    handshake(server, echo_server)
    assert_users(server, exc_type, source)


def test_a_gates_when(server: SOCKS5Server, echo_server: tuple[str, int]) -> None:
    server.hold("request", when=fail)
    handshake(server, echo_server)
    assert_users(server, HookFailed, "when= predicate of hold('request', when=")


def test_a_validator(echo_server: tuple[str, int]) -> None:
    with SOCKS5Server(validator=fail) as server:
        with connect(server.address) as sock:
            sock.sendall(b"\x05\x01\x02")
            assert sock.recv(2) == b"\x05\x02"
            sock.sendall(b"\x01\x01u\x01p")
            read_until_closed(sock)
        assert_users(server, HookFailed, "validator fail")


def test_on_connection_end() -> None:
    """Called after the record ended: the stop (which joins the server's thread) is what
    makes sure the call has been made."""
    with SOCKS5Server(on_connection_end=fail) as server, closed_port() as port:
        handshake(server, ("127.0.0.1", port))  # refused: the connection ends
    assert_users(server, HookFailed, "on_connection_end fail")


def test_offline_the_users_exception_is_raised_as_it_is() -> None:
    """``pytest_socks5.testing`` calls the user's code directly: no wrapper, no note."""
    with pytest.raises(HookFailed) as raised:
        testing.answer(Exploding(at="reply"))
    assert not hasattr(raised.value, "__notes__")
    with pytest.raises(HookFailed):
        testing.run_data_hook(fail, "to_client", b"x")
    with pytest.raises(HookFailed):
        testing.run_hook(fail)
