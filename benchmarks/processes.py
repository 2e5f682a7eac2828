"""The child processes: the proxy under test, the ``scale`` echo target, and their cleanup.

Strategy: every child is registered in ``CHILDREN`` and killed on exit, error, SIGTERM or
when the watchdog's time budget runs out, so an aborted run leaves no process behind. A
child announces its address on its first stdout line, read with a deadline.
"""

from __future__ import annotations

import contextlib
import os
import re
import selectors
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from . import settings
from .settings import CLK_TCK, IO_TIMEOUT, LOOPBACK, PROXY_ARGS, ROOT, clean_env

CHILDREN: set[subprocess.Popen[bytes]] = set()

FINISHED = threading.Event()


def kill_children() -> None:
    for proc in list(CHILDREN):
        if proc.poll() is None:
            with contextlib.suppress(OSError):
                proc.kill()
            with contextlib.suppress(Exception):
                proc.wait(5)
        CHILDREN.discard(proc)


def start_watchdog(seconds: float) -> None:
    def watch() -> None:
        if not FINISHED.wait(seconds):
            print(f"[bench] time budget of {seconds:.0f}s exceeded: aborting", file=sys.stderr)
            kill_children()
            os._exit(3)

    threading.Thread(target=watch, name="watchdog", daemon=True).start()


def on_signal(signum: int, _frame: Any) -> None:
    print(f"[bench] stopped by signal {signum}", file=sys.stderr, flush=True)
    raise SystemExit(128 + signum)


def spawn(cmd: list[str], **kwargs: Any) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, env=clean_env(), **kwargs)
    CHILDREN.add(proc)
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
    CHILDREN.add(proc)
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate(timeout=5)
        raise RuntimeError(f"{' '.join(cmd)} took more than {timeout}s") from None
    finally:
        CHILDREN.discard(proc)
    text = out.decode(errors="replace")
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {proc.returncode}:\n{text[-3000:]}")
    return text


def pss_kib(pid: int) -> int:
    """Proportional set size of process ``pid`` in KiB: its private pages plus its share of
    the pages it shares (``Pss:`` of ``/proc/PID/smaps_rollup``, else summed from
    ``smaps``)."""
    for name in ("smaps_rollup", "smaps"):
        try:
            with open(f"/proc/{pid}/{name}") as f:
                total = sum(int(line.split()[1]) for line in f if line.startswith("Pss:"))
        except FileNotFoundError:
            continue
        if total:
            return total
    raise RuntimeError(f"no Pss for process {pid}")


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


class ProxyProcess:
    """``python -m pytest_socks5 --port 0 --quiet [--loop LOOP]`` in a child process.

    ``start_s`` is the time from spawning it to its first line (the listening banner)."""

    def __init__(self) -> None:
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 (closed in stop())
        loop = ["--loop", settings.LOOP] if settings.LOOP else []
        cmd = [sys.executable, "-m", "pytest_socks5", "--port", "0", "--quiet", *loop]
        t0 = time.perf_counter()
        self.proc = spawn(
            [*cmd, *PROXY_ARGS], stdout=subprocess.PIPE, stderr=self._stderr, cwd=str(ROOT)
        )
        try:
            line = self._first_line(15.0)
            self.start_s = time.perf_counter() - t0
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
        # pread: the child writes through the same file offset, so it must not move.
        fd = self._stderr.fileno()
        return os.pread(fd, os.fstat(fd).st_size, 0).decode(errors="replace")[-3000:]

    def loop_name(self, timeout: float = 5.0) -> str:
        """The event loop the proxy says it runs (its stderr line after the banner)."""
        deadline = time.monotonic() + timeout
        while not (m := re.search(r"pytest-socks5[^:]*: event loop (\w+)", self.stderr())):
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise RuntimeError(f"the proxy did not name its event loop: {self.stderr()}")
            time.sleep(0.005)
        return m.group(1)

    def pss_kib(self) -> int:
        return pss_kib(self.proc.pid)

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
        CHILDREN.discard(proc)
        self._stderr.close()

    def __enter__(self) -> ProxyProcess:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *exc: object) -> None:
        self.stop(graceful=exc_type is None)


class EchoTargetProcess:
    """``bench.py --echo-target`` in a child process (its own file-descriptor limit)."""

    def __init__(self) -> None:
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 (closed in stop())
        self._pending = bytearray()
        self.proc = subprocess.Popen(
            [sys.executable, str(ROOT / "benchmarks" / "bench.py"), "--echo-target"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            env=clean_env(),
            cwd=str(ROOT),
        )
        CHILDREN.add(self.proc)
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
        CHILDREN.discard(self.proc)
        self._stderr.close()

    def __enter__(self) -> EchoTargetProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
