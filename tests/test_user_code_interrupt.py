"""What leaves the user's code the proxy calls and is not the user's error (one rule,
``_user_code.users_error``, at every place it calls the user's code):

* :exc:`KeyboardInterrupt` in a loop the user runs (``async with SOCKS5Server()`` under
  ``loop.run_until_complete``, which installs no SIGINT handler) comes out of that loop,
  on asyncio and uvloop, as Ctrl-C does everywhere else in it; it was taken for the
  user's error and the program ran on. Each test raises it from the user's code rather
  than signalling this process; ``test_ctrl_c_in_a_hook_stops_the_users_loop`` sends a
  real SIGINT to a program of its own.
* On the server's own thread (``with SOCKS5Server()``, the fixtures) it cannot leave the
  loop: it is the user's error there (test_user_code_errors.py), which ends the
  connection and is raised in the test's thread, where it stops the pytest run.
* The proxy's closing of an awaited hook's coroutine (:exc:`GeneratorExit`) passes, and
  a plain hook's own ``GeneratorExit`` is the user's error.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from pytest_socks5 import ConnectionRecord, Outcome, SOCKS5Server
from pytest_socks5._checkpoints import Checkpoints
from pytest_socks5._fault_types import Phase
from pytest_socks5._live_record import LiveRecord
from pytest_socks5.faults import Close, CustomFault

from .helpers import (
    NO_HYPOTHESIS,
    TIMEOUT,
    closed_port,
    connect,
    only_record,
    read_until_closed,
    socks5_request,
)


def _interrupt(*args: Any) -> Any:
    raise KeyboardInterrupt


async def _interrupt_async(record: ConnectionRecord) -> None:
    await asyncio.sleep(0)
    raise KeyboardInterrupt


@dataclass(frozen=True, kw_only=True, repr=False, eq=False)
class Interrupting(CustomFault):
    def rewrite(self, answer: bytes) -> bytes:
        raise KeyboardInterrupt


def _set_up(server: SOCKS5Server, code: str) -> None:
    """Make ``code``, the user's code of that kind, raise KeyboardInterrupt."""
    if code in ("greeting", "request", "reply"):
        server.on(code, _interrupt)
    elif code == "async-hook":
        server.on("request", _interrupt_async)
    elif code == "data":
        server.on("data", _interrupt)
    elif code == "rewrite":
        server.add_fault(Interrupting(at="reply"))
    elif code == "when":
        server.add_fault(Close(at="request", when=_interrupt))
    elif code == "gate-when":
        server.hold("request", when=_interrupt)


#: Every kind of the user's code the proxy calls.
CODES = [
    "greeting",
    "request",
    "reply",
    "async-hook",
    "data",
    "rewrite",
    "when",
    "gate-when",
    "validator",
    "on_connection_end",
]

LOOPS = ["asyncio", "uvloop"]


@pytest.fixture(params=LOOPS)
def users_loop(request: pytest.FixtureRequest) -> Iterator[asyncio.AbstractEventLoop]:
    """A loop the test runs itself, as a program does (``run_until_complete``, no
    ``asyncio.Runner`` and its SIGINT handler)."""
    if request.param == "uvloop":
        uvloop = pytest.importorskip("uvloop")
        loop: asyncio.AbstractEventLoop = uvloop.new_event_loop()
    else:
        loop = asyncio.new_event_loop()
    try:
        yield loop
    finally:
        loop.close()


async def _client(server: SOCKS5Server, code: str, target: tuple[str, int]) -> None:
    """Reach the user's code ``code``, then wait: only the interrupt ends this (or the
    bound, which fails the test)."""
    reader, writer = await asyncio.open_connection(*server.address)
    try:
        if code == "validator":
            writer.write(b"\x05\x01\x02")
            assert await reader.readexactly(2) == b"\x05\x02"
            writer.write(b"\x01\x01u\x01p")
        else:
            writer.write(b"\x05\x01\x00" + socks5_request(*target))
        if code == "data":
            await reader.readexactly(2 + 10)  # the method, the reply (IPv4)
            writer.write(b"ping")
        async with asyncio.timeout(TIMEOUT):
            await asyncio.get_running_loop().create_future()
    finally:
        writer.close()


def _interrupted(
    loop: asyncio.AbstractEventLoop, main: Coroutine[Any, Any, None]
) -> asyncio.Task[None]:
    """Run ``main`` until KeyboardInterrupt comes out of the loop; the task, unfinished."""
    task = loop.create_task(main)
    with pytest.raises(KeyboardInterrupt):
        loop.run_until_complete(task)
    assert not task.done()
    return task


def _finish(loop: asyncio.AbstractEventLoop, task: asyncio.Task[None]) -> None:
    """After the interrupt, as a program that catches it: cancel, and let the ``async
    with`` stop the server."""
    task.cancel()
    loop.run_until_complete(asyncio.gather(task, return_exceptions=True))


@pytest.mark.parametrize("code", CODES)
def test_keyboard_interrupt_from_the_users_code_leaves_the_users_loop(
    users_loop: asyncio.AbstractEventLoop, echo_server: tuple[str, int], code: str
) -> None:
    """The regression: KeyboardInterrupt raised in a hook, data hook, ``rewrite``,
    ``when=`` predicate (of a fault or a gate), ``validator`` or ``on_connection_end``
    was the user's error (``USER_CODE_ERROR``), and the loop ran on. On uvloop it never
    left the loop where the server was reading the client's bytes (a greeting or request
    hook, a data hook, a ``when=``, the validator): uvloop took it for the transport's
    fatal error, logged it and ran on."""
    servers: list[SOCKS5Server] = []
    options: dict[str, Any] = {}
    if code == "validator":
        options["validator"] = _interrupt
    elif code == "on_connection_end":
        options["on_connection_end"] = _interrupt

    async def main() -> None:
        async with SOCKS5Server(**options) as server:
            servers.append(server)
            _set_up(server, code)
            with closed_port() as port:
                # The connection ends (the call of on_connection_end) when the dial fails.
                target = ("127.0.0.1", port) if code == "on_connection_end" else echo_server
                await _client(server, code, target)

    task = _interrupted(users_loop, main())
    (server,) = servers
    assert not any("KeyboardInterrupt" in error for error in server.errors)
    assert all(r.outcome is not Outcome.USER_CODE_ERROR for r in server.connections)
    _finish(users_loop, task)
    assert not server.is_running
    assert server.errors == []


def test_keyboard_interrupt_at_a_spliced_tunnels_end_leaves_the_users_loop(
    users_loop: asyncio.AbstractEventLoop, echo_server: tuple[str, int]
) -> None:
    """The splice relay ends a tunnel in its own callbacks: ``on_connection_end`` called
    from there lets a KeyboardInterrupt out of the loop as the plain relay's end does."""
    servers: list[SOCKS5Server] = []

    async def main() -> None:
        async with SOCKS5Server(splice=True, on_connection_end=_interrupt) as server:
            servers.append(server)
            reader, writer = await asyncio.open_connection(*server.address)
            writer.write(b"\x05\x01\x00" + socks5_request(*echo_server))
            await reader.readexactly(2 + 10)  # the method, the reply (IPv4)
            writer.write(b"ping")
            assert await reader.readexactly(4) == b"ping"
            writer.close()  # the tunnel ends, spliced: on_connection_end is called
            async with asyncio.timeout(TIMEOUT):
                await asyncio.get_running_loop().create_future()

    task = _interrupted(users_loop, main())
    (server,) = servers
    assert not any("KeyboardInterrupt" in error for error in server.errors)
    _finish(users_loop, task)
    assert not server.is_running


def test_the_users_loop_goes_on_after_the_interrupt(
    users_loop: asyncio.AbstractEventLoop, echo_server: tuple[str, int]
) -> None:
    """A program that catches the KeyboardInterrupt and runs its loop on finds the
    server working: the interrupted connection is closed at the stop, the next one is
    served."""
    servers: list[SOCKS5Server] = []

    def once(record: ConnectionRecord) -> None:
        if record.id == 1:
            raise KeyboardInterrupt

    async def main() -> None:
        async with SOCKS5Server() as server:
            servers.append(server)
            server.on("request", once)
            await _client(server, "request", echo_server)  # waits on after the interrupt

    task = _interrupted(users_loop, main())
    (server,) = servers

    async def next_connection() -> bytes:
        reader, writer = await asyncio.open_connection(*server.address)
        writer.write(b"\x05\x01\x00" + socks5_request(*echo_server))
        answer = await reader.readexactly(2 + 10)
        writer.close()
        return answer

    assert users_loop.run_until_complete(next_connection())[2:4] == b"\x05\x00"  # succeeded
    _finish(users_loop, task)
    first, second = server.connections
    assert first.outcome is Outcome.SERVER_STOPPED
    assert second.outcome is not Outcome.USER_CODE_ERROR
    assert server.errors == []


SIGINT_PROGRAM = """
import asyncio, os, signal, socket, sys, time
from pytest_socks5 import SOCKS5Server, rawclient

def hook(record):
    os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C while the hook runs
    time.sleep(30)  # interrupted at once

async def main():
    async with SOCKS5Server() as server:
        server.on("request", hook)
        reader, writer = await asyncio.open_connection(*server.address)
        writer.write(rawclient.greeting(0) + rawclient.socks5_request("127.0.0.1", 9))
        try:
            async with asyncio.timeout(30):  # a bound: only the interrupt ends this
                await asyncio.get_running_loop().create_future()
        except TimeoutError:
            print("still running after Ctrl-C:", server.connections[0].outcome)

if sys.argv[1] == "uvloop":
    import uvloop
    loop = uvloop.new_event_loop()
else:
    loop = asyncio.new_event_loop()
try:
    loop.run_until_complete(main())
except KeyboardInterrupt:
    print("KeyboardInterrupt propagated")
"""


@pytest.mark.parametrize("loop", LOOPS)
def test_ctrl_c_in_a_hook_stops_the_users_loop(loop: str) -> None:
    """The report's program: a real SIGINT, to a process of its own."""
    if loop == "uvloop":
        pytest.importorskip("uvloop")
    done = subprocess.run(
        [sys.executable, "-c", SIGINT_PROGRAM, loop],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.stdout.strip() == "KeyboardInterrupt propagated", done.stderr


# -- on the server's own thread --------------------------------------------------------


def test_on_the_servers_thread_it_ends_the_connection_and_stops_the_run(
    pytester: pytest.Pytester,
) -> None:
    """A fixture's server runs on a thread of its own, which the interrupt cannot leave
    (the server would die, its connection left hanging) and which no Ctrl-C reaches.
    The hook's KeyboardInterrupt ends its connection as the user's error, and is raised
    in the test's thread after the body: pytest stops the run there as for Ctrl-C, with
    the note naming the hook; the server is stopped at teardown."""
    pytester.makepyfile(
        """
        import socket
        from pytest_socks5 import Outcome, rawclient

        def test_interrupted(socks5_server):
            def hook(record):
                raise KeyboardInterrupt
            socks5_server.on("request", hook)
            with socket.create_connection(socks5_server.address, 10) as sock:
                sock.sendall(rawclient.greeting(0) + rawclient.socks5_request("127.0.0.1", 9))
                while sock.recv(100):
                    pass  # closed: never left hanging
            (record,) = socks5_server.connections
            assert record.outcome is Outcome.USER_CODE_ERROR
            print("body-done")

        def test_never_runs():
            print("ran-after-the-interrupt")
        """
    )
    result = pytester.runpytest_subprocess(
        "-s", "-p", "no:randomly", "-p", "no:cacheprovider", *NO_HYPOTHESIS, timeout=60
    )
    assert result.ret == pytest.ExitCode.INTERRUPTED
    out = result.stdout.str()
    assert "body-done" in out
    assert "ran-after-the-interrupt" not in out
    result.stdout.fnmatch_lines(
        [
            "*KeyboardInterrupt*",
            "*pytest-socks5: raised by your on('request') hook test_interrupted.<locals>.hook*",
        ]
    )


# -- GeneratorExit -------------------------------------------------------------------------


def test_the_proxy_closing_an_awaited_hook_is_no_users_error() -> None:
    """The proxy's coroutine closed while it awaits an async hook: the ``GeneratorExit``
    passes (taken for the user's, the close would fail: "coroutine ignored
    GeneratorExit")."""
    loop = asyncio.new_event_loop()
    waiting = loop.create_future()

    async def wait(record: ConnectionRecord) -> None:
        await waiting

    checkpoints = Checkpoints()
    checkpoints.on("request", wait)
    record = LiveRecord(id=1, client_address=("127.0.0.1", 1))
    visit = checkpoints.visit(record, Phase.REQUEST, lambda: None, lambda cleanup: None)
    try:
        assert visit.send(None) is waiting
        visit.close()
    finally:
        loop.close()


def test_a_plain_hooks_own_generator_exit_is_the_users_error(
    echo_server: tuple[str, int],
) -> None:
    """Nothing the proxy closes is running in a plain call: its ``GeneratorExit`` is the
    hook's (let through, it ended the conversation unreported, the client hanging)."""

    def hook(record: ConnectionRecord) -> None:
        raise GeneratorExit

    with SOCKS5Server() as server:
        server.on("request", hook)
        with connect(server.address) as sock:
            sock.sendall(b"\x05\x01\x00" + socks5_request(*echo_server))
            read_until_closed(sock)
        record = only_record(server)
        assert record.outcome is Outcome.USER_CODE_ERROR
        with pytest.raises(GeneratorExit):
            server.raise_errors()
