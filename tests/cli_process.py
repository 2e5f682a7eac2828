"""``python -m pytest_socks5`` as a real subprocess, read line by line with timeouts.

Two reader threads put each line of stdout and stderr on a queue, so a test waits for the
line it needs (or fails after a timeout) and never sleeps.
"""

from __future__ import annotations

import contextlib
import os
import queue
import signal
import subprocess
import sys
import threading
from collections.abc import Sequence
from typing import IO

__all__ = ["CLI", "CliProcess", "run_cli"]

CLI = (sys.executable, "-m", "pytest_socks5")
TIMEOUT = 15.0


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    """Run the CLI to completion (for arguments it refuses at once)."""
    return subprocess.run(
        [*CLI, *args], capture_output=True, text=True, encoding="utf-8", timeout=30
    )


class CliProcess:
    """A running CLI (or a shell command that starts one): its lines as they come."""

    def __init__(self, command: Sequence[str]) -> None:
        self.proc = subprocess.Popen(
            list(command),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            text=True,
            encoding="utf-8",
            # its own process group, so close() also ends what a shell started in it
            start_new_session=True,
        )
        self.out: queue.Queue[str | None] = queue.Queue()
        self.err: queue.Queue[str | None] = queue.Queue()
        self.err_lines: list[str] = []
        self._readers = [
            threading.Thread(target=self._read, args=(stream, q), daemon=True)
            for stream, q in ((self.proc.stdout, self.out), (self.proc.stderr, self.err))
        ]
        for reader in self._readers:
            reader.start()

    @classmethod
    def start(cls, *args: str) -> CliProcess:
        return cls([*CLI, *args])

    @staticmethod
    def _read(stream: IO[str] | None, lines: queue.Queue[str | None]) -> None:
        assert stream is not None
        for line in stream:
            lines.put(line.rstrip("\n"))
        lines.put(None)

    def line(self, *, stream: str = "out", timeout: float = TIMEOUT) -> str:
        """The next line of ``stream`` ("out" or "err"); fails on EOF or timeout."""
        lines = self.out if stream == "out" else self.err
        try:
            line = lines.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"no line on std{stream} within {timeout} s") from None
        if line is None:
            err = self.rest_of_err() if stream == "out" else self.err_lines
            raise AssertionError(f"std{stream} ended; stderr: {err!r}")
        if stream == "err":
            self.err_lines.append(line)
        return line

    def wait_for(self, text: str, *, stream: str = "out", timeout: float = TIMEOUT) -> str:
        """The first line of ``stream`` containing ``text`` (the lines before it are read)."""
        while True:
            line = self.line(stream=stream, timeout=timeout)
            if text in line:
                return line

    def port(self) -> int:
        """The port from the banner (the first line of stdout)."""
        banner = self.wait_for("pytest-socks5 listening on ")
        return int(banner.rsplit(":", 1)[1])

    def rest_of_err(self) -> list[str]:
        """The remaining stderr lines, once the process has closed it."""
        rest = []
        while (line := self.err.get(timeout=TIMEOUT)) is not None:
            rest.append(line)
        self.err_lines.extend(rest)
        return rest

    def signal(self, signum: signal.Signals) -> None:
        self.proc.send_signal(signum)

    def wait(self, timeout: float = TIMEOUT) -> int:
        return self.proc.wait(timeout=timeout)

    def close(self) -> None:
        """Kill what a test left running (the whole process group it started), and reap it."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=TIMEOUT)
        for reader in self._readers:
            reader.join(TIMEOUT)
        if not any(reader.is_alive() for reader in self._readers):
            for stream in (self.proc.stdout, self.proc.stderr):
                if stream is not None:
                    stream.close()

    def __enter__(self) -> CliProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
