#!/usr/bin/env python
"""Benchmarks of pytest-socks5 against a direct loopback connection in the same run.

Usage: python benchmarks/bench.py [--quick] [--json-only] [--only NAME ...]

Every proxied figure is compared with the same client and target code talking to the
target directly. Clients and targets run in this process (plain blocking sockets and
threads, or one ``selectors`` loop); the proxy runs in a separate process
(``python -m pytest_socks5``) for the network benchmarks, and in this process
(``SOCKS5Server`` on its own thread, as the fixture does) for fixture, request and
start/stop. ``scale`` puts its echo target in a third process (``--echo-target``), so no
process needs more than two file descriptors per tunnel. Only loopback (127.0.0.1) is
used. The last stdout line is one JSON object.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import errno
import gc
import hashlib
import json
import os
import platform
import re
import resource
import selectors
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
LOOPBACK = "127.0.0.1"
MiB = 1 << 20
#: Any single blocking socket operation; anything slower is a failure, not a result.
IO_TIMEOUT = 30.0
#: Largest recv/send chunk used by clients and targets.
CHUNK = 1 * MiB
CLK_TCK = os.sysconf("SC_CLK_TCK")

NAMES = (
    "oneway",
    "echo",
    "parallel",
    "handshake",
    "at_once",
    "scale",
    "pingpong",
    "fixture",
    "request",
    "startstop",
)
#: The benchmarks that run the proxy as a separate process.
NETWORK = ("oneway", "echo", "parallel", "handshake", "at_once", "scale", "pingpong")
#: The RLIMIT_NOFILE that ``scale`` asks for (soft and hard), inherited by the children.
WANT_NOFILE = 65536
#: Tunnels that ``scale`` has connecting or handshaking at once (the proxy's backlog is 1024).
SCALE_WINDOW = 1000
#: Tunnel counts of ``parallel``.
PARALLEL = (1, 10, 100)

#: The targets of issue #6: name -> (value, comparison).
TARGETS: dict[str, tuple[float, str]] = {
    "oneway": (0.90, ">="),
    "echo": (0.80, ">="),
    "handshake": (0.35, ">="),
    "at_once": (2.5, "<="),
    "at_once_mem": (16.0, "<="),
    "pingpong": (1.6, "<="),
    "fixture": (0.05, "<="),
    "request": (0.3, "<="),
    "start": (10.0, "<="),
    "stop": (50.0, "<="),
}

SIZES = {
    # name: (full, quick)
    "oneway_mib": (512, 32),
    "echo_mib": (256, 16),
    "parallel_mib": (512, 32),
    "handshakes": (3000, 300),
    "at_once": (1000, 100),
    "scale": (10000, 500),
    "pingpong": (20000, 2000),
    "fixture_tests": (300, 300),
    "fixture_runs": (7, 5),
    "requests": (300, 300),
    "startstop": (50, 50),
}

QUIET = False


def log(msg: str) -> None:
    if not QUIET:
        print(f"[bench] {msg}", file=sys.stderr, flush=True)


# -- child processes and the overall time limit ------------------------------------------

_CHILDREN: set[subprocess.Popen[bytes]] = set()
_FINISHED = threading.Event()


def _kill_children() -> None:
    for proc in list(_CHILDREN):
        if proc.poll() is None:
            with contextlib.suppress(OSError):
                proc.kill()
            with contextlib.suppress(Exception):
                proc.wait(5)
        _CHILDREN.discard(proc)


def _start_watchdog(seconds: float) -> None:
    def watch() -> None:
        if not _FINISHED.wait(seconds):
            print(f"[bench] time budget of {seconds:.0f}s exceeded: aborting", file=sys.stderr)
            _kill_children()
            os._exit(3)

    threading.Thread(target=watch, name="watchdog", daemon=True).start()


def _on_signal(signum: int, _frame: Any) -> None:
    print(f"[bench] stopped by signal {signum}", file=sys.stderr, flush=True)
    raise SystemExit(128 + signum)


def clean_env(**extra: str) -> dict[str, str]:
    """The environment without proxy settings (so nothing leaves loopback)."""
    env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
    env.pop("PYTEST_ADDOPTS", None)
    env.update(extra)
    return env


def spawn(cmd: list[str], **kwargs: Any) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, env=clean_env(), **kwargs)
    _CHILDREN.add(proc)
    return proc


def run_child(cmd: list[str], *, timeout: float, env: dict[str, str], cwd: str) -> str:
    proc = subprocess.Popen(
        cmd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=env,
        cwd=cwd,
    )
    _CHILDREN.add(proc)
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate(timeout=5)
        raise RuntimeError(f"{' '.join(cmd)} took more than {timeout}s") from None
    finally:
        _CHILDREN.discard(proc)
    text = out.decode(errors="replace")
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {proc.returncode}:\n{text[-3000:]}")
    return text


def read_line(
    fd: int, pending: bytearray, timeout: float, who: str, why: Callable[[], str]
) -> str:
    """One line from a child's stdout pipe ``fd``; ``pending`` keeps what follows it."""
    deadline = time.monotonic() + timeout
    with selectors.DefaultSelector() as sel:
        sel.register(fd, selectors.EVENT_READ)
        while b"\n" not in pending:
            left = deadline - time.monotonic()
            if left <= 0 or not sel.select(left):
                raise RuntimeError(f"{who} printed no line in {timeout}s: {why()}")
            chunk = os.read(fd, 4096)
            if not chunk:
                raise RuntimeError(f"{who} exited early: {why()}")
            pending += chunk
    line, _, rest = bytes(pending).partition(b"\n")
    pending[:] = rest
    return line.decode(errors="replace")


#: Extra command-line arguments for the proxy process (``--proxy-arg=--uvloop``).
PROXY_ARGS: list[str] = []


class ProxyProcess:
    """``python -m pytest_socks5 --port 0 --quiet`` in a child process."""

    def __init__(self) -> None:
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 (closed in stop())
        self.proc = spawn(
            [sys.executable, "-m", "pytest_socks5", "--port", "0", "--quiet", *PROXY_ARGS],
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            cwd=str(ROOT),
        )
        try:
            line = self._first_line(15.0)
            m = re.search(r"listening on socks5://([0-9.]+):(\d+)", line)
            if not m or m.group(1) != LOOPBACK:
                raise RuntimeError(f"unexpected first line from the proxy: {line!r}")
            self.addr = (LOOPBACK, int(m.group(2)))
        except BaseException:
            self.stop()
            raise

    def _first_line(self, timeout: float) -> str:
        assert self.proc.stdout is not None
        return read_line(self.proc.stdout.fileno(), bytearray(), timeout, "the proxy", self.stderr)

    def stderr(self) -> str:
        self._stderr.seek(0)
        return self._stderr.read().decode(errors="replace")[-3000:]

    def cpu(self) -> float:
        """CPU seconds of the proxy process so far: the sum of its threads' run time from
        ``/proc/PID/task/*/schedstat`` (nanoseconds), else utime+stime (clock ticks)."""
        total, task_dir = 0, Path(f"/proc/{self.proc.pid}/task")
        try:
            for task in task_dir.iterdir():
                with contextlib.suppress(FileNotFoundError):
                    total += int((task / "schedstat").read_text().split()[0])
            return total / 1e9
        except (OSError, ValueError, IndexError):
            with open(f"/proc/{self.proc.pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / CLK_TCK

    def fds(self) -> int:
        return len(os.listdir(f"/proc/{self.proc.pid}/fd"))

    def rss_kib(self) -> int:
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        raise RuntimeError("no VmRSS")

    def stop(self, *, graceful: bool = True) -> None:
        """Ctrl-C (SIGINT) and up to 5 s to exit, or SIGKILL at once."""
        proc = self.proc
        if proc.poll() is None:
            with contextlib.suppress(OSError):
                proc.send_signal(signal.SIGINT if graceful else signal.SIGKILL)
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        if proc.stdout is not None:
            proc.stdout.close()
        _CHILDREN.discard(proc)
        self._stderr.close()

    def __enter__(self) -> ProxyProcess:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *exc: object) -> None:
        self.stop(graceful=exc_type is None)


# -- measurement helpers -----------------------------------------------------------------


def own_cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


class Meter:
    """Wall time, this process's CPU and the proxy process's CPU over a block."""

    def __init__(self, proxy: ProxyProcess | None) -> None:
        self.proxy = proxy

    def __enter__(self) -> Meter:
        self.cpu0 = own_cpu()
        self.pcpu0 = self.proxy.cpu() if self.proxy else 0.0
        self.t0 = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop(time.perf_counter())

    def stop(self, t_end: float) -> None:
        self.wall = t_end - self.t0
        self.cpu = own_cpu() - self.cpu0
        self.pcpu = (self.proxy.cpu() - self.pcpu0) if self.proxy else 0.0


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, round(q * (len(s) - 1)))]


def median(values: list[float]) -> float:
    return pct(values, 0.5)


@contextlib.contextmanager
def no_gc() -> Iterator[None]:
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


@contextlib.contextmanager
def pinned(enabled: bool) -> Iterator[int | None]:
    """Run this thread, the threads it starts and the proxy it spawns on one CPU.

    For the sequential latency benchmarks only one party runs at a time, so sharing a CPU
    costs nothing, while a wake-up on another (idle) virtual CPU adds tens of µs of noise
    that differs from run to run."""
    if not enabled or not hasattr(os, "sched_setaffinity"):
        yield None
        return
    before = os.sched_getaffinity(0)
    cpu = max(before)
    os.sched_setaffinity(0, {cpu})
    try:
        yield cpu
    finally:
        os.sched_setaffinity(0, before)


def prefaulted(size: int) -> bytearray:
    """A buffer whose pages are already mapped, so page faults stay out of timings."""
    buf = bytearray(size)
    buf[:: resource.getpagesize()] = bytes(len(range(0, size, resource.getpagesize())))
    return buf


def sha256_repeated(block: bytes, count: int) -> str:
    h = hashlib.sha256()
    for _ in range(count):
        h.update(block)
    return h.hexdigest()


def sha256_of(buf: bytearray, n: int) -> str:
    return hashlib.sha256(memoryview(buf)[:n]).hexdigest()


# -- client side -------------------------------------------------------------------------

GREETING = b"\x05\x01\x00"


def socks5_request(dst: tuple[str, int]) -> bytes:
    return b"\x05\x01\x00\x01" + socket.inet_aton(dst[0]) + dst[1].to_bytes(2, "big")


def reply_length(buf: bytes) -> int | None:
    """Length of a complete SOCKS5 reply starting ``buf``, once it can be known."""
    if len(buf) < 5:
        return None
    atyp = buf[3]
    if atyp == 1:
        return 10
    if atyp == 4:
        return 22
    if atyp == 3:
        return 7 + buf[4]
    raise RuntimeError(f"bad SOCKS5 reply {buf!r}")


def recv_exact(sock: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise ConnectionError(f"EOF after {len(data)} of {n} bytes")
        data += chunk
    return data


def socks5_handshake(sock: socket.socket, dst: tuple[str, int]) -> None:
    """No-auth CONNECT, the way a well-behaved client does it (one step at a time)."""
    sock.sendall(GREETING)
    if recv_exact(sock, 2) != b"\x05\x00":
        raise RuntimeError("the proxy refused no-auth")
    sock.sendall(socks5_request(dst))
    head = recv_exact(sock, 5)
    need = reply_length(head)
    assert need is not None
    reply = head + recv_exact(sock, need - 5)
    if reply[1] != 0:
        raise RuntimeError(f"the proxy answered REP {reply[1]:#04x}")


def new_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.settimeout(IO_TIMEOUT)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def open_conn(dst: tuple[str, int], proxy: tuple[str, int] | None) -> socket.socket:
    """The one client connect used everywhere: direct to ``dst``, or through ``proxy``."""
    sock = new_socket()
    try:
        sock.connect(proxy or dst)
        if proxy is not None:
            socks5_handshake(sock, dst)
    except BaseException:
        sock.close()
        raise
    return sock


def send_repeated(sock: socket.socket, block: bytes, count: int) -> None:
    view = memoryview(block)
    for _ in range(count):
        sock.sendall(view)


def recv_all_into(sock: socket.socket, buf: bytearray, limit: int) -> int:
    """Receive until EOF into ``buf``; bytes beyond ``limit`` are counted, not kept."""
    view = memoryview(buf)
    scratch = memoryview(bytearray(CHUNK))
    n = 0
    while True:
        k = sock.recv_into(view[n : n + CHUNK] if n < limit else scratch)
        if not k:
            return n
        n += k


# -- targets (run on threads of this process) --------------------------------------------


def listener() -> socket.socket:
    return socket.create_server((LOOPBACK, 0), backlog=4096)


class _ThreadTarget:
    """Accepts one connection on a thread and serves it with :meth:`serve`."""

    def __init__(self) -> None:
        self.sock = listener()
        self.sock.settimeout(IO_TIMEOUT)
        self.addr: tuple[str, int] = self.sock.getsockname()[:2]
        self.error: BaseException | None = None
        self.accepted = threading.Event()
        self.t_end = 0.0
        self.thread = threading.Thread(target=self._run, name=type(self).__name__, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            conn, _ = self.sock.accept()
            self.accepted.set()
            with conn:
                conn.settimeout(IO_TIMEOUT)
                conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                self.serve(conn)
        except BaseException as exc:
            self.error = exc
        finally:
            self.accepted.set()
            self.sock.close()

    def serve(self, conn: socket.socket) -> None:
        raise NotImplementedError

    def join(self) -> None:
        self.thread.join(IO_TIMEOUT)
        if self.thread.is_alive():
            raise TimeoutError(f"{type(self).__name__} did not finish")
        if self.error is not None:
            raise self.error


class SinkTarget(_ThreadTarget):
    """Receives until EOF into ``capture`` (hashed afterwards), counting bytes."""

    def __init__(self, capture: bytearray, limit: int) -> None:
        self.capture, self.limit, self.received = capture, limit, 0
        super().__init__()

    def serve(self, conn: socket.socket) -> None:
        self.received = recv_all_into(conn, self.capture, self.limit)
        self.t_end = time.perf_counter()


class EchoTarget(_ThreadTarget):
    """Sends back what it receives; keeps a copy in ``capture`` when given."""

    def __init__(self, capture: bytearray | None = None, limit: int = 0) -> None:
        self.capture, self.limit, self.received = capture, limit, 0
        super().__init__()

    def serve(self, conn: socket.socket) -> None:
        keep = self.capture is not None
        view = memoryview(self.capture if keep else bytearray(CHUNK))  # type: ignore[arg-type]
        n = 0
        while True:
            start = n if keep and n < self.limit else 0
            k = conn.recv_into(view[start : start + CHUNK])
            if not k:
                break
            conn.sendall(view[start : start + k])
            n += k
        self.received = n
        conn.shutdown(socket.SHUT_WR)


class HoldTarget:
    """Accepts any number of connections on one selector thread and closes each at EOF."""

    def __init__(self) -> None:
        self.sock = listener()
        self.sock.setblocking(False)
        self.addr: tuple[str, int] = self.sock.getsockname()[:2]
        self.open = 0
        self.accepted = 0
        self.error: BaseException | None = None
        self._stop = False
        self._wake_r, self._wake_w = socket.socketpair()
        self.thread = threading.Thread(target=self._run, name="HoldTarget", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        sel = selectors.DefaultSelector()
        sel.register(self.sock, selectors.EVENT_READ, "accept")
        sel.register(self._wake_r, selectors.EVENT_READ, "wake")
        try:
            while not self._stop:
                for key, _ in sel.select(1.0):
                    if key.data == "accept":
                        for _ in range(256):
                            try:
                                conn, _ = self.sock.accept()
                            except BlockingIOError:
                                break
                            conn.setblocking(False)
                            sel.register(conn, selectors.EVENT_READ, "conn")
                            self.open += 1
                            self.accepted += 1
                    elif key.data == "conn":
                        conn = key.fileobj
                        assert isinstance(conn, socket.socket)
                        try:
                            data = conn.recv(65536)
                        except BlockingIOError:
                            continue
                        except OSError:
                            data = b""
                        if not data:
                            sel.unregister(conn)
                            conn.close()
                            self.open -= 1
        except BaseException as exc:
            self.error = exc
        finally:
            for key in list(sel.get_map().values()):
                if key.data == "conn":
                    key.fileobj.close()  # type: ignore[union-attr]
            sel.close()

    def wait_idle(self, timeout: float = IO_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        while self.open:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.open} target connections still open")
            time.sleep(0.01)

    def close(self) -> None:
        self._stop = True
        self._wake_w.send(b"x")
        self.thread.join(IO_TIMEOUT)
        self.sock.close()
        self._wake_r.close()
        self._wake_w.close()
        if self.error is not None:
            raise self.error


# -- results -----------------------------------------------------------------------------


def verdict(key: str, value: float) -> dict[str, Any]:
    target, op = TARGETS[key]
    met = value >= target if op == ">=" else value <= target
    return {"target": f"{op}{target:g}", "met": met}


def modes() -> list[tuple[str, bool]]:
    return [("direct", False), ("proxied", True)]


# -- 1. one-way throughput ---------------------------------------------------------------


def bench_oneway(cfg: argparse.Namespace) -> dict[str, Any]:
    size = cfg.oneway_mib * MiB
    block = os.urandom(MiB)
    expected = sha256_repeated(block, cfg.oneway_mib)
    capture = prefaulted(size + CHUNK)
    best: dict[str, Meter] = {}
    with ProxyProcess() as proxy:
        for _ in range(cfg.rounds):
            for mode, proxied in modes():
                target = SinkTarget(capture, size)
                sock = open_conn(target.addr, proxy.addr if proxied else None)
                with sock:
                    if not target.accepted.wait(IO_TIMEOUT):
                        raise TimeoutError("the sink did not accept")
                    meter = Meter(proxy)
                    with meter:
                        send_repeated(sock, block, cfg.oneway_mib)
                        sock.shutdown(socket.SHUT_WR)
                        target.join()
                    meter.stop(target.t_end)
                if target.received != size or sha256_of(capture, size) != expected:
                    raise RuntimeError(f"{mode}: received {target.received} bytes, hash mismatch")
                if mode not in best or meter.wall < best[mode].wall:
                    best[mode] = meter
    direct, proxied_m = size / best["direct"].wall / 1e6, size / best["proxied"].wall / 1e6
    ratio = proxied_m / direct
    return {
        "mib": cfg.oneway_mib,
        "direct_mb_s": round(direct, 1),
        "proxied_mb_s": round(proxied_m, 1),
        "ratio": round(ratio, 3),
        "hash_ok": True,
        "cpu": cpu_info(best),
        **verdict("oneway", ratio),
    }


def cpu_info(best: dict[str, Meter]) -> dict[str, float]:
    """CPU cores busy during the timed part: client+target process, proxy process."""
    return {
        "client_target_direct": round(best["direct"].cpu / best["direct"].wall, 2),
        "client_target_proxied": round(best["proxied"].cpu / best["proxied"].wall, 2),
        "proxy": round(best["proxied"].pcpu / best["proxied"].wall, 2),
    }


# -- 2. echo both ways -------------------------------------------------------------------


def bench_echo(cfg: argparse.Namespace) -> dict[str, Any]:
    size = cfg.echo_mib * MiB
    block = os.urandom(MiB)
    expected = sha256_repeated(block, cfg.echo_mib)
    at_target, at_client = prefaulted(size + CHUNK), prefaulted(size + CHUNK)
    best: dict[str, Meter] = {}
    with ProxyProcess() as proxy:
        for _ in range(cfg.rounds):
            for mode, proxied in modes():
                target = EchoTarget(at_target, size)
                sock = open_conn(target.addr, proxy.addr if proxied else None)
                errors: list[BaseException] = []

                def write(
                    sock: socket.socket = sock, errors: list[BaseException] = errors
                ) -> None:
                    try:
                        send_repeated(sock, block, cfg.echo_mib)
                        sock.shutdown(socket.SHUT_WR)
                    except BaseException as exc:
                        errors.append(exc)

                with sock:
                    if not target.accepted.wait(IO_TIMEOUT):
                        raise TimeoutError("the echo target did not accept")
                    writer = threading.Thread(target=write, name="writer", daemon=True)
                    with Meter(proxy) as meter:
                        writer.start()
                        got = recv_all_into(sock, at_client, size)
                    writer.join(IO_TIMEOUT)
                    target.join()
                if errors:
                    raise errors[0]
                ok = got == size == target.received
                if not ok or sha256_of(at_target, size) != expected:
                    raise RuntimeError(f"{mode}: client→target bytes differ")
                if sha256_of(at_client, size) != expected:
                    raise RuntimeError(f"{mode}: target→client bytes differ")
                if mode not in best or meter.wall < best[mode].wall:
                    best[mode] = meter
    direct, proxied_m = size / best["direct"].wall / 1e6, size / best["proxied"].wall / 1e6
    ratio = proxied_m / direct
    return {
        "mib": cfg.echo_mib,
        "direct_mb_s": round(direct, 1),
        "proxied_mb_s": round(proxied_m, 1),
        "ratio": round(ratio, 3),
        "hash_ok": True,
        "cpu": cpu_info(best),
        **verdict("echo", ratio),
    }


# -- 2b. aggregate one-way throughput over 1, 10 and 100 tunnels -------------------------


def recv_into_slice(sock: socket.socket, view: memoryview) -> int:
    """Receive until EOF into ``view``; bytes beyond its end are counted, not kept."""
    scratch = memoryview(bytearray(CHUNK))
    n, size = 0, len(view)
    while True:
        k = sock.recv_into(view[n : min(n + CHUNK, size)] if n < size else scratch)
        if not k:
            return n
        n += k


class MultiSink:
    """Accepts ``count`` connections; receives each on its own thread into its own
    ``per``-byte slice of ``capture`` (hashed afterwards)."""

    def __init__(self, capture: bytearray, per: int, count: int) -> None:
        self.sock = listener()
        self.sock.settimeout(IO_TIMEOUT)
        self.addr: tuple[str, int] = self.sock.getsockname()[:2]
        self.view, self.per, self.count = memoryview(capture), per, count
        self.received = [0] * count
        self.t_end = [0.0] * count
        self.errors: list[BaseException] = []
        self.threads: list[threading.Thread] = []
        self.acceptor = threading.Thread(target=self._accept, name="MultiSink", daemon=True)
        self.acceptor.start()

    def _accept(self) -> None:
        try:
            for i in range(self.count):
                conn, _ = self.sock.accept()
                t = threading.Thread(target=self._serve, args=(i, conn), daemon=True)
                self.threads.append(t)
                t.start()
        except BaseException as exc:
            self.errors.append(exc)
        finally:
            self.sock.close()

    def _serve(self, i: int, conn: socket.socket) -> None:
        try:
            with conn:
                conn.settimeout(IO_TIMEOUT)
                part = self.view[i * self.per : (i + 1) * self.per]
                self.received[i] = recv_into_slice(conn, part)
                self.t_end[i] = time.perf_counter()
        except BaseException as exc:
            self.errors.append(exc)

    def join(self) -> None:
        deadline = time.monotonic() + IO_TIMEOUT
        self.acceptor.join(IO_TIMEOUT)
        for t in [self.acceptor, *self.threads]:
            t.join(max(0.0, deadline - time.monotonic()))
            if t.is_alive():
                raise TimeoutError("a sink thread did not finish")
        if self.errors:
            raise self.errors[0]

    def hashes(self) -> list[str]:
        return sorted(
            hashlib.sha256(self.view[i * self.per : (i + 1) * self.per]).hexdigest()
            for i in range(self.count)
        )


def tunnel_data(block: bytes, j: int, per: int) -> list[memoryview]:
    """The chunks that tunnel ``j`` sends: ``per`` bytes, different for every tunnel."""
    view = memoryview(block)[j * 16 : j * 16 + CHUNK]
    full, rest = divmod(per, CHUNK)
    return [view] * full + ([view[:rest]] if rest else [])


def bench_parallel(cfg: argparse.Namespace) -> dict[str, Any]:
    total = cfg.parallel_mib * MiB
    block = os.urandom(CHUNK + 16 * max(PARALLEL))
    capture = prefaulted(total)
    plans: dict[int, tuple[int, list[list[memoryview]], list[str]]] = {}
    for k in PARALLEL:
        per = total // k
        chunks = [tunnel_data(block, j, per) for j in range(k)]
        expected = []
        for parts in chunks:
            h = hashlib.sha256()
            for part in parts:
                h.update(part)
            expected.append(h.hexdigest())
        plans[k] = (per, chunks, sorted(expected))
    best: dict[int, dict[str, Meter]] = {k: {} for k in PARALLEL}
    with ProxyProcess() as proxy:
        for _ in range(cfg.rounds):
            for k, (per, chunks, expected) in plans.items():
                for mode, proxied in modes():
                    sink_hashes, meter = _parallel_round(proxy, proxied, per, chunks, capture)
                    if sink_hashes != expected:
                        raise RuntimeError(f"{mode}, {k} tunnels: hash mismatch")
                    if mode not in best[k] or meter.wall < best[k][mode].wall:
                        best[k][mode] = meter
    out: dict[str, Any] = {"mib": cfg.parallel_mib, "hash_ok": True, "tunnels": {}}
    for k, (per, _, _) in plans.items():
        size = per * k
        direct = size / best[k]["direct"].wall / 1e6
        via = size / best[k]["proxied"].wall / 1e6
        out["tunnels"][str(k)] = {
            "direct_mb_s": round(direct, 1),
            "proxied_mb_s": round(via, 1),
            "ratio": round(via / direct, 3),
            "cpu": cpu_info(best[k]),
        }
    return out


def _parallel_round(
    proxy: ProxyProcess,
    proxied: bool,
    per: int,
    chunks: list[list[memoryview]],
    capture: bytearray,
) -> tuple[list[str], Meter]:
    k = len(chunks)
    sink = MultiSink(capture, per, k)
    socks: list[socket.socket] = []
    go = threading.Event()
    errors: list[BaseException] = []

    def send(sock: socket.socket, parts: list[memoryview]) -> None:
        try:
            if not go.wait(IO_TIMEOUT):
                raise TimeoutError("no start signal")
            for part in parts:
                sock.sendall(part)
            sock.shutdown(socket.SHUT_WR)
        except BaseException as exc:
            errors.append(exc)

    try:
        for _ in range(k):
            socks.append(open_conn(sink.addr, proxy.addr if proxied else None))
        deadline = time.monotonic() + IO_TIMEOUT
        while len(sink.threads) < k and not sink.errors:
            if time.monotonic() > deadline:
                raise TimeoutError("the sink did not accept every tunnel")
            time.sleep(0.001)
        senders = [
            threading.Thread(target=send, args=(s, p), daemon=True)
            for s, p in zip(socks, chunks, strict=True)
        ]
        for t in senders:
            t.start()
        meter = Meter(proxy)
        with meter:
            go.set()
            sink.join()
        meter.stop(max(sink.t_end))
        for t in senders:
            t.join(IO_TIMEOUT)
        if errors:
            raise errors[0]
    finally:
        go.set()
        for sock in socks:
            sock.close()
    if sink.received != [per] * k:
        raise RuntimeError(f"{k} tunnels: received {sum(sink.received)} of {per * k} bytes")
    return sink.hashes(), meter


# -- 3. sequential handshakes ------------------------------------------------------------


def bench_handshake(cfg: argparse.Namespace) -> dict[str, Any]:
    with pinned(cfg.pin) as cpu:
        return {**_handshake(cfg), "pinned_cpu": cpu}


def _handshake(cfg: argparse.Namespace) -> dict[str, Any]:
    n = cfg.handshakes
    target = HoldTarget()
    lat: dict[str, list[float]] = {"direct": [], "proxied": []}
    meters: dict[str, list[Meter]] = {"direct": [], "proxied": []}
    try:
        with ProxyProcess() as proxy:
            for rnd in range(2):
                for mode, proxied in modes():
                    via = proxy.addr if proxied else None
                    if rnd == 0:
                        for _ in range(min(50, n)):
                            open_conn(target.addr, via).close()
                    times = lat[mode]
                    with no_gc(), Meter(proxy) as meter:
                        for _ in range(n // 2):
                            t0 = time.perf_counter()
                            open_conn(target.addr, via).close()
                            times.append(time.perf_counter() - t0)
                    meters[mode].append(meter)
                    target.wait_idle()
    finally:
        target.close()
    # Rate: the better of the two rounds (less disturbed by other load on the machine).
    best = {m: min(meters[m], key=lambda x: x.wall) for m in meters}
    rate = {m: (n // 2) / best[m].wall for m in best}
    ratio = rate["proxied"] / rate["direct"]
    return {
        "count": len(lat["proxied"]),
        "direct_per_s": round(rate["direct"]),
        "proxied_per_s": round(rate["proxied"]),
        "direct_p50_us": round(median(lat["direct"]) * 1e6, 1),
        "direct_p99_us": round(pct(lat["direct"], 0.99) * 1e6, 1),
        "proxied_p50_us": round(median(lat["proxied"]) * 1e6, 1),
        "proxied_p99_us": round(pct(lat["proxied"], 0.99) * 1e6, 1),
        "ratio": round(ratio, 3),
        "cpu": cpu_info(best),
        **verdict("handshake", ratio),
    }


# -- 4. N tunnels at once ----------------------------------------------------------------


def open_many(
    n: int, dst: tuple[str, int], proxy: tuple[str, int] | None
) -> tuple[float, list[socket.socket]]:
    """Start ``n`` connects at once (plus handshakes when proxied) on one selector loop;
    return the time until every one is established, and the open sockets."""
    request = socks5_request(dst)
    socks: list[socket.socket] = []
    done = 0
    sel = selectors.DefaultSelector()
    t0 = time.perf_counter()
    try:
        for _ in range(n):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            socks.append(sock)
            sock.setblocking(False)
            err = sock.connect_ex(proxy or dst)
            if err not in (0, errno.EINPROGRESS):
                raise OSError(err, os.strerror(err))
            sel.register(sock, selectors.EVENT_WRITE, [0, b""])
        deadline = t0 + IO_TIMEOUT
        while done < n:
            left = deadline - time.perf_counter()
            if left <= 0:
                raise TimeoutError(f"only {done} of {n} connections established")
            for key, _ in sel.select(left):
                sock, state = key.fileobj, key.data
                assert isinstance(sock, socket.socket)
                if state[0] == 0:
                    err = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                    if err:
                        raise OSError(err, os.strerror(err))
                    if proxy is None:
                        sel.unregister(sock)
                        done += 1
                        continue
                    sock.send(GREETING)
                    state[0] = 1
                    sel.modify(sock, selectors.EVENT_READ, state)
                    continue
                chunk = sock.recv(64)
                if not chunk:
                    raise ConnectionError("the proxy closed during the handshake")
                state[1] += chunk
                if state[0] == 1 and len(state[1]) >= 2:
                    if state[1][:2] != b"\x05\x00":
                        raise RuntimeError("the proxy refused no-auth")
                    state[1] = state[1][2:]
                    sock.send(request)
                    state[0] = 2
                if state[0] == 2:
                    need = reply_length(state[1])
                    if need is not None and len(state[1]) >= need:
                        if state[1][1] != 0:
                            raise RuntimeError(f"REP {state[1][1]:#04x}")
                        sel.unregister(sock)
                        done += 1
        elapsed = time.perf_counter() - t0
    except BaseException:
        for sock in socks:
            sock.close()
        raise
    finally:
        sel.close()
    return elapsed, socks


def bench_at_once(cfg: argparse.Namespace) -> dict[str, Any]:
    n = cfg.at_once
    target = HoldTarget()
    times: dict[str, list[float]] = {"direct": [], "proxied": []}
    meters: dict[str, Meter] = {}
    try:
        with ProxyProcess() as proxy:
            # Warm the proxy up (imports, first-connection allocations) before "before".
            for _ in range(20):
                open_conn(target.addr, proxy.addr).close()
            target.wait_idle()
            time.sleep(0.2)
            rss_before = proxy.rss_kib()
            rss_after = rss_closed = 0
            for rnd in range(cfg.rounds):
                for mode, proxied in modes():
                    with Meter(proxy) as meter:
                        elapsed, socks = open_many(n, target.addr, proxy.addr if proxied else None)
                    if proxied and rnd == 0:
                        time.sleep(0.2)
                        rss_after = proxy.rss_kib()
                    for sock in socks:
                        sock.close()
                    target.wait_idle()
                    if proxied and rnd == 0:
                        time.sleep(0.2)
                        rss_closed = proxy.rss_kib()
                    times[mode].append(elapsed)
                    if mode not in meters or elapsed <= min(times[mode]):
                        meters[mode] = meter
    finally:
        target.close()
    direct, proxied_t = min(times["direct"]), min(times["proxied"])
    ratio = proxied_t / direct
    mem_mib = (rss_after - rss_before) / 1024
    mem_1000 = mem_mib * 1000 / n
    mem_verdict = verdict("at_once_mem", mem_1000)
    return {
        "count": n,
        "direct_ms": round(direct * 1e3, 1),
        "proxied_ms": round(proxied_t * 1e3, 1),
        "ratio": round(ratio, 3),
        "rss_before_mib": round(rss_before / 1024, 1),
        "rss_with_tunnels_mib": round(rss_after / 1024, 1),
        "rss_after_close_mib": round(rss_closed / 1024, 1),
        "rss_increase_mib": round(mem_mib, 2),
        "rss_increase_per_1000_mib": round(mem_1000, 2),
        "rss_per_tunnel_kib": round((rss_after - rss_before) / n, 1),
        "mem_target": mem_verdict["target"],
        "mem_met": mem_verdict["met"],
        "cpu": cpu_info(meters),
        **verdict("at_once", ratio),
    }


# -- 4b. many concurrent tunnels ---------------------------------------------------------


def serve_echo_target() -> int:
    """``bench.py --echo-target``: the ``scale`` target, in its own process.

    Prints ``port N``, then echoes every connection until EOF or ``BYE``, and closes it.
    Each line on stdin is answered with the number of open connections; EOF on stdin
    ends it."""
    lst = listener()
    lst.setblocking(False)
    print(f"port {lst.getsockname()[1]}", flush=True)
    sel = selectors.DefaultSelector()
    sel.register(lst, selectors.EVENT_READ, "accept")
    sel.register(sys.stdin.fileno(), selectors.EVENT_READ, "control")
    open_conns = 0
    while True:
        for key, _ in sel.select():
            if key.data == "accept":
                for _ in range(256):
                    try:
                        conn, _ = lst.accept()
                    except BlockingIOError:
                        break
                    except OSError as exc:  # EMFILE: say so; the client counts a timeout
                        print(f"accept: {exc}", file=sys.stderr, flush=True)
                        break
                    conn.setblocking(False)
                    sel.register(conn, selectors.EVENT_READ, "conn")
                    open_conns += 1
            elif key.data == "control":
                if not os.read(sys.stdin.fileno(), 4096):
                    return 0
                os.write(sys.stdout.fileno(), f"{open_conns}\n".encode())
            else:
                conn = key.fileobj
                assert isinstance(conn, socket.socket)
                try:
                    data = conn.recv(4096)
                    if data == SCALE_BYE:
                        data = b""
                    elif data and conn.send(data) != len(data):
                        raise OSError("short send")
                except BlockingIOError:
                    continue
                except OSError:
                    data = b""
                if not data:
                    sel.unregister(conn)
                    conn.close()
                    open_conns -= 1


class EchoTargetProcess:
    """``bench.py --echo-target`` in a child process (its own file-descriptor limit)."""

    def __init__(self) -> None:
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 (closed in stop())
        self._pending = bytearray()
        self.proc = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), "--echo-target"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            env=clean_env(),
            cwd=str(ROOT),
        )
        _CHILDREN.add(self.proc)
        try:
            line = self._line(15.0)
            if not line.startswith("port "):
                raise RuntimeError(f"unexpected first line from the echo target: {line!r}")
            self.addr = (LOOPBACK, int(line.split()[1]))
        except BaseException:
            self.stop()
            raise

    def _line(self, timeout: float) -> str:
        assert self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        return read_line(fd, self._pending, timeout, "the echo target", self.stderr)

    def stderr(self) -> str:
        self._stderr.seek(0)
        return self._stderr.read().decode(errors="replace")[-3000:]

    def open_count(self) -> int:
        assert self.proc.stdin is not None
        self.proc.stdin.write(b"?\n")
        self.proc.stdin.flush()
        return int(self._line(IO_TIMEOUT))

    def wait_idle(self, timeout: float = IO_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        while (left := self.open_count()) > 0:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{left} echo-target connections still open")
            time.sleep(0.02)

    def stop(self) -> None:
        """EOF on its stdin ends it; SIGKILL after 5 s."""
        with contextlib.suppress(OSError):
            if self.proc.stdin is not None:
                self.proc.stdin.close()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        _CHILDREN.discard(self.proc)
        self._stderr.close()

    def __enter__(self) -> EchoTargetProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


#: Asks the scale target to close first: TIME_WAIT then stays on the listening sides and
#: does not hold ~20,000 ephemeral ports of this shared machine for a minute.
SCALE_BYE = b"BYE!BYE!"


def scale_payload(i: int, tag: bytes) -> bytes:
    return tag + i.to_bytes(6, "big")


class ScaleRun:
    """Opens ``n`` tunnels (or direct connections) and keeps them open; at most ``window``
    are connecting or handshaking at a time. Each one is checked with an 8-byte echo.
    A tunnel that fails is counted in ``errors`` and closed; the run goes on."""

    def __init__(self, n: int, dst: tuple[str, int], proxy: tuple[str, int] | None) -> None:
        self.n, self.dst, self.proxy = n, dst, proxy
        self.request = socks5_request(dst)
        self.held: list[socket.socket] = []
        self.errors: list[str] = []
        self.elapsed = 0.0

    def open(self, window: int, timeout: float) -> None:
        sel = selectors.DefaultSelector()
        started = inflight = 0
        t0 = time.perf_counter()
        deadline = t0 + timeout
        try:
            while started < self.n or inflight:
                while started < self.n and inflight < window:
                    inflight += self._start(sel, started)
                    started += 1
                left = deadline - time.perf_counter()
                if left <= 0:
                    break
                for key, _ in sel.select(min(left, 1.0)) if inflight else ():
                    sock, state = key.fileobj, key.data
                    assert isinstance(sock, socket.socket)
                    try:
                        if not self._step(sel, sock, state):
                            continue
                        failed = None
                    except (OSError, RuntimeError) as exc:
                        failed = f"phase {state[0]}: {type(exc).__name__}: {exc}"
                    sel.unregister(sock)
                    inflight -= 1
                    if failed is None:
                        self.held.append(sock)
                    else:
                        self.errors.append(failed)
                        sock.close()
            self.elapsed = time.perf_counter() - t0
            for key in list(sel.get_map().values()):
                self.errors.append(f"phase {key.data[0]}: no answer in {timeout:g}s")
                key.fileobj.close()  # type: ignore[union-attr]
            self.errors.extend(["not started: time limit"] * (self.n - started))
        except BaseException:
            for key in list(sel.get_map().values()):
                key.fileobj.close()  # type: ignore[union-attr]
            self.close(graceful=False)
            raise
        finally:
            sel.close()

    def _start(self, sel: selectors.BaseSelector, i: int) -> int:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setblocking(False)
        try:
            err = sock.connect_ex(self.proxy or self.dst)
        except OSError as exc:
            err = exc.errno or -1
        if err not in (0, errno.EINPROGRESS):
            sock.close()
            self.errors.append(f"connect: {os.strerror(err)}")
            return 0
        sel.register(sock, selectors.EVENT_WRITE, [0, b"", i])
        return 1

    def _step(self, sel: selectors.BaseSelector, sock: socket.socket, state: list[Any]) -> bool:
        """Advance one tunnel; True once it is open and echoed."""
        phase, buf, i = state
        if phase == 0:
            err = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if err:
                raise OSError(err, os.strerror(err))
            nxt = (1, GREETING) if self.proxy else (3, scale_payload(i, b"S5"))
            send_small(sock, nxt[1])
            state[0] = nxt[0]
            sel.modify(sock, selectors.EVENT_READ, state)
            return False
        chunk = sock.recv(64)
        if not chunk:
            raise ConnectionError("EOF")
        buf += chunk
        if phase == 1 and len(buf) >= 2:
            if buf[:2] != b"\x05\x00":
                raise RuntimeError(f"the proxy refused no-auth: {buf!r}")
            buf, phase = buf[2:], 2
            send_small(sock, self.request)
        if phase == 2:
            need = reply_length(buf)
            if need is not None and len(buf) >= need:
                if buf[1] != 0 or len(buf) > need:
                    raise RuntimeError(f"bad reply {buf!r}")
                buf, phase = b"", 3
                send_small(sock, scale_payload(i, b"S5"))
        state[0], state[1] = phase, buf
        if phase == 3 and len(buf) >= 8:
            if buf != scale_payload(i, b"S5"):
                raise RuntimeError(f"echo {buf!r} for tunnel {i}")
            return True
        return False

    def echo_all(self, timeout: float) -> None:
        """With every tunnel open, one more 8-byte echo on each."""
        sel = selectors.DefaultSelector()
        deadline = time.perf_counter() + timeout
        try:
            for i, sock in enumerate(self.held):
                try:
                    send_small(sock, scale_payload(i, b"OK"))
                    sel.register(sock, selectors.EVENT_READ, [i, b""])
                except OSError as exc:
                    self.errors.append(f"second echo: {exc}")
            while sel.get_map():
                left = deadline - time.perf_counter()
                if left <= 0:
                    self.errors.extend(["second echo: no answer"] * len(sel.get_map()))
                    break
                for key, _ in sel.select(min(left, 1.0)):
                    sock, state = key.fileobj, key.data
                    assert isinstance(sock, socket.socket)
                    try:
                        chunk = sock.recv(64)
                        if not chunk:
                            raise ConnectionError("EOF")
                        state[1] += chunk
                        if len(state[1]) >= 8:
                            sel.unregister(sock)
                            if state[1] != scale_payload(state[0], b"OK"):
                                raise RuntimeError(f"second echo {state[1]!r}")
                    except (OSError, RuntimeError) as exc:
                        with contextlib.suppress(KeyError, ValueError):
                            sel.unregister(sock)
                        self.errors.append(f"second echo: {type(exc).__name__}: {exc}")
        finally:
            sel.close()

    def close(self, *, graceful: bool = True, timeout: float = IO_TIMEOUT) -> None:
        """Send ``BYE`` on every tunnel and wait for the target's EOF; then close them."""
        sel = selectors.DefaultSelector()
        try:
            for sock in self.held if graceful else ():
                with contextlib.suppress(OSError, RuntimeError):
                    send_small(sock, SCALE_BYE)
                    sel.register(sock, selectors.EVENT_READ)
            deadline = time.perf_counter() + timeout
            while sel.get_map() and (left := deadline - time.perf_counter()) > 0:
                for key, _ in sel.select(min(left, 1.0)):
                    sock = key.fileobj
                    assert isinstance(sock, socket.socket)
                    with contextlib.suppress(OSError):
                        sock.recv(64)  # EOF (or stray bytes: stop waiting for this one)
                    sel.unregister(sock)
        finally:
            sel.close()
            for sock in self.held:
                sock.close()
            self.held.clear()


def send_small(sock: socket.socket, data: bytes) -> None:
    if sock.send(data) != len(data):
        raise RuntimeError("short send of a few bytes")


def scale_limit(requested: int, proxy_fds: int) -> int:
    """The most tunnels that fit the proxy's RLIMIT_NOFILE (2 descriptors per tunnel)."""
    nofile = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    return max(0, min(requested, (nofile - proxy_fds - 32) // 2))


def bench_scale(cfg: argparse.Namespace) -> dict[str, Any]:
    requested = cfg.scale
    timeout = 2 * IO_TIMEOUT
    times: dict[str, list[float]] = {"direct": [], "proxied": []}
    errors: dict[str, list[str]] = {"direct": [], "proxied": []}
    meters: dict[str, Meter] = {}
    with EchoTargetProcess() as target, ProxyProcess() as proxy:
        for _ in range(20):  # warm-up, as in at_once
            with open_conn(target.addr, proxy.addr) as sock:
                sock.sendall(b"warm-up!")
                recv_exact(sock, 8)
        target.wait_idle()
        time.sleep(0.2)
        base_fds = proxy.fds()
        n = scale_limit(requested, base_fds)
        if n < 1:
            raise RuntimeError("RLIMIT_NOFILE leaves no room for tunnels")
        rss_before = proxy.rss_kib()
        rss_after = rss_closed = peak_fds = 0
        for rnd in range(cfg.scale_rounds):
            for mode, proxied in modes():
                log(f"scale: {n} {mode} …")
                run = ScaleRun(n, target.addr, proxy.addr if proxied else None)
                try:
                    with Meter(proxy) as meter:
                        run.open(SCALE_WINDOW, timeout)
                    run.echo_all(timeout)
                    if proxied and rnd == 0:
                        time.sleep(0.2)
                        rss_after, peak_fds = proxy.rss_kib(), proxy.fds()
                    held = len(run.held)
                finally:
                    run.close()
                target.wait_idle()
                if proxied and rnd == 0:
                    time.sleep(0.2)
                    rss_closed = proxy.rss_kib()
                times[mode].append(run.elapsed)
                errors[mode].extend(run.errors)
                if held + len(run.errors) < n:
                    errors[mode].append(f"{n - held - len(run.errors)} tunnels unaccounted for")
                if mode not in meters or run.elapsed <= min(times[mode]):
                    meters[mode] = meter
        proxy_log = proxy.stderr().strip()
    direct, proxied_t = min(times["direct"]), min(times["proxied"])
    per_tunnel_kib = (rss_after - rss_before) / n
    mem_1000 = per_tunnel_kib * 1000 / 1024
    mem_verdict = verdict("at_once_mem", mem_1000)
    nerr = len(errors["proxied"])
    met = nerr == 0 and n == requested
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)

    def sample(msgs: list[str]) -> list[str]:
        return sorted(set(msgs))[:5]

    return {
        "requested": requested,
        "count": n,
        "rounds": cfg.scale_rounds,
        "window": SCALE_WINDOW,
        "nofile": [soft, hard],
        "nofile_note": NOFILE_NOTE,
        "direct_ms": round(direct * 1e3, 1),
        "proxied_ms": round(proxied_t * 1e3, 1),
        "ratio": round(proxied_t / direct, 3),
        "errors": nerr,
        "direct_errors": len(errors["direct"]),
        "error_samples": sample(errors["proxied"] + errors["direct"]),
        "proxy_stderr": proxy_log[-500:],
        "proxy_fds_idle": base_fds,
        "proxy_fds_with_tunnels": peak_fds,
        "rss_before_mib": round(rss_before / 1024, 1),
        "rss_with_tunnels_mib": round(rss_after / 1024, 1),
        "rss_after_close_mib": round(rss_closed / 1024, 1),
        "rss_increase_mib": round((rss_after - rss_before) / 1024, 2),
        "rss_per_tunnel_kib": round(per_tunnel_kib, 2),
        "rss_increase_per_1000_mib": round(mem_1000, 2),
        "mem_target": mem_verdict["target"],
        "mem_met": mem_verdict["met"],
        "cpu": cpu_info(meters),
        "target": f"0 errors at {requested}",
        "met": met,
    }


# -- 5. ping-pong ------------------------------------------------------------------------


def bench_pingpong(cfg: argparse.Namespace) -> dict[str, Any]:
    with pinned(cfg.pin) as cpu:
        return {**_pingpong(cfg), "pinned_cpu": cpu}


def _pingpong(cfg: argparse.Namespace) -> dict[str, Any]:
    lat: dict[str, list[float]] = {"direct": [], "proxied": []}
    meters: dict[str, list[Meter]] = {"direct": [], "proxied": []}
    with ProxyProcess() as proxy:
        for _ in range(2):
            for mode, proxied in modes():
                target = EchoTarget()
                with open_conn(target.addr, proxy.addr if proxied else None) as sock:
                    for _ in range(200):
                        sock.sendall(b"x")
                        recv_exact(sock, 1)
                    times = lat[mode]
                    perf, send, recv = time.perf_counter, sock.send, sock.recv
                    with no_gc(), Meter(proxy) as meter:
                        for _ in range(cfg.pingpong // 2):
                            t0 = perf()
                            send(b"x")
                            if recv(1) != b"x":
                                raise RuntimeError("ping-pong: wrong byte or EOF")
                            times.append(perf() - t0)
                    meters[mode].append(meter)
                    sock.shutdown(socket.SHUT_WR)
                    target.join()
    p50 = {m: median(v) for m, v in lat.items()}
    p99 = {m: pct(v, 0.99) for m, v in lat.items()}
    ratio = p50["proxied"] / p50["direct"]

    def cores(m: str, attr: str) -> float:
        return round(sum(getattr(x, attr) for x in meters[m]) / sum(x.wall for x in meters[m]), 2)

    return {
        "round_trips": len(lat["proxied"]),
        "direct_p50_us": round(p50["direct"] * 1e6, 1),
        "direct_p99_us": round(p99["direct"] * 1e6, 1),
        "proxied_p50_us": round(p50["proxied"] * 1e6, 1),
        "proxied_p99_us": round(p99["proxied"] * 1e6, 1),
        "ratio": round(ratio, 3),
        "p99_ratio": round(p99["proxied"] / p99["direct"], 3),
        "cpu": {
            "client_target_direct": cores("direct", "cpu"),
            "client_target_proxied": cores("proxied", "cpu"),
            "proxy": cores("proxied", "pcpu"),
        },
        **verdict("pingpong", ratio),
    }


# -- 6. fixture and request overhead -----------------------------------------------------

_CONFTEST = """
import json, os

_durations = {}


def pytest_runtest_logreport(report):
    _durations[report.nodeid] = _durations.get(report.nodeid, 0.0) + report.duration


def pytest_sessionfinish(session):
    with open(os.environ["BENCH_DURATIONS"], "w") as f:
        json.dump(_durations, f)
"""


def bench_fixture(cfg: argparse.Namespace) -> dict[str, Any]:
    """Wall time of pytest runs: 300 tests using ``socks5_server`` against 300 using no
    fixture (and, for reference, 300 using a no-op yield fixture)."""
    n = cfg.fixture_tests
    kinds = ("without", "noop", "with")
    walls: dict[str, list[float]] = {k: [] for k in kinds}
    per_test: dict[str, list[float]] = {k: [] for k in kinds}
    with tempfile.TemporaryDirectory(prefix="socks5-bench-") as tmp:
        d = Path(tmp)
        (d / "pytest.ini").write_text("[pytest]\n")
        (d / "conftest.py").write_text(_CONFTEST)
        tests = {
            "with": "".join(f"def test_{i}(socks5_server):\n    pass\n\n\n" for i in range(n)),
            "without": "".join(f"def test_{i}():\n    pass\n\n\n" for i in range(n)),
            "noop": "import pytest\n\n\n@pytest.fixture\ndef noop():\n    yield 1\n\n\n"
            + "".join(f"def test_{i}(noop):\n    pass\n\n\n" for i in range(n)),
        }
        for kind, text in tests.items():
            (d / f"test_{kind}.py").write_text(text)
        durations = d / "durations.json"
        env = clean_env(BENCH_DURATIONS=str(durations))
        cmd = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q"]
        for _ in range(cfg.fixture_runs):
            for kind in kinds:
                t0 = time.perf_counter()
                out = run_child([*cmd, f"test_{kind}.py"], timeout=120, env=env, cwd=tmp)
                walls[kind].append(time.perf_counter() - t0)
                if f"{n} passed" not in out:
                    raise RuntimeError(f"pytest run of test_{kind}.py:\n{out[-2000:]}")
                per_test[kind].append(sum(json.loads(durations.read_text()).values()) / n)
    base = min(walls["without"])
    wall_ms = (min(walls["with"]) - base) / n * 1e3
    noop_ms = (min(walls["noop"]) - base) / n * 1e3
    phases_ms = (min(per_test["with"]) - min(per_test["without"])) * 1e3
    return {
        "tests": n,
        "runs": cfg.fixture_runs,
        "without_s": round(base, 3),
        "with_s": round(min(walls["with"]), 3),
        "noop_fixture_s": round(min(walls["noop"]), 3),
        "ms_per_test": round(wall_ms, 4),
        "ms_per_test_from_phase_durations": round(phases_ms, 4),
        "noop_fixture_ms_per_test": round(noop_ms, 4),
        **verdict("fixture", wall_ms),
    }


def bench_request(cfg: argparse.Namespace) -> dict[str, Any]:
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    import requests

    from pytest_socks5 import SOCKS5Server

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer((LOOPBACK, 0), Handler)
    httpd.daemon_threads = True
    serve = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    serve.start()
    url = f"http://{LOOPBACK}:{httpd.server_address[1]}/"
    lat: dict[str, list[float]] = {"direct": [], "proxied": []}
    try:
        with (
            SOCKS5Server(LOOPBACK) as server,
            requests.Session() as direct,
            requests.Session() as via,
        ):
            direct.trust_env = via.trust_env = False
            via.proxies = {"http": f"socks5://{LOOPBACK}:{server.port}"}
            sessions = {"direct": direct, "proxied": via}
            for i in range(20 + cfg.requests):
                for mode, session in sessions.items():
                    t0 = time.perf_counter()
                    r = session.get(url, timeout=IO_TIMEOUT)
                    dt = time.perf_counter() - t0
                    if r.status_code != 200 or r.content != b"ok":
                        raise RuntimeError(f"{mode} request failed: {r.status_code}")
                    if i >= 20:
                        lat[mode].append(dt)
            if len(server.connections) != 20 + cfg.requests:
                raise RuntimeError(
                    f"expected one proxy connection per request, got {len(server.connections)}"
                )
    finally:
        httpd.shutdown()
        httpd.server_close()
        serve.join(IO_TIMEOUT)
    added = (median(lat["proxied"]) - median(lat["direct"])) * 1e3
    mean_added = (sum(lat["proxied"]) - sum(lat["direct"])) / cfg.requests * 1e3
    return {
        "requests": cfg.requests,
        "direct_median_ms": round(median(lat["direct"]) * 1e3, 3),
        "proxied_median_ms": round(median(lat["proxied"]) * 1e3, 3),
        "ms_added": round(added, 3),
        "ms_added_mean": round(mean_added, 3),
        **verdict("request", added),
    }


# -- 7. start and stop -------------------------------------------------------------------


def bench_startstop(cfg: argparse.Namespace) -> dict[str, Any]:
    from pytest_socks5 import SOCKS5Server

    SOCKS5Server(LOOPBACK).start().stop()
    starts, stops = [], []
    for _ in range(cfg.startstop):
        t0 = time.perf_counter()
        server = SOCKS5Server(LOOPBACK).start()
        t1 = time.perf_counter()
        server.stop()
        t2 = time.perf_counter()
        starts.append(t1 - t0)
        stops.append(t2 - t1)
    start_ms, stop_ms = median(starts) * 1e3, median(stops) * 1e3
    start_v, stop_v = verdict("start", start_ms), verdict("stop", stop_ms)
    return {
        "count": cfg.startstop,
        "start_ms": round(start_ms, 3),
        "start_max_ms": round(max(starts) * 1e3, 3),
        "stop_ms": round(stop_ms, 3),
        "stop_max_ms": round(max(stops) * 1e3, 3),
        "start_target": start_v["target"],
        "start_met": start_v["met"],
        "stop_target": stop_v["target"],
        "stop_met": stop_v["met"],
        "met": start_v["met"] and stop_v["met"],
    }


# -- output ------------------------------------------------------------------------------

SUBPROCESS = "proxy: separate process (python -m pytest_socks5)"
IN_PROCESS = "proxy: in-process SOCKS5Server (thread)"


def table_rows(results: dict[str, dict[str, Any]]) -> list[list[str]]:
    rows: list[list[str]] = []

    def add(*cells: Any, met: bool | None = None) -> None:
        status = "" if met is None else ("met" if met else "gap")
        rows.append([*(str(c) for c in cells), status])

    def ratio(title: str, metric: str, r: dict[str, Any], d: str, p: str) -> None:
        add(title, metric, r[d], r[p], f"{r['ratio']:.2f}x", f"{r['target']}x", met=r["met"])

    def cpu(r: dict[str, Any]) -> None:
        c = r["cpu"]
        proxied = f"{c['client_target_proxied']} / {c['proxy']}"
        add("", "cpu cores: client+target / proxy", c["client_target_direct"], proxied, "", "")

    if r := results.get("oneway"):
        ratio(f"one-way {r['mib']} MiB", "MB/s", r, "direct_mb_s", "proxied_mb_s")
        cpu(r)
    if r := results.get("echo"):
        ratio(f"echo {r['mib']} MiB", "MB/s each way", r, "direct_mb_s", "proxied_mb_s")
        cpu(r)
    if r := results.get("parallel"):
        for k, t in r["tunnels"].items():
            title = f"parallel {k} x {r['mib'] / int(k):g} MiB"
            add(
                title,
                "MB/s, all tunnels",
                t["direct_mb_s"],
                t["proxied_mb_s"],
                f"{t['ratio']:.2f}x",
                "",
            )
            cpu(t)
    if r := results.get("handshake"):
        ratio(f"handshake x{r['count']}", "per second", r, "direct_per_s", "proxied_per_s")
        add("", "latency p50 µs", r["direct_p50_us"], r["proxied_p50_us"], "", "")
        add("", "latency p99 µs", r["direct_p99_us"], r["proxied_p99_us"], "", "")
        cpu(r)
    if r := results.get("at_once"):
        ratio(f"{r['count']} at once", "ms until all established", r, "direct_ms", "proxied_ms")
        scaled = "" if r["count"] == 1000 else f" (result x{1000 / r['count']:g})"
        add(
            "",
            f"proxy RSS increase MiB{scaled}",
            "-",
            r["rss_increase_mib"],
            f"{r['rss_increase_per_1000_mib']:.1f} MiB/1000",
            f"{r['mem_target']} MiB",
            met=r["mem_met"],
        )
        cpu(r)
    if r := results.get("scale"):
        title = f"scale {r['count']} tunnels"
        if r["count"] != r["requested"]:
            title += f" (of {r['requested']})"
        metric = "ms until all open + echoed"
        add(title, metric, r["direct_ms"], r["proxied_ms"], f"{r['ratio']:.2f}x", "")
        errs = f"{r['errors']} errors"
        add("", "failed tunnels", r["direct_errors"], r["errors"], errs, r["target"], met=r["met"])
        add(
            "",
            "proxy RSS increase MiB",
            "-",
            r["rss_increase_mib"],
            f"{r['rss_per_tunnel_kib']:.1f} KiB/tunnel, "
            f"{r['rss_increase_per_1000_mib']:.1f} MiB/1000",
            f"{r['mem_target']} MiB",
            met=r["mem_met"],
        )
        add(
            "",
            "proxy open fds, idle / with tunnels",
            "",
            f"{r['proxy_fds_idle']} / {r['proxy_fds_with_tunnels']}",
            "",
            "",
        )
        cpu(r)
    if r := results.get("pingpong"):
        ratio(f"ping-pong x{r['round_trips']}", "RTT p50 µs", r, "direct_p50_us", "proxied_p50_us")
        add(
            "", "RTT p99 µs", r["direct_p99_us"], r["proxied_p99_us"], f"{r['p99_ratio']:.2f}x", ""
        )
        cpu(r)
    if r := results.get("fixture"):
        add(
            f"fixture x{r['tests']}",
            f"pytest wall s (min of {r['runs']})",
            r["without_s"],
            r["with_s"],
            f"{r['ms_per_test']:.3f} ms/test",
            f"{r['target']} ms",
            met=r["met"],
        )
        per_phase = f"{r['ms_per_test_from_phase_durations']:.3f} ms/test"
        add("", "same, from phase durations", "", "", per_phase, "")
        noop = f"{r['noop_fixture_ms_per_test']:.3f} ms/test"
        add("", "ref: no-op yield fixture", "", r["noop_fixture_s"], noop, "")
    if r := results.get("request"):
        add(
            f"requests.get x{r['requests']}",
            "median ms",
            r["direct_median_ms"],
            r["proxied_median_ms"],
            f"+{r['ms_added']:.3f} ms",
            f"{r['target']} ms",
            met=r["met"],
        )
    if r := results.get("startstop"):
        title = f"SOCKS5Server x{r['count']}"
        for i, what in enumerate(("start", "stop")):
            value = f"{r[what + '_ms']:.2f} ms"
            target = f"{r[what + '_target']} ms"
            metric = f"{what}() ms, median"
            add(
                title if i == 0 else "",
                metric,
                "",
                r[what + "_ms"],
                value,
                target,
                met=r[what + "_met"],
            )
    return rows


def print_table(results: dict[str, dict[str, Any]], errors: dict[str, str]) -> None:
    header = ["benchmark", "metric", "direct", "proxied", "result", "target", ""]
    rows = table_rows(results)
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    line = "  ".join("-" * w for w in widths)
    print(line)
    print("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)))
    print(line)
    for row in rows:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
    print(line)
    net = [n for n in NETWORK if n in results and n != "scale"]
    if net:
        print(f"{', '.join(net)}: {SUBPROCESS}; client and targets: threads of this process")
    if r := results.get("scale"):
        print(
            f"scale: {SUBPROCESS}; client: one selectors loop; echo target: a third process; "
            f"at most {r['window']} tunnels connecting at a time; "
            f"RLIMIT_NOFILE {r['nofile'][0]}"
            + (f" ({r['nofile_note']})" if r["nofile_note"] else "")
        )
        if r["error_samples"]:
            print(f"scale errors, for example: {'; '.join(r['error_samples'])}")
        if r["proxy_stderr"]:
            print(f"scale: the proxy's stderr: {r['proxy_stderr']}")
    pins = {n: r["pinned_cpu"] for n, r in results.items() if r.get("pinned_cpu") is not None}
    if pins:
        cpus = sorted(set(pins.values()))
        print(f"{', '.join(pins)}: client, targets and proxy pinned to CPU {cpus[0]} (--no-pin)")
    local = [n for n in ("fixture", "request", "startstop") if n in results]
    if local:
        loop = f" (default loop: {' '.join(PROXY_ARGS)} does not apply)" if PROXY_ARGS else ""
        print(f"{', '.join(local)}: {IN_PROCESS}{loop}")
    for name, err in errors.items():
        print(f"ERROR in {name}: {err}")


BENCHES: dict[str, Callable[[argparse.Namespace], dict[str, Any]]] = {
    "oneway": bench_oneway,
    "echo": bench_echo,
    "parallel": bench_parallel,
    "handshake": bench_handshake,
    "at_once": bench_at_once,
    "scale": bench_scale,
    "pingpong": bench_pingpong,
    "fixture": bench_fixture,
    "request": bench_request,
    "startstop": bench_startstop,
}


#: Why RLIMIT_NOFILE is lower than WANT_NOFILE, if it is.
NOFILE_NOTE = ""


def raise_nofile() -> int:
    """RLIMIT_NOFILE to WANT_NOFILE, soft and hard (raising the hard limit needs
    CAP_SYS_RESOURCE), else the soft limit to the hard one. The children inherit it."""
    global NOFILE_NOTE
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < WANT_NOFILE:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (WANT_NOFILE, WANT_NOFILE))
        except (ValueError, OSError) as exc:
            NOFILE_NOTE = f"raising the hard limit {hard} to {WANT_NOFILE} failed: {exc}"
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard > soft:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def main(argv: list[str] | None = None) -> int:
    global QUIET
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (CI smoke check)")
    parser.add_argument(
        "--proxy-arg",
        action="append",
        default=[],
        metavar="ARG",
        help="extra argument for the proxy process, e.g. --proxy-arg=--uvloop",
    )
    parser.add_argument("--json-only", action="store_true", help="print only the JSON line")
    parser.add_argument("--only", nargs="+", choices=NAMES, metavar="NAME", help=str(NAMES))
    parser.add_argument(
        "--no-pin",
        dest="pin",
        action="store_false",
        help="do not pin handshake and ping-pong (client, target, proxy) to one CPU",
    )
    parser.add_argument("--echo-target", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.echo_target:  # the child process of the scale benchmark
        return serve_echo_target()
    PROXY_ARGS.extend(args.proxy_arg)
    QUIET = args.json_only
    for key, (full, quick) in SIZES.items():
        setattr(args, key, quick if args.quick else full)
    args.rounds = 3
    args.scale_rounds = 2
    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGHUP, _on_signal)
    atexit.register(_kill_children)
    for key in list(os.environ):
        if key.lower().endswith("_proxy"):
            del os.environ[key]
    _start_watchdog(180 if args.quick else 900)
    nofile = raise_nofile()
    if args.at_once * 2 + 100 > nofile:
        print(f"RLIMIT_NOFILE is {nofile}: too low for {args.at_once} tunnels", file=sys.stderr)
        return 2

    selected = args.only or list(NAMES)
    if "fixture" in selected and "request" not in selected:
        selected.append("request")  # item 6 of the issue covers both
    results: dict[str, dict[str, Any]] = {}
    errors: dict[str, str] = {}
    load_before = os.getloadavg()[0]
    if load_before > 0.5:
        log(f"warning: load average is {load_before:.2f}: other work may disturb the results")
    started = time.perf_counter()
    try:
        for name in NAMES:
            if name not in selected:
                continue
            log(f"{name} …")
            t0 = time.perf_counter()
            try:
                results[name] = BENCHES[name](args)
            except Exception as exc:
                errors[name] = f"{type(exc).__name__}: {exc}"
                log(f"{name} FAILED: {errors[name]}")
            finally:
                _kill_children()
            log(f"{name} done in {time.perf_counter() - t0:.1f}s")
    finally:
        _kill_children()
        _FINISHED.set()

    elapsed = time.perf_counter() - started
    checks = []
    for r in results.values():
        for k in ("met", "mem_met", "start_met", "stop_met"):
            if k in r and not (k == "met" and "start_met" in r):
                checks.append(bool(r[k]))
    if not args.json_only:
        print_table(results, errors)
        print(
            f"targets met: {sum(checks)}/{len(checks)}; {elapsed:.1f}s; "
            f"{'quick' if args.quick else 'full'} run; "
            f"{os.cpu_count()} CPUs; load average {load_before:.2f} before, "
            f"{os.getloadavg()[0]:.2f} after; Python {platform.python_version()}"
        )
    summary = {
        "benchmark": "pytest-socks5",
        "quick": args.quick,
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "loadavg_before": round(load_before, 2),
        "loadavg_after": round(os.getloadavg()[0], 2),
        "proxy_args": PROXY_ARGS,
        "nofile": list(resource.getrlimit(resource.RLIMIT_NOFILE)),
        "proxy_mode": {
            ",".join(NETWORK): "subprocess (python -m pytest_socks5)",
            "scale target": "subprocess (bench.py --echo-target)",
            "fixture,request,startstop": "in-process SOCKS5Server thread",
        },
        "results": results,
        "errors": errors,
        "targets_met": sum(checks),
        "targets_total": len(checks),
        "elapsed_s": round(elapsed, 1),
    }
    print(json.dumps(summary, ensure_ascii=False), flush=True)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
