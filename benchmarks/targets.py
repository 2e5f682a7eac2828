"""The direct targets: sink, echo and hold servers on threads, and the ``scale`` echo target.

Strategy: the same target code serves both the direct and the proxied run, so a ratio
compares only the path in between. Sinks receive into a pre-faulted buffer and are hashed
after the clock stops. ``serve_echo_target`` is the body of the separate echo-target
process (``bench.py --echo-target``), one ``selectors`` loop for thousands of connections.
"""

from __future__ import annotations

import hashlib
import os
import selectors
import socket
import sys
import threading
import time

from .settings import CHUNK, IO_TIMEOUT, LOOPBACK, SCALE_BYE


def listener() -> socket.socket:
    return socket.create_server((LOOPBACK, 0), backlog=4096)


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


def recv_into_slice(sock: socket.socket, view: memoryview) -> int:
    """Receive until EOF into ``view``; bytes beyond its end are counted, not kept."""
    scratch = memoryview(bytearray(CHUNK))
    n, size = 0, len(view)
    while True:
        k = sock.recv_into(view[n : min(n + CHUNK, size)] if n < size else scratch)
        if not k:
            return n
        n += k


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
