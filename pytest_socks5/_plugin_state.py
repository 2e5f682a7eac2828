"""What the pytest plugin keeps per session and per test: its settings and the servers a
test used.

Strategy: plain dataclasses, kept apart from ``plugin.py`` for its size; the plugin fills
them (it alone imports pytest) and the report code reads them. Beside them, what the
plugin does with files and servers that needs no pytest: the session's settings made
from each option's value (:func:`settings_from`), the output directories checked at the
start (:func:`output_dir`), a fixture's server started with a one-line failure
(:func:`start`) or started again after a test stopped it (:func:`restart`), and each
test's capture and record file written (:func:`write_pcap`,
:func:`append_records`). The plugin loads this module in every run, so what only a proxy
needs (the server, captures, record files) is imported by the functions that use it,
with the first test that asks for a proxy.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._chaos_settings import session_seed
from ._option_model import Option
from ._options import Site, option

if TYPE_CHECKING:  # the server's side is imported with the first proxy a test asks for
    from ._chaos import Chaos
    from ._leak_watch import TestLeaks
    from ._records import ConnectionRecord
    from ._server import SOCKS5Server

__all__ = [
    "SETTLE_TIMEOUT",
    "Settings",
    "TestRun",
    "Watched",
    "append_records",
    "given_as",
    "header_lines",
    "output_dir",
    "restart",
    "settings_from",
    "start",
    "transcript_text",
    "write_pcap",
]

#: Seconds a failing test's report waits for its open connections to finish.
SETTLE_TIMEOUT = 0.25


@dataclass(frozen=True)
class Settings:
    """The ini and command-line options, read once per session."""

    transcript: str
    record_dir: Path | None
    pcap_dir: Path | None
    show_passwords: bool
    #: ``leak_guard`` from the ini option or flag: ``None`` off, else allowed patterns.
    leak_guard: tuple[str, ...] | None
    host: str
    #: Where ``host`` was given, for a message: ``--socks5-host ::1``.
    host_given: str
    #: Chaos mode's rate (0: off) and the session's seed (``_chaos_settings.session_seed``).
    chaos: float
    chaos_seed: int
    #: :class:`SOCKS5Server` arguments: the fixtures' defaults, under whatever
    #: ``socks5_server_options`` returns and under the marker.
    server_defaults: dict[str, Any]

    def listen_given(self, address: tuple[str, int]) -> str:
        """Where the session server's address was given."""
        return self.host_given if address == (self.host, 0) else "socks5_listen_address"


@dataclass
class Watched:
    """A server a test used: its label in reports and, after teardown, its final records."""

    label: str
    server: SOCKS5Server
    final: tuple[ConnectionRecord, ...] | None = None
    chaos: Chaos | None = None
    #: The test's call already failed with an exception the user's own code raised.
    failed_call: bool = False

    def fail_call(self) -> None:
        """After the test's body passed: fail it with the first exception the user's own
        code (a hook, a validator…) raised while the server called it. A bug waits for
        teardown (:meth:`fail_teardown`), as does an exception raised after the body."""
        __tracebackhide__ = True
        from ._guard import failure, user_error

        errors = self.server.errors
        if failure(errors, bugs_only=True) is None and (error := user_error(errors)):
            self.failed_call = True
            raise error

    def fail_teardown(self) -> None:
        """At teardown: :class:`ServerError` for a bug, else the first exception the
        user's own code raised (unless the call failed with it)."""
        __tracebackhide__ = True
        from ._guard import failure

        error = failure(self.server.errors, bugs_only=self.failed_call)
        if error is not None:
            raise error

    def records(self) -> tuple[ConnectionRecord, ...]:
        return self.final if self.final is not None else tuple(self.server.connections)


@dataclass
class TestRun:
    """One run of a test's protocol (setup, call, teardown): the servers it used, its
    leak watch and its record file. The plugin makes one with the test's first proxy and
    drops it before the test's next setup, so an attempt that pytest-rerunfailures runs
    again starts from nothing: it is not failed by the errors, leaks or records of the
    attempt before, and writes its files afresh."""

    __test__ = False  # not a test class, whatever pytest collects

    watched: list[Watched] = field(default_factory=list)
    leaks: TestLeaks | None = None
    record_file: Path | None = None


def header_lines(settings: Settings) -> list[str]:
    """The report header: where the session server listens (no port: it is picked when a
    test first asks for it, and again if a test stops it), its users, event loop, chaos."""
    from . import __version__
    from ._chaos_settings import header
    from ._option_parsers import resolve_loop

    users = settings.server_defaults["users"]
    auth = f", {len(users)} user(s) required" if users else ""
    loop = resolve_loop(settings.server_defaults.get("loop", "auto"))
    lines = [
        f"pytest-socks5 {__version__}: socks5_server listens on {settings.host}{auth} "
        f"(started on first use), event loop {loop}"
    ]
    return lines + ([header(settings.chaos, settings.chaos_seed)] if settings.chaos else [])


def given_as(one: Option, source: str, value: Any) -> str:
    """Where an option's value came from, in a message: ``--socks5-host ::1``, ``ini
    option socks5_host = ::1``, ``the default socks5_host 127.0.0.1``."""
    if source == "command line" and one.flag is not None:
        return f"{one.flag.name} {value}"
    if source == "ini":
        return f"ini option {one.ini_name} = {value}"
    return f"the default {one.ini_name} {value}"


def output_dir(one: Option, value: str, source: str, root: Path, here: Path) -> Path | None:
    """``socks5_record_dir`` or ``socks5_pcap`` as a directory (``""``: off): the ini's
    relative to the rootdir, the command line's to the current directory. Made now, so a
    directory that cannot be is one usage error at the start, not an error in the
    teardown of every test: :class:`ValueError` naming where it was given and the path."""
    if not value:
        return None
    path = (root if source == "ini" else here) / value
    try:
        path.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        reason = "a file, not a directory"
    except OSError as exc:
        at = f" ({exc.filename})" if exc.filename and str(exc.filename) != str(path) else ""
        reason = f"{exc.strerror or exc}{at}"
    else:
        if os.access(path, os.W_OK | os.X_OK):
            return path
        reason = "not writable"
    flag = one.flag.name if one.flag is not None else ""
    where = flag if source == "command line" else f"ini option {one.ini_name}"
    raise ValueError(
        f"pytest-socks5: {where}: cannot write to the directory {str(path)!r}: {reason}"
    )


def settings_from(
    values: dict[str, Any],
    sources: dict[str, str],
    *,
    seed: int | None,
    root: Path,
    here: Path,
    worker: dict[str, object],
    randomly: object,
) -> Settings:
    """The session's settings from each option's checked value and where it came from
    (``sources``); ``seed``: the one given, if any. A record or capture directory that
    cannot be made or written to is a :class:`ValueError` (:func:`output_dir`)."""
    dirs = [
        output_dir(option(n), values[n], sources[n], root, here) for n in ("record_dir", "pcap")
    ]
    return Settings(
        transcript=values["transcript"],
        record_dir=dirs[0],
        pcap_dir=dirs[1],
        show_passwords=values["show_passwords"],
        leak_guard=option("leak_guard").normalise(values["leak_guard"]),
        host=values["host"],
        host_given=given_as(option("host"), sources["host"], values["host"]),
        chaos=values["chaos"],
        chaos_seed=session_seed(worker, seed, randomly),
        server_defaults={
            name: value
            for name, value in values.items()
            if Site.CONSTRUCTOR in option(name).sites and name != "host"
        },
    )


def start(server: SOCKS5Server, given: str | None = None) -> str | None:
    """Start ``server``: ``None``, or why it cannot listen, in one line that names where
    its address was given (a busy port or an address that is not local is the user's);
    by default, as keyword arguments."""
    from ._server_addresses import listen_failure

    host, port = server._listen_host, server._engine.requested_port
    try:
        server.start()
    except OSError as exc:
        return listen_failure(host, port, exc, given or f"host={host!r}, port={port!r}")
    return None


def restart(server: SOCKS5Server, given: str) -> str | None:
    """Start again the session server a test stopped (``stop()``: "the proxy went away"),
    so that the next test gets a running one: on the port it had, if that can be bound
    (the URLs and environment a client kept stay true), else — when its port was picked
    free — on a new one. ``None``, or why it cannot listen (:func:`start`)."""
    engine = server._engine
    asked = engine.requested_port
    had = engine.sockets[0][1] if engine.sockets else 0
    if asked == 0 and had:
        engine.requested_port = had
        try:
            if start(server) is None:
                return None
        finally:
            engine.requested_port = asked
    return start(server, given)


def write_pcap(directory: Path, nodeid: str, watched: list[Watched]) -> None:
    """Write a test's pcapng file, whole: every finished connection of its servers."""
    from ._pcap import pcap_file_name, pcapng_bytes
    from ._record_files import record_file_name

    directory.mkdir(parents=True, exist_ok=True)
    done = [(w.server.address, w.final) for w in watched if w.final]
    (directory / pcap_file_name(record_file_name(nodeid))).write_bytes(pcapng_bytes(done))


def append_records(
    path: Path | None, directory: Path, nodeid: str, watched: Watched, show_password: bool
) -> Path:
    """Add a server's final records to a test's record file (made in ``directory`` when
    ``path`` is ``None``, the test's first); return its path."""
    from ._record_files import json_line, record_file_name

    mode = "a"
    if path is None:
        directory.mkdir(parents=True, exist_ok=True)
        path, mode = directory / record_file_name(nodeid), "w"
    with path.open(mode, encoding="utf-8") as out:
        for record in watched.final or ():
            line = record.to_dict(show_password=show_password)
            out.write(json_line({"test": nodeid, "proxy": watched.label, **line}))
    return path


def transcript_text(
    watched: list[Watched], show_passwords: bool, failed: bool, leak_lines: str | None
) -> str:
    """The transcript section of a test's report: each server's records, then the leak
    guard's lines (if any)."""
    from ._transcript import render_transcript

    if failed:
        # A client that failed a moment ago may still be closing: give the records of
        # open connections a moment to say how they ended.
        for w in watched:
            if w.final is None:
                w.server._recorder.wait_settled(SETTLE_TIMEOUT)
    parts = [
        render_transcript(w.records(), title=w.label, show_password=show_passwords)
        for w in watched
    ]
    return "\n\n".join(parts if leak_lines is None else [*parts, leak_lines])
