"""Stopping is bounded and leaves nothing behind, whatever the clients are doing.

Every test here populates a server with the worst clients we know — silent ones, half
handshakes, half-open tunnels, a client that never reads, a destination that never
reads, a dial into a blackhole, a failure reply nobody acknowledges — then stops it and
counts: the time it took, the file descriptors of the process (/proc/self/fd), the
threads, the asyncio tasks, and the ResourceWarnings a garbage collection turns up.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
import warnings
from collections.abc import Callable, Iterator

import pytest

from pytest_socks5 import Outcome, SOCKS5Server

from .helpers import closed_port, connect, recv_exactly, socks5_request
from .reliability import (
    blackhole,
    count_fds,
    held,
    loopback_listener,
    measure_held,
    needs_proc,
    open_tunnel,
    plugin_threads,
    pump_until,
    wait_until,
)

pytestmark = needs_proc

#: The worst clients, by name; each test checks that all of them were there.
POPULATION = (
    "silent",
    "half-greeting",
    "idle-tunnel",
    "half-open-tunnel",
    "client-never-reads",
    "destination-never-reads",
    "blackholed-dial",
    "unacknowledged-failure",
)


@contextlib.contextmanager
def hostile_population(
    server: SOCKS5Server, listener: socket.socket, hole: tuple[str, int], refused: int
) -> Iterator[dict[str, socket.socket]]:
    """Open one connection of each kind in POPULATION; close the test's ends on exit."""
    mine: list[socket.socket] = []
    clients: dict[str, socket.socket] = {}
    chunk = b"\xcd" * 65536
    target = listener.getsockname()
    try:
        clients["silent"] = connect(server.address)
        clients["half-greeting"] = connect(server.address)
        clients["half-greeting"].sendall(b"\x05\x02\x00")

        def tunnel(name: str) -> socket.socket:
            clients[name] = open_tunnel(server.address, target)
            upstream, _ = listener.accept()
            mine.append(upstream)
            return upstream

        tunnel("idle-tunnel")
        tunnel("half-open-tunnel")
        clients["half-open-tunnel"].shutdown(socket.SHUT_WR)
        upstream = tunnel("client-never-reads")
        pump_until(upstream, lambda: held(server).reading_upstreams < 3, chunk=chunk)
        tunnel("destination-never-reads")
        pump_until(
            clients["destination-never-reads"],
            lambda: (h := held(server)).reading_clients < h.connections,
            chunk=chunk,
        )

        clients["blackholed-dial"] = connect(server.address)
        clients["blackholed-dial"].sendall(b"\x05\x01\x00" + socks5_request(*hole))
        clients["unacknowledged-failure"] = connect(server.address)
        clients["unacknowledged-failure"].sendall(
            b"\x05\x01\x00" + socks5_request("127.0.0.1", refused)
        )
        assert recv_exactly(clients["unacknowledged-failure"], 12)[3] == 0x05  # refused
        wait_until(
            lambda: held(server).connections == len(POPULATION),
            timeout=10,
            what=f"{len(POPULATION)} open connections",
        )
        assert set(clients) == set(POPULATION)
        yield clients
    finally:
        for sock in [*clients.values(), *mine]:
            sock.close()


@contextlib.contextmanager
def no_leaks(report: Callable[[str], None], what: str) -> Iterator[None]:
    """Count fds and threads around the block; garbage-collect and catch
    ResourceWarnings at the end."""
    # The first server of a process sets up what its event loop keeps for the process's
    # life (uvloop's libuv: a signal pipe), which is not a leak: one start and stop first.
    SOCKS5Server().start().stop()
    gc.collect()
    fds, threads = count_fds(), plugin_threads()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield
        # A transport or socket left for the garbage collector warns here.
        gc.collect()
    resource = [w for w in caught if issubclass(w.category, ResourceWarning)]
    assert resource == [], [str(w.message) for w in resource]
    wait_until(lambda: plugin_threads() <= threads, timeout=10, what="the threads to end")
    assert count_fds() == fds, sorted(os.listdir("/proc/self/fd"))
    report(f"{what}: {fds} fds and {len(threads)} other threads before and after")


@pytest.fixture
def peers() -> Iterator[tuple[socket.socket, tuple[str, int], int]]:
    """A destination the test accepts from itself, a blackhole, and a refusing port."""
    with loopback_listener() as listener, blackhole() as (hole, _), closed_port() as refused:
        yield listener, hole, refused


def test_stop_with_the_worst_clients_is_bounded_and_leaks_nothing(
    peers: tuple[socket.socket, tuple[str, int], int], report_figures: Callable[[str], None]
) -> None:
    listener, hole, refused = peers
    ended: list[Outcome] = []
    with no_leaks(report_figures, "thread-hosted server"):
        server = SOCKS5Server(
            connect_timeout=60, on_connection_end=lambda r: ended.append(r.outcome)
        )
        server.start()
        loop = server._loop
        assert loop is not None
        with hostile_population(server, listener, hole, refused):
            started = time.monotonic()
            server.stop()  # the default: 2 s for queued bytes, then abort
            took = time.monotonic() - started
        assert loop.is_closed()
        assert asyncio.all_tasks(loop) == set()
        assert len(server._engine.registry) == 0
        assert not server.is_running
    assert took < 2.0 + 6.0, took
    assert len(ended) == len(POPULATION)
    assert set(ended) <= {Outcome.SERVER_STOPPED, Outcome.REJECTED}
    report_figures(f"stop() with {len(POPULATION)} hostile connections took {took:.2f}s")


def test_stop_timeout_bounds_the_wait_for_stalled_clients(
    peers: tuple[socket.socket, tuple[str, int], int], report_figures: Callable[[str], None]
) -> None:
    listener, hole, refused = peers
    with no_leaks(report_figures, "stop(timeout=0.2)"):
        server = SOCKS5Server(connect_timeout=60).start()
        with hostile_population(server, listener, hole, refused):
            started = time.monotonic()
            server.stop(timeout=0.2)
            took = time.monotonic() - started
    assert took < 0.2 + 6.0, took
    report_figures(f"stop(timeout=0.2) with stalled clients took {took:.2f}s")


def test_aclose_in_the_callers_loop_leaves_no_task_and_no_fd(
    report_figures: Callable[[str], None],
) -> None:
    """``async with SOCKS5Server()``: the engine runs in the test's loop; after aclose
    the loop has exactly the tasks it had before."""

    async def scenario() -> float:
        before = asyncio.all_tasks()
        server = await SOCKS5Server(connect_timeout=60).astart()
        target_conns: list[asyncio.StreamWriter] = []

        async def target(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            target_conns.append(writer)
            writer.write(b"\xee" * (8 * 1024 * 1024))  # the client never reads it

        destination = await asyncio.start_server(target, "127.0.0.1", 0)
        port = destination.sockets[0].getsockname()[1]
        writers = []
        try:
            for payload in (b"", b"\x05\x01\x00", None, None):
                reader, writer = await asyncio.open_connection(*server.address)
                writers.append(writer)
                if payload is None:  # a tunnel whose client never reads
                    writer.write(b"\x05\x01\x00" + socks5_request("127.0.0.1", port))
                    answer = await reader.readexactly(12)
                    assert answer[:4] == b"\x05\x00\x05\x00"
                elif payload:
                    writer.write(payload)
            # Wait until the server has stopped reading both destinations: stalled.
            deadline = time.monotonic() + 10
            while measure_held(server).reading_upstreams:
                assert time.monotonic() < deadline, measure_held(server)
                await asyncio.sleep(0.01)
            assert measure_held(server).to_clients > 0
            started = time.monotonic()
            await server.aclose(timeout=0.5)
            took = time.monotonic() - started
        finally:
            for writer in writers + target_conns:
                writer.close()
            destination.close()
            await destination.wait_closed()
            await asyncio.sleep(0)  # let the transports' connection_lost run
        assert asyncio.all_tasks() == before
        return took

    with no_leaks(report_figures, "aclose() in the caller's loop"):
        took = asyncio.run(scenario())
    assert took < 0.5 + 6.0
    report_figures(f"aclose(timeout=0.5) with a stalled tunnel took {took:.2f}s")


def test_ctrl_c_in_a_pytest_session_with_open_tunnels_ends_promptly(
    pytester: pytest.Pytester, report_figures: Callable[[str], None]
) -> None:
    """A test opens a tunnel whose client never reads and a half-open one, then the run
    is interrupted: the session server is stopped, its records end, the run exits."""
    log = pytester.path / "ended.txt"
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n")
    pytester.makeconftest(
        f"""
        import pytest

        @pytest.fixture(scope="session")
        def socks5_server_options():
            def log(record):
                with open({str(log)!r}, "a") as f:
                    f.write(record.outcome.value + "\\n")
            return {{"on_connection_end": log}}
        """
    )
    pytester.makepyfile(
        textwrap.dedent(
            """
            import signal, socket, threading, time

            KEEP = []  # every socket stays open until the process ends

            def tunnel(proxy, target):
                s = socket.create_connection(proxy, timeout=5)
                s.sendall(b"\\x05\\x01\\x00\\x05\\x01\\x00\\x01\\x7f\\x00\\x00\\x01"
                          + target[1].to_bytes(2, "big"))
                assert len(s.recv(2)) == 2
                return s

            def test_interrupted(socks5_server):
                target = socket.socket()
                target.bind(("127.0.0.1", 0))
                target.listen()
                stalled = tunnel(socks5_server.address, target.getsockname())
                up, _ = target.accept()
                up.setblocking(False)
                try:
                    while True:
                        up.send(b"x" * 65536)
                except BlockingIOError:
                    pass
                half = tunnel(socks5_server.address, target.getsockname())
                half.shutdown(socket.SHUT_WR)
                KEEP.extend([target, stalled, up, half, target.accept()[0]])
                socks5_server.wait_for_connections(2)
                # Ctrl-C while the test runs: to the main thread, as a terminal's SIGINT
                # lands (os.kill may pick the server's thread, and the interrupt then
                # waits for the main thread's next bytecode, wherever that is).
                signal.pthread_kill(threading.main_thread().ident, signal.SIGINT)
                time.sleep(30)  # interrupted at once
            """
        )
    )
    started = time.monotonic()
    result = pytester.runpytest_subprocess(
        "-p", "no:randomly", "-p", "no:cacheprovider", timeout=60
    )
    took = time.monotonic() - started
    assert result.ret == pytest.ExitCode.INTERRUPTED
    result.stdout.fnmatch_lines(["*KeyboardInterrupt*"])
    assert log.read_text().split() == ["server-stopped", "server-stopped"]
    report_figures(f"pytest run interrupted with 2 open tunnels exited in {took:.2f}s")


def test_ctrl_c_on_the_command_line_server_with_open_tunnels(
    peers: tuple[socket.socket, tuple[str, int], int], report_figures: Callable[[str], None]
) -> None:
    listener, hole, _ = peers
    proc = subprocess.Popen(
        [sys.executable, "-m", "pytest_socks5", "--port", "0", "--connect-timeout", "60"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        port = int(proc.stdout.readline().rsplit(":", 1)[1])
        address = ("127.0.0.1", port)
        socks: list[socket.socket] = []
        for _ in range(2):
            socks.append(open_tunnel(address, listener.getsockname()))
            upstream, _ = listener.accept()
            socks.append(upstream)
        socks[0].shutdown(socket.SHUT_WR)  # half-open
        # The second client never reads: write until the kernel has refused more 30
        # times over about 300 ms of retries, so the proxy (in another process, out of
        # sight) has taken all it will and holds a full queue for the client.
        full_for = [0]

        def proxy_full() -> bool:
            full_for[0] += 1
            time.sleep(0.01)
            return full_for[0] >= 30

        sent = pump_until(socks[3], proxy_full, chunk=b"\x00" * 65536)
        assert sent > 1024 * 1024
        silent = connect(address)
        socks.append(silent)
        dial = connect(address)
        dial.sendall(b"\x05\x01\x00" + socks5_request(*hole))
        socks.append(dial)
        assert recv_exactly(dial, 2) == b"\x05\x00"
        started = time.monotonic()
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
        took = time.monotonic() - started
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
        for sock in socks:
            sock.close()
    assert proc.returncode == 0
    assert "Traceback" not in err
    assert err.strip().endswith("pytest-socks5 stopped (SIGINT)")
    # Each of the four ends "server-stopped"; the half-open one was closed first by its
    # client (closed_by is the side that closed first), the others by the server.
    assert out.count("[server-stopped by ") == 4
    assert took < 2.0 + 8.0
    report_figures(f"CLI Ctrl-C with 4 open connections exited in {took:.2f}s")
