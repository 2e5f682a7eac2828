"""The audit hooks (:func:`sys.addaudithook`) that see the test process's name lookups
and connects, and note those of the client into the current test's
:class:`~._leaks.LeakLog`.

Strategy: the hooks are installed on first use and cannot be removed. They are C
callables that run no Python for any event but the socket events kept
(``socket.getaddrinfo``, ``gethostbyname``, ``gethostbyname_ex``, ``gethostbyaddr``,
``connect``; :class:`_EventSink` says why). For those, while no log is current (a test
that uses no proxy fixture) the handler returns after one check of a module global. With
a log it drops address literals, the proxies' own names and listen addresses, a server's
threads (named ``pytest-socks5 …``: its loop thread and its executor's) and anything
with a frame of this package's server on the stack; then it notes the call with the
first frame outside the standard library, site-packages and this package. What never
reaches a Python socket call (a subprocess, a resolver in C such as uvloop's or c-ares,
raw syscalls) is not seen."""

from __future__ import annotations

import functools
import os
import site
import sys
import sysconfig
import threading
from collections.abc import Callable
from types import FrameType
from typing import Any

from ._checks import is_address
from ._leaks import Leak, LeakLog, is_loopback

__all__ = ["PROXY_THREAD_PREFIX", "current", "install", "start", "stop"]

#: The name of every thread a server runs (``LoopThread`` and its executor's).
PROXY_THREAD_PREFIX = "pytest-socks5 "

_log: LeakLog | None = None
_installed = False
_install_lock = threading.Lock()

#: Modules of the package whose frames are the test's client, not the proxy.
_CLIENT_MODULES = frozenset({"pytest_socks5.rawclient"})
_PACKAGE = os.path.dirname(os.path.abspath(__file__)) + os.sep


def _library_prefixes() -> tuple[str, ...]:
    paths = sysconfig.get_paths()
    found = {paths[k] for k in ("stdlib", "platstdlib", "purelib", "platlib") if k in paths}
    found.update(site.getsitepackages())
    found.add(site.getusersitepackages())
    return (_PACKAGE, *(os.path.join(os.path.abspath(p), "") for p in found))


_LIBRARY = _library_prefixes()


def _is_library(filename: str) -> bool:
    return filename.startswith(("<", *_LIBRARY)) or "site-packages" in filename


def _shown(frame: FrameType) -> str:
    return f"{frame.f_code.co_filename}:{frame.f_lineno}"


def _text(value: object) -> str:
    return value.decode("ascii", "replace") if isinstance(value, bytes) else str(value)


def _note(log: LeakLog, kind: str, call: str, arguments: str, host: str, port: int | None) -> None:
    thread = threading.current_thread().name
    if thread.startswith(PROXY_THREAD_PREFIX):
        return  # a server's loop thread or its executor's (its own lookups)
    frame = sys._getframe(3)  # above _note, the event's handler and its receiver
    caller = frame
    where: str | None = None
    while frame is not None:
        name = frame.f_globals.get("__name__", "")
        if name.startswith("pytest_socks5.") and name not in _CLIENT_MODULES:
            return  # the proxy itself (or this plugin), on whatever thread
        if where is None and not _is_library(frame.f_code.co_filename):
            where = f"{_shown(frame)} in {frame.f_code.co_name}"
        frame = frame.f_back  # type: ignore[assignment]
    log.note(
        Leak(
            kind="lookup" if kind == "lookup" else "connect",
            call=call,
            arguments=arguments,
            host=host,
            port=port,
            where=where,
            via=_shown(caller),
            thread=thread,
        )
    )


def _lookup(log: LeakLog, event: str, args: tuple[Any, ...]) -> None:
    if not args or args[0] is None:
        return
    host = _text(args[0])
    if event == "socket.gethostbyaddr":
        if is_loopback(host):
            return  # socket.getfqdn() of a local server, answered from /etc/hosts
    elif is_address(host) or log.is_proxy_name(host):
        return
    port = args[1] if event == "socket.getaddrinfo" and len(args) > 1 else None
    shown = ", ".join(repr(a) for a in args)
    _note(log, "lookup", event, shown, host, port if isinstance(port, int) else None)


def _connect(log: LeakLog, event: str, args: tuple[Any, ...]) -> None:
    address = args[1] if len(args) > 1 else None
    if not isinstance(address, tuple) or len(address) < 2 or not isinstance(address[1], int):
        return  # AF_UNIX and other families: not the network
    host, port = _text(address[0]), address[1]
    if log.is_proxy(host, port):
        return
    if not is_address(host) and not log.is_proxy_name(host):
        # connect(("name", port)) resolves inside C, with no getaddrinfo event.
        _note(log, "lookup", event, repr(address), host, port)
    _note(log, "connect", event, repr(address), host, port)


_EVENTS: dict[str, Callable[[LeakLog, str, tuple[Any, ...]], None]] = {
    "socket.getaddrinfo": _lookup,
    "socket.gethostbyname": _lookup,
    "socket.gethostbyname_ex": _lookup,
    "socket.gethostbyaddr": _lookup,
    "socket.connect": _connect,
}


def _receiver(event: str, handler: Callable[[LeakLog, str, tuple[Any, ...]], None]) -> property:
    def receive(_sink: object, args: tuple[Any, ...]) -> None:
        log = _log
        if log is not None:
            handler(log, event, args)

    return property(fset=receive, doc=f"Notes a {event!r} event into the current log.")


class _EventSink:
    """Where the audit hooks deliver every event, as ``setattr(sink, event, args)``.

    The hooks are C callables, not a Python function, because on CPython 3.11
    ``sys.settrace`` holds a process-wide flag while its audit event runs
    (python/cpython#98257). A Python hook may let another thread run at its first
    instruction, and if that thread installs a trace function (every thread that starts
    under coverage or a debugger does) it dies with "Cannot install a trace function
    while another trace function is being installed" before its target runs. So Python
    runs only for the events kept: each is a property of this class whose setter is the
    event's handler. Any other event is stored in the instance's dict and taken out at
    once by the second hook (the dict's ``pop``), all in C, so nothing is kept.
    """

    __slots__ = ("__dict__",)


for _event, _handler in _EVENTS.items():
    setattr(_EventSink, _event, _receiver(_event, _handler))

_SINK = _EventSink()
#: The hooks, in the order they are added: deliver the event, then drop what was stored.
_HOOKS: tuple[Callable[[str, tuple[Any, ...]], object], ...] = (
    functools.partial(setattr, _SINK),
    _SINK.__dict__.pop,
)


def install() -> None:
    """Add the hooks, once per process (an audit hook cannot be removed)."""
    global _installed
    with _install_lock:
        if not _installed:
            for hook in _HOOKS:
                sys.addaudithook(hook)
            # Adding the second hook was an event the first stored, with no pop after it.
            _SINK.__dict__.clear()
            _installed = True


def start(log: LeakLog) -> None:
    """Note into ``log`` from now on, in every thread."""
    global _log
    install()
    _log = log


def stop() -> None:
    """Note nothing from now on (the hook stays, doing one check per event)."""
    global _log
    _log = None


def current() -> LeakLog | None:
    return _log
