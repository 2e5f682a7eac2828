"""The audit hook's decisions, called directly.

Code that runs inside an audit hook is invisible to tracers (coverage sees none of it),
so the end-to-end tests in test_leaks.py prove the hooks are wired in, and these call the
same hooks (``_HOOKS``, in order, as the interpreter does) from ordinary code to pin each
decision they make: what they note, with which caller, and what they let pass."""

from __future__ import annotations

import gc
import inspect
import socket
import subprocess
import sys
import textwrap
import threading
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import cast

import pytest

from pytest_socks5 import _leak_hook
from pytest_socks5._leaks import LeakLog


@pytest.fixture
def log(monkeypatch: pytest.MonkeyPatch) -> LeakLog:
    log = LeakLog(allow=["allowed.test"])
    log.add_proxy("localhost", [("127.0.0.1", 1080)])
    monkeypatch.setattr(_leak_hook, "_log", log)
    return log


# What the interpreter does for an audit event, from a frame that stands for the
# standard library's socket function that raised it (so the test is the first caller
# outside the library, as in a real call).
_library: dict[str, object] = {"_HOOKS": _leak_hook._HOOKS}
exec(
    compile(
        "def event(name, *args):\n    for hook in _HOOKS:\n        hook(name, args)\n",
        socket.__file__,
        "exec",
    ),
    _library,
)
event = cast(Callable[..., None], _library["event"])


def test_a_lookup_is_noted_with_the_test_line_that_made_it(log: LeakLog) -> None:
    event("socket.getaddrinfo", "api.example.test", 443, 0, socket.SOCK_STREAM, 0, 0)
    (leak,) = log.lookups
    assert leak.kind == "lookup"
    assert leak.call == "socket.getaddrinfo"
    assert leak.arguments.startswith("'api.example.test', 443")
    assert (leak.host, leak.port) == ("api.example.test", 443)
    assert leak.where is not None
    assert leak.where.endswith("in test_a_lookup_is_noted_with_the_test_line_that_made_it")
    assert "test_leak_hook.py:" in leak.where
    assert leak.via.startswith(socket.__file__)
    assert leak.thread == threading.current_thread().name
    assert log.connections == []


def test_bytes_names_and_every_lookup_event_are_seen(log: LeakLog) -> None:
    event("socket.gethostbyname", b"one.example.test")
    event("socket.gethostbyname_ex", "two.example.test")
    event("socket.gethostbyaddr", "three.example.test")
    assert [(x.host, x.port) for x in log.lookups] == [
        ("one.example.test", None),
        ("two.example.test", None),
        ("three.example.test", None),
    ]


def test_what_is_not_a_leak_is_not_noted(log: LeakLog) -> None:
    event("socket.getaddrinfo", "127.0.0.1", 80)  # an address: nothing was looked up
    event("socket.getaddrinfo", "localhost", 1080)  # the proxy's own name
    event("socket.getaddrinfo", None, 80)  # a wildcard bind
    event("socket.gethostbyaddr", "127.0.0.1")  # getfqdn() of a local server
    event("socket.connect", object(), ("127.0.0.1", 1080))  # the proxy itself
    event("socket.connect", object(), "/tmp/a.sock")  # AF_UNIX: not the network
    event("socket.bind", object(), ("127.0.0.1", 0))  # not an event the hook keeps
    assert (log.lookups, log.connections) == ([], [])


def test_a_connect_to_a_name_is_a_lookup_and_a_connect(log: LeakLog) -> None:
    event("socket.connect", object(), ("db.example.test", 5432))
    event("socket.connect", object(), ("127.0.0.1", 8080))
    assert [x.target for x in log.lookups] == ["db.example.test:5432"]
    assert [x.target for x in log.connections] == ["db.example.test:5432", "127.0.0.1:8080"]
    allowed = LeakLog(allow=["127.0.0.1:8080"])
    assert allowed.allowed(log.connections[1])


def test_the_proxy_threads_and_frames_are_not_the_client(log: LeakLog) -> None:
    def from_a_proxy_thread() -> None:
        event("socket.getaddrinfo", "resolved-by-the-proxy.test", 80)

    thread = threading.Thread(target=from_a_proxy_thread, name="pytest-socks5 loop")
    thread.start()
    thread.join(5)
    # A frame of the server's own code on the stack, on any thread:
    server_code = compile(
        "def serve():\n    event('socket.getaddrinfo', 'dialled.test', 80)\n",
        "pytest_socks5/_dialler.py",
        "exec",
    )
    namespace = {"__name__": "pytest_socks5._dialler", "event": event}
    exec(server_code, namespace)
    namespace["serve"]()  # type: ignore[operator]
    assert log.lookups == []


def test_without_a_current_test_the_hook_does_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_leak_hook, "_log", None)
    event("socket.getaddrinfo", "api.example.test", 443)
    assert _leak_hook.current() is None


def test_start_and_stop_switch_the_current_log(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_leak_hook, "_log", None)
    log = LeakLog()
    _leak_hook.start(log)
    try:
        assert _leak_hook.current() is log
    finally:
        _leak_hook.stop()
    assert _leak_hook.current() is None


# -- what the hooks cost everyone else ----------------------------------------------------


class _Payload:
    """An object an audit event carries (a socket, a frame, a file name...)."""


def test_the_hooks_are_c_callables_that_keep_nothing_of_other_events() -> None:
    _leak_hook.install()
    assert not [hook for hook in _leak_hook._HOOKS if inspect.isfunction(hook)]
    assert not [hook for hook in _leak_hook._HOOKS if inspect.ismethod(hook)]
    payload = _Payload()
    alive = weakref.ref(payload)
    sys.audit("pytest-socks5.test-event", payload)  # through the installed hooks
    del payload
    gc.collect()
    assert alive() is None
    assert vars(_leak_hook._SINK) == {}


# CPython <= 3.11 holds a process-wide "being installed" flag while sys.settrace raises
# its audit event. Any Python code that runs in that window lets other code run there
# too: another thread (the GIL may switch at its first instruction) or, here, a signal
# handler, which an interval timer makes pending many times while the main thread calls
# sys.settrace over and over; the handler installs a trace function as every thread
# starting under coverage does, and counts how often the flag refused it.
_HAMMER = """
import signal, sys
from pytest_socks5 import _leak_hook
from pytest_socks5._leaks import LeakLog
_leak_hook.start(LeakLog())
if sys.argv[1] == "with-a-python-hook":
    sys.addaudithook(lambda event, args: None)
failures = []
def install_a_trace_function(signum, frame):
    try:
        sys.settrace(None)
    except RuntimeError as error:
        failures.append(error)
signal.signal(signal.SIGALRM, install_a_trace_function)
signal.setitimer(signal.ITIMER_REAL, 2e-5, 2e-5)
for _ in range(20_000):
    sys.settrace(None)
signal.setitimer(signal.ITIMER_REAL, 0)
print(len(failures), {str(error) for error in failures})
"""


def _hammer(variant: str) -> int:
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(_HAMMER), variant],
        cwd=Path(__file__).parent.parent,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return int(result.stdout.split()[0])


@pytest.mark.skipif(
    sys.version_info >= (3, 12), reason="CPython 3.12 dropped the process-wide flag"
)
def test_a_trace_function_installed_during_an_audit_event_never_collides_with_the_hooks() -> None:
    """Under coverage or a debugger every starting thread installs a trace function; with
    the leak guard's hooks installed, none may die of it (python/cpython#98257)."""
    assert _hammer("ours-only") == 0
    # The same hammer detects a hook that runs Python (what the guard used to be).
    assert _hammer("with-a-python-hook") > 0
