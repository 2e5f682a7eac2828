"""An exception raised by the test's own code that the proxy calls — a hook, a data hook,
a custom fault's ``rewrite``, a ``when=`` predicate (of a fault or a gate), a
``validator``, ``on_connection_end`` — is the user's, not pytest-socks5's: the connection
ends as ``USER_CODE_ERROR``, and ``raise_errors()`` raises that exception itself (its own
type, never ``ServerError``) with a note naming the code and the connection. So is a
:exc:`BaseException` that is no :exc:`Exception` (``pytest.fail()``, ``pytest.skip()``,
``sys.exit()``): the connection ends rather than hanging open. The plugin's report (the
test fails at its call) is checked in test_plugin.py."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from pytest_socks5 import ConnectionRecord, Outcome, SOCKS5Server, testing
from pytest_socks5.faults import Close, CustomFault, FunctionFault

from .helpers import (
    TIMEOUT,
    VERSIONS,
    closed_port,
    connect,
    connect_request,
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


def assert_users(server: SOCKS5Server, exc_type: type[BaseException], source: str) -> None:
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


# -- a BaseException: pytest.fail(), pytest.skip(), sys.exit() ---------------------------

Raiser = tuple[type[BaseException], Callable[..., Any]]


def _fail(*args: Any) -> Any:
    pytest.fail("failed by the user's code")


def _skip(*args: Any) -> Any:
    pytest.skip("skipped by the user's code")


def _exit(*args: Any) -> Any:
    raise SystemExit(3)


def _interrupt(*args: Any) -> Any:
    raise KeyboardInterrupt


def _cancelled(*args: Any) -> Any:
    raise asyncio.CancelledError  # the user's own: nothing cancelled the connection


RAISERS: dict[str, Raiser] = {
    "pytest.fail": (pytest.fail.Exception, _fail),
    "pytest.skip": (pytest.skip.Exception, _skip),
    "SystemExit": (SystemExit, _exit),
    "KeyboardInterrupt": (KeyboardInterrupt, _interrupt),
    "CancelledError": (asyncio.CancelledError, _cancelled),
}


@pytest.fixture(params=list(RAISERS))
def raiser(request: pytest.FixtureRequest) -> Raiser:
    return RAISERS[request.param]


def _name(fn: Callable[..., Any]) -> str:
    return fn.__name__


@pytest.mark.parametrize("version", VERSIONS)
def test_pytest_fail_in_a_hook_ends_the_connection_on_every_path(
    make_server: Callable[..., SOCKS5Server], echo_server: tuple[str, int], version: int | str
) -> None:
    """The audit's case: ``pytest.fail()`` in a hook (pytest's ``Failed`` is no
    ``Exception``) left the connection open, its record OPEN, and the test passing."""
    server = make_server(socks4=True)
    server.on("request", _fail)
    with socket.create_connection(server.address, TIMEOUT) as sock:
        sock.sendall(connect_request(echo_server, version))
        read_until_closed(sock)  # closed: a hang is a timeout here
    assert_users(server, pytest.fail.Exception, "on('request') hook _fail")


def test_pytest_fail_in_a_data_hook_ends_the_tunnel_on_every_variant(
    make_server: Callable[..., SOCKS5Server], echo_server: tuple[str, int]
) -> None:
    server = make_server()
    server.on("data", _fail)
    with socks5_tunnel(server.address, *echo_server) as (sock, _):
        sock.sendall(b"ping")
        read_until_closed(sock)
    assert_users(server, pytest.fail.Exception, "on('data') hook _fail (from_client)")


@pytest.mark.parametrize("phase", ["greeting", "request", "reply"])
def test_a_hook_raising_a_base_exception(
    server: SOCKS5Server, echo_server: tuple[str, int], raiser: Raiser, phase: str
) -> None:
    exc_type, raise_it = raiser
    server.on(phase, raise_it)
    handshake(server, echo_server)
    assert_users(server, exc_type, f"on({phase!r}) hook {_name(raise_it)}")


def test_an_async_hook_raising_a_base_exception(
    server: SOCKS5Server, echo_server: tuple[str, int], raiser: Raiser
) -> None:
    exc_type, raise_it = raiser

    @server.on("request")
    async def hook(record: ConnectionRecord) -> None:
        await asyncio.sleep(0)
        raise_it()

    handshake(server, echo_server)
    assert_users(server, exc_type, "on('request') hook " + hook.__qualname__)


def test_a_data_hook_raising_a_base_exception(
    server: SOCKS5Server, echo_server: tuple[str, int], raiser: Raiser
) -> None:
    exc_type, raise_it = raiser
    server.on("data", raise_it)
    with socks5_tunnel(server.address, *echo_server) as (sock, _):
        sock.sendall(b"ping")
        read_until_closed(sock)
    assert_users(server, exc_type, f"on('data') hook {_name(raise_it)} (from_client)")


@dataclass(frozen=True, kw_only=True, repr=False, eq=False)
class Raising(CustomFault):
    raise_it: Callable[..., Any] = _fail

    def rewrite(self, answer: bytes) -> bytes:
        self.raise_it()
        return answer


@pytest.mark.parametrize("code", ["rewrite", "when", "gate-when"])
def test_a_fault_raising_a_base_exception(
    server: SOCKS5Server, echo_server: tuple[str, int], raiser: Raiser, code: str
) -> None:
    exc_type, raise_it = raiser
    if code == "rewrite":
        server.add_fault(Raising(at="reply", raise_it=raise_it))
        source = "custom fault Raising.rewrite()"
    elif code == "when":
        server.add_fault(Close(at="request", when=raise_it))
        source = "when= predicate of Close(reset=False, when="
    else:
        server.hold("request", when=raise_it)
        source = "when= predicate of hold('request', when="
    handshake(server, echo_server)
    assert_users(server, exc_type, source)


def test_a_validator_raising_a_base_exception(raiser: Raiser) -> None:
    exc_type, raise_it = raiser
    with SOCKS5Server(validator=raise_it) as server:
        with connect(server.address) as sock:
            sock.sendall(b"\x05\x01\x02")
            assert sock.recv(2) == b"\x05\x02"
            sock.sendall(b"\x01\x01u\x01p")
            read_until_closed(sock)
        assert_users(server, exc_type, f"validator {_name(raise_it)}")


def test_on_connection_end_raising_a_base_exception(raiser: Raiser) -> None:
    exc_type, raise_it = raiser
    with SOCKS5Server(on_connection_end=raise_it) as server, closed_port() as port:
        handshake(server, ("127.0.0.1", port))
    assert_users(server, exc_type, f"on_connection_end {_name(raise_it)}")


def test_the_proxys_cancellation_of_an_async_hook_is_no_users_error(
    echo_server: tuple[str, int],
) -> None:
    """An async hook awaiting when the client closes is cancelled by the proxy: that
    ``CancelledError`` ends the connection as the client's close, not as the hook's."""
    awaiting = threading.Event()

    async def wait_forever(record: ConnectionRecord) -> None:
        awaiting.set()
        await asyncio.get_running_loop().create_future()

    with SOCKS5Server() as server:
        server.on("request", wait_forever)
        with connect(server.address) as sock:
            sock.sendall(b"\x05\x01\x00" + socks5_request(*echo_server))
            assert awaiting.wait(TIMEOUT)
        record = only_record(server)
    # The stop joined the server's thread: the cancelled hook has been handled.
    assert record.outcome is Outcome.CLIENT_CLOSED
    assert server.errors == []


def test_the_handshake_deadline_cancelling_an_async_hook_is_no_users_error() -> None:
    """A greeting hook runs under ``handshake_timeout``: the deadline's cancellation ends
    the connection as a timeout, not as the hook's error."""

    async def wait_forever(record: ConnectionRecord) -> None:
        await asyncio.get_running_loop().create_future()

    with SOCKS5Server(handshake_timeout=0.05) as server:
        server.on("greeting", wait_forever)
        with connect(server.address) as sock:
            sock.sendall(b"\x05\x01\x00")
            assert read_until_closed(sock) == b""
        record = only_record(server)
        assert record.outcome is Outcome.TIMEOUT
        assert server.errors == []


def test_a_stop_cancelling_an_async_hook_is_no_users_error(
    echo_server: tuple[str, int],
) -> None:
    awaiting = threading.Event()

    async def wait_forever(record: ConnectionRecord) -> None:
        awaiting.set()
        await asyncio.get_running_loop().create_future()

    with SOCKS5Server() as server, connect(server.address) as sock:
        server.on("request", wait_forever)
        sock.sendall(b"\x05\x01\x00" + socks5_request(*echo_server))
        assert awaiting.wait(TIMEOUT)
        server.stop()
        record = only_record(server)
        assert record.outcome is Outcome.SERVER_STOPPED
        assert server.errors == []
