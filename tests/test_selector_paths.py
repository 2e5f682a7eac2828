"""On asyncio's own loop the server accepts and connects without asyncio's task and
futures (``_selector_paths``). These tests hold those paths to what asyncio's own
``create_server`` and ``create_connection`` give: the same socket options, the same
errors with the same words, no socket left open whatever is cancelled when, and every
failure reported rather than lost."""

from __future__ import annotations

import asyncio
import errno
import selectors
import socket
from collections.abc import Callable, Coroutine, Iterator
from typing import Any, ClassVar

import pytest

from pytest_socks5 import SOCKS5Server
from pytest_socks5 import _selector_paths as paths
from pytest_socks5._selector_paths import Listener, connect, listen
from pytest_socks5._splice import SpliceTunnel
from pytest_socks5.rawclient import open_tunnel

from .helpers import TIMEOUT
from .reliability import on_loop

MakeServer = Callable[..., SOCKS5Server]


def test_both_sockets_of_a_tunnel_are_as_asyncio_makes_them(
    make_server: MakeServer, echo_server: tuple[str, int]
) -> None:
    """On every variant: Nagle is off on the client's and the destination's socket,
    and each is connected where the client and the destination see it."""
    server = make_server()
    with open_tunnel(server.address, *echo_server) as client:
        client.sendall(b"x")
        assert client.recv(1) == b"x"

        def sockets() -> list[dict[str, Any]]:
            (connection,) = server._engine.registry
            relay = connection.relay
            if isinstance(relay, SpliceTunnel):  # the relay holds the sockets themselves
                return [_socket_facts(relay.client), _socket_facts(relay.upstream)]
            assert relay is not None
            return [
                _socket_facts(transport.get_extra_info("socket"))
                for transport in (connection.transport, relay.peer.transport)
            ]

        client_side, upstream_side = on_loop(server, sockets)
        assert client_side["nodelay"]
        assert upstream_side["nodelay"]
        assert client_side["peername"] == client.getsockname()
        assert client_side["sockname"] == client.getpeername()
        assert upstream_side["peername"] == echo_server


def _socket_facts(sock: Any) -> dict[str, Any]:
    return {
        "nodelay": sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY),
        "peername": sock.getpeername(),
        "sockname": sock.getsockname(),
    }


# -- the paths themselves, on a loop of asyncio's own ------------------------------------


@pytest.fixture
def run() -> Iterator[Callable[[Coroutine[Any, Any, Any]], Any]]:
    """Run a coroutine on a fresh loop of asyncio's own (whatever the policy) whose
    exception handler keeps what it is given (as the server's does, to fail the test
    with)."""
    loop = asyncio.SelectorEventLoop()
    handled: list[dict[str, Any]] = []
    loop.set_exception_handler(lambda _, context: handled.append(context))

    def run(coro: Coroutine[Any, Any, Any]) -> Any:
        return loop.run_until_complete(asyncio.wait_for(coro, TIMEOUT))

    run.handled = handled  # type: ignore[attr-defined]
    yield run

    async def close_what_the_test_left() -> None:
        for made in list(Made.connected):
            assert made.transport is not None
            made.transport.close()
            await made.lost

    run(close_what_the_test_left())
    loop.close()


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    with socket.create_server(("127.0.0.1", 0)) as sock:
        sock.settimeout(TIMEOUT)
        yield sock


async def _closed_by_the_other_end(listener: socket.socket) -> None:
    """Accept the connection waiting at ``listener``; its other end closes it."""
    loop = asyncio.get_running_loop()
    peer, _ = await loop.run_in_executor(None, listener.accept)
    with peer:
        peer.settimeout(TIMEOUT)
        assert await loop.run_in_executor(None, peer.recv, 1) == b""


class Made(asyncio.Protocol):
    """A protocol that notes its transport and when it is lost."""

    #: Every one connected and not lost yet (the ``run`` fixture closes them).
    connected: ClassVar[list[Made]] = []

    def __init__(self) -> None:
        self.transport: asyncio.BaseTransport | None = None
        self.lost = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        Made.connected.append(self)

    def connection_lost(self, exc: Exception | None) -> None:
        Made.connected.remove(self)
        self.lost.set_result(exc)


def test_a_connect_gives_the_protocol_after_its_connection_made(
    run: Any, listener: socket.socket
) -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        made = await connect(loop, socket.AF_INET, *listener.getsockname(), Made)
        assert isinstance(made, Made)
        assert made.transport is not None
        peer, _ = await loop.run_in_executor(None, listener.accept)
        with peer:
            peer.settimeout(TIMEOUT)
            made.transport.write(b"ping")  # type: ignore[attr-defined]
            assert await loop.run_in_executor(None, peer.recv, 4) == b"ping"
        made.transport.close()
        await made.lost

    run(main())
    assert run.handled == []


@pytest.mark.parametrize("host", ["127.0.0.1", "::1"])
def test_a_refused_connect_says_what_create_connection_says(run: Any, host: str) -> None:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        probe = socket.socket(family)
        probe.bind((host, 0))
    except OSError:
        pytest.skip(f"no {host} here")
    with probe:  # bound, not listening: a closed port that stays closed
        port = probe.getsockname()[1]

        async def both() -> tuple[BaseException, BaseException]:
            loop = asyncio.get_running_loop()
            with pytest.raises(ConnectionRefusedError) as ours:
                await connect(loop, family, host, port, Made)
            with pytest.raises(ConnectionRefusedError) as theirs:
                await loop.create_connection(Made, host, port, family=family)
            return ours.value, theirs.value

        ours, theirs = run(both())
    assert (ours.errno, str(ours)) == (theirs.errno, str(theirs))


@pytest.mark.parametrize("when", ["at-once", "in-the-turn-it-connects"])
def test_a_connect_cancelled_before_it_made_a_transport_closes_its_socket(
    run: Any, listener: socket.socket, when: str
) -> None:
    """Cancelled while it waits for the socket (its coroutine cleans up), or in the loop
    turn that finds the socket connected, just before the socket's writer callback
    (which then finds the connect cancelled): nothing is made, nothing fails, the socket
    is closed."""

    async def main() -> None:
        loop = asyncio.get_running_loop()
        made: list[Made] = []
        address = listener.getsockname()
        task = loop.create_task(
            connect(loop, socket.AF_INET, *address, lambda: made.append(Made()) or made[-1])
        )
        await asyncio.sleep(0)  # the task has connected (on loopback, at once) and waits
        if when == "at-once":
            task.cancel()
        else:  # the next turn runs this first, then polls the socket writable
            loop.call_soon(task.cancel)
        with pytest.raises(asyncio.CancelledError):
            await task
        await _closed_by_the_other_end(listener)  # never used
        assert made == []

    run(main())
    assert run.handled == []


@pytest.mark.parametrize("outcome", ["connected", "failed"])
def test_a_connect_cancelled_after_it_settled_leaves_nothing_open(
    run: Any, listener: socket.socket, outcome: str
) -> None:
    """The connect settles (connected, or failed: here its protocol), then the task is
    cancelled before it resumes: the cancellation wins, as in a task; the transport
    made is closed, and the socket with it."""

    async def main() -> None:
        loop = asyncio.get_running_loop()
        made: list[Made] = []

        def factory() -> Made:
            loop.call_soon(task.cancel)  # after the result, before the task resumes
            if outcome == "failed":
                raise LookupError("a bug in the protocol")
            made.append(Made())
            return made[-1]

        task = loop.create_task(connect(loop, socket.AF_INET, *listener.getsockname(), factory))
        with pytest.raises(asyncio.CancelledError):
            await task
        if outcome == "connected":
            assert await made[0].lost is None  # closed by the cancelled connect
        await _closed_by_the_other_end(listener)

    run(main())
    assert run.handled == []


def test_a_protocol_that_fails_to_be_made_fails_the_connect(
    run: Any, listener: socket.socket
) -> None:
    def broken() -> Made:
        raise LookupError("a bug in the protocol")

    async def main() -> None:
        loop = asyncio.get_running_loop()
        with pytest.raises(LookupError, match="a bug in the protocol"):
            await connect(loop, socket.AF_INET, *listener.getsockname(), broken)
        await _closed_by_the_other_end(listener)

    run(main())


# -- listening ------------------------------------------------------------------------


def _accepting(run: Any, host: str = "127.0.0.1") -> None:
    """Listen on ``host``, have one client connect and be given its transport."""

    async def main() -> None:
        loop = asyncio.get_running_loop()
        made: list[Made] = []
        listeners = await listen(
            loop, host, 0, socket.AF_INET, lambda: made.append(Made()) or made[-1], 8
        )
        (only,) = listeners
        address = only.sockets[0].getsockname()
        client = await loop.run_in_executor(None, socket.create_connection, address, TIMEOUT)
        with client:
            while not made or made[0].transport is None:
                await asyncio.sleep(0.01)
            assert made[0].transport.get_extra_info("peername") == client.getsockname()
        only.close()
        only.close()  # again: nothing more
        await only.wait_closed()
        assert only.sockets[0].fileno() == -1

    run(main())


def test_a_listener_gives_each_connection_its_transport(run: Any) -> None:
    _accepting(run)
    assert run.handled == []


def test_a_listener_on_a_name_binds_what_the_name_resolves_to(
    run: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    asked: list[tuple[Any, ...]] = []

    async def getaddrinfo(self: Any, host: str, port: int, **kwargs: Any) -> list[Any]:
        asked.append((host, port, kwargs["family"], kwargs["flags"]))
        info = (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port))
        return [info, info]  # one address, given twice: bound once

    monkeypatch.setattr(asyncio.BaseEventLoop, "getaddrinfo", getaddrinfo)
    _accepting(run, host="proxy.invalid")
    assert asked == [("proxy.invalid", 0, socket.AF_INET, socket.AI_PASSIVE)]


def test_a_port_in_use_is_named_as_create_server_names_it(
    run: Any, listener: socket.socket
) -> None:
    """The error says which address and why, as asyncio's own does (whose wording of
    the reason differs between Python versions)."""
    host, port = listener.getsockname()

    async def both() -> tuple[OSError, OSError]:
        loop = asyncio.get_running_loop()
        with pytest.raises(OSError, match="address already in use") as ours:
            await listen(loop, host, port, socket.AF_INET, Made, 8)
        with pytest.raises(OSError, match="address already in use") as theirs:
            await loop.create_server(Made, host, port, family=socket.AF_INET)
        return ours.value, theirs.value

    ours, theirs = run(both())
    assert ours.errno == theirs.errno == errno.EADDRINUSE
    where = (
        f"[Errno {errno.EADDRINUSE}] error while attempting to bind on address {(host, port)!r}: "
    )
    assert str(theirs).startswith(where)
    assert str(ours) == where + "address already in use"


class _Refusing(socket.socket):
    """A listening socket whose ``accept`` raises ``errors`` first, one per call."""

    errors: list[OSError]

    def accept(self) -> tuple[socket.socket, Any]:
        if self.errors:
            raise self.errors.pop(0)
        return super().accept()


def _listener_failing(errors: list[OSError]) -> _Refusing:
    sock = _Refusing(socket.AF_INET, socket.SOCK_STREAM)
    sock.errors = errors
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    return sock


def test_out_of_descriptors_pauses_accepting_reports_and_resumes(
    run: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As asyncio does: the error goes to the loop's exception handler (the server's
    fails the test with it), accepting pauses, then the waiting client is accepted."""
    monkeypatch.setattr(paths, "ACCEPT_RETRY_DELAY", 0.01)
    emfile = OSError(errno.EMFILE, "Too many open files")
    sock = _listener_failing([emfile])

    async def main() -> None:
        loop = asyncio.get_running_loop()
        made: list[Made] = []
        listener = Listener(loop, sock, lambda: made.append(Made()) or made[-1], 8)
        address = sock.getsockname()
        with socket.create_connection(address, TIMEOUT):
            while not made:
                await asyncio.sleep(0.01)
        listener.close()

    run(main())
    assert [context["exception"] for context in run.handled] == [emfile]


def test_closing_a_paused_listener_cancels_its_retry(
    run: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    sock = _listener_failing([OSError(errno.ENFILE, "Too many open files in system")])

    async def main() -> None:
        loop = asyncio.get_running_loop()
        listener = Listener(loop, sock, Made, 8)
        with socket.create_connection(sock.getsockname(), TIMEOUT):
            while not run.handled:
                await asyncio.sleep(0.01)
        assert listener._retry is not None
        listener.close()
        assert listener._retry.cancelled()

    run(main())
    assert sock.fileno() == -1


@pytest.mark.parametrize("failure", ["accept", "protocol"], ids=["accept-fails", "protocol-fails"])
def test_any_other_failure_at_accept_reaches_the_exception_handler(run: Any, failure: str) -> None:
    """Never lost: an unexpected ``accept`` error or a protocol that cannot be made goes
    to the loop's exception handler (the server's fails the test with it); the client's
    socket is closed."""
    broken = OSError(errno.EPERM, "not permitted")
    bug = LookupError("a bug in the protocol")
    sock = _listener_failing([broken] if failure == "accept" else [])

    def factory() -> Made:
        raise bug

    async def main() -> None:
        loop = asyncio.get_running_loop()
        listener = Listener(loop, sock, Made if failure == "accept" else factory, 8)
        with socket.create_connection(sock.getsockname(), TIMEOUT) as client:
            while not run.handled:
                await asyncio.sleep(0.01)
            if failure == "protocol":  # the accepted socket was closed
                client.settimeout(TIMEOUT)
                assert await loop.run_in_executor(None, client.recv, 1) == b""
        listener.close()

    run(main())
    assert run.handled[0]["exception"] is (broken if failure == "accept" else bug)


def test_an_immediate_connect_error_is_raised_as_it_came(
    run: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As ``create_connection``: an error of ``connect`` itself (not one found later on
    the socket) is raised unchanged, and the socket is closed."""
    made: list[socket.socket] = []
    unavailable = OSError(errno.EADDRNOTAVAIL, "Cannot assign requested address")

    def refuse(self: socket.socket, address: Any) -> None:
        made.append(self)
        raise unavailable

    monkeypatch.setattr(socket.socket, "connect", refuse)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        with pytest.raises(OSError, match="Cannot assign") as raised:
            await connect(loop, socket.AF_INET, "127.0.0.1", 9, Made)
        assert raised.value is unavailable

    run(main())
    assert [sock.fileno() for sock in made] == [-1]


def test_a_burst_larger_than_the_backlog_is_accepted_over_several_turns(run: Any) -> None:
    """Each turn accepts at most ``backlog`` connections (as asyncio's own loop does);
    the rest are accepted in the turns after."""
    sock = _listener_failing([])

    async def main() -> None:
        loop = asyncio.get_running_loop()
        made: list[Made] = []
        listener = Listener(loop, sock, lambda: made.append(Made()) or made[-1], 1)
        clients = [socket.create_connection(sock.getsockname(), TIMEOUT) for _ in range(3)]
        try:
            while len(made) < 3:
                await asyncio.sleep(0.01)
        finally:
            for client in clients:
                client.close()
        listener.close()

    run(main())
    assert run.handled == []


def test_an_ipv6_listener_is_ipv6_only(run: Any) -> None:
    if not socket.has_ipv6:
        pytest.skip("no IPv6 here")

    async def main() -> bool:
        loop = asyncio.get_running_loop()
        try:
            (listener,) = await listen(loop, "::1", 0, socket.AF_INET6, Made, 8)
        except OSError:
            pytest.skip("no ::1 here")
        v6only = listener.sockets[0].getsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY)
        listener.close()
        return bool(v6only)

    assert run(main())


def test_a_name_whose_second_address_is_in_use_leaves_nothing_bound(
    run: Any, listener: socket.socket, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = listener.getsockname()[1]

    async def getaddrinfo(self: Any, host: str, port: int, **kwargs: Any) -> list[Any]:
        return [
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))
            for address in ("127.0.0.2", "127.0.0.1")  # the second one is in use
        ]

    monkeypatch.setattr(asyncio.BaseEventLoop, "getaddrinfo", getaddrinfo)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        with pytest.raises(OSError, match="address already in use"):
            await listen(loop, "proxy.invalid", port, socket.AF_INET, Made, 8)

    run(main())
    with socket.socket() as again:  # no SO_REUSEADDR: binds only if the first was closed
        again.bind(("127.0.0.2", port))


# -- the selector -----------------------------------------------------------------------


def test_the_descriptor_selector_answers_as_the_default_selector() -> None:
    """Same keys, same errors, by descriptor and by file object; and the server's
    ``loop="asyncio"`` runs on it."""
    a, b = socket.socketpair()
    with a, b:
        answers: list[list[Any]] = []
        for selector in (selectors.DefaultSelector(), paths.DescriptorSelector()):
            with selector:
                selector.register(a.fileno(), selectors.EVENT_READ, "data")
                got: list[Any] = [selector.get_key(a.fileno()), selector.get_key(a)]
                for unknown in (b.fileno(), b):
                    with pytest.raises(KeyError) as missing:
                        selector.get_key(unknown)
                    got.append(str(missing.value).replace(repr(b), "b"))
                selector.unregister(a)
                with pytest.raises(KeyError):
                    selector.get_key(a.fileno())
            with pytest.raises(RuntimeError, match="Selector is closed"):
                selector.get_key(a.fileno())
            answers.append(got)
        assert answers[0] == answers[1]
        assert answers[1][0].data == "data"
    loop = paths.new_selector_loop()
    try:
        assert type(loop) is asyncio.SelectorEventLoop
        assert isinstance(loop._selector, paths.DescriptorSelector)  # type: ignore[attr-defined]
    finally:
        loop.close()
