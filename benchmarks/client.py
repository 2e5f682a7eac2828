"""The benchmark's client side: one connect used everywhere, and the many-tunnel loops.

Strategy: every SOCKS byte comes from :mod:`pytest_socks5.rawclient` — blocking tunnels
through :func:`open_conn`, and for ``at_once`` and ``scale`` the same greeting, request and
reply length driven from one non-blocking ``selectors`` loop, since thousands of threads
would measure the scheduler instead of the proxy.
"""

from __future__ import annotations

import contextlib
import errno
import os
import selectors
import socket
import time
from typing import Any

from pytest_socks5 import rawclient

from .settings import IO_TIMEOUT, SCALE_BYE

GREETING = rawclient.greeting()


def reply_length(buf: bytes) -> int | None:
    """Length of a complete SOCKS5 reply starting ``buf``, once it can be known."""
    return rawclient.reply_size(buf) if len(buf) >= 5 else None


def open_conn(dst: tuple[str, int], proxy: tuple[str, int] | None) -> socket.socket:
    """The one client connect used everywhere: direct to ``dst``, or through ``proxy``
    (a no-auth CONNECT, one step at a time, as a well-behaved client does it)."""
    if proxy is None:
        return rawclient.connect(dst, timeout=IO_TIMEOUT, nodelay=True)
    return rawclient.open_tunnel(proxy, *dst, timeout=IO_TIMEOUT, nodelay=True)


def send_repeated(sock: socket.socket, block: bytes, count: int) -> None:
    view = memoryview(block)
    for _ in range(count):
        sock.sendall(view)


def send_small(sock: socket.socket, data: bytes) -> None:
    if sock.send(data) != len(data):
        raise RuntimeError("short send of a few bytes")


def open_many(
    n: int, dst: tuple[str, int], proxy: tuple[str, int] | None
) -> tuple[float, list[socket.socket]]:
    """Start ``n`` connects at once (plus handshakes when proxied) on one selector loop;
    return the time until every one is established, and the open sockets."""
    request = rawclient.socks5_request(*dst)
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


def scale_payload(i: int, tag: bytes) -> bytes:
    return tag + i.to_bytes(6, "big")


class ScaleRun:
    """Opens ``n`` tunnels (or direct connections) and keeps them open; at most ``window``
    are connecting or handshaking at a time. Each one is checked with an 8-byte echo.
    A tunnel that fails is counted in ``errors`` and closed; the run goes on."""

    def __init__(self, n: int, dst: tuple[str, int], proxy: tuple[str, int] | None) -> None:
        self.n, self.dst, self.proxy = n, dst, proxy
        self.request = rawclient.socks5_request(*dst)
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
                    except (OSError, RuntimeError, rawclient.UnexpectedAnswer) as exc:
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
