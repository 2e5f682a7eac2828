"""Runs one client against a list of proxies and prints what it reported, as JSON.

Run by test_fault_matrix.py in a child process, so that a client that hangs or leaks
sockets cannot disturb the test process. Usage: ``python fault_matrix_driver.py CLIENT``
with ``[{"name", "proxy", "url"}, …]`` on stdin.

Every client fetches ``url`` through ``proxy`` with a 2 s timeout: the HTTP clients with a
GET, the socket-level ones (PySocks, python-socks) by connecting through the proxy and
writing the GET themselves. websockets talks to an echo server of its own, on loopback.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote, urlsplit

#: Long enough that a handshake on a loaded CI machine (two xdist workers, coverage,
#: every client at once) never runs out of it: at 1 s, PySocks once timed out in the
#: handshake of a case with no fault in it.
CLIENT_TIMEOUT = 2.0
GIVE_UP = 7.0
#: Cases of one client in flight at once (see main()).
PARALLEL = 4


def _pysocks_message(exc: BaseException) -> str:
    import socks

    seen: BaseException | None = exc
    while seen is not None:
        for arg in (seen, *getattr(seen, "args", ())):
            if isinstance(arg, socks.ProxyError):
                return str(arg.msg)
            if isinstance(arg, BaseException) and arg is not seen:
                found = _pysocks_message(arg) if arg is not exc else ""
                if found:
                    return found
        seen = seen.__cause__ or seen.__context__
    return ""


def _name(exc: BaseException) -> str:
    return f"{type(exc).__module__.split('.')[0]}.{type(exc).__qualname__}"


def _described(exc: BaseException) -> str:
    return f"{_name(exc)}: {exc}" if str(exc) else _name(exc)


def _request(url: str) -> tuple[str, int, bytes]:
    """``(host, port, GET request bytes)`` for a client that writes HTTP itself."""
    parts = urlsplit(url)
    assert parts.hostname is not None
    assert parts.port is not None
    head = f"GET {parts.path or '/'} HTTP/1.1\r\nHost: {parts.netloc}\r\nConnection: close\r\n"
    return parts.hostname, parts.port, head.encode() + b"\r\n"


def _status(response: bytes) -> str:
    """``ok (200)`` for a whole HTTP response; what is wrong with it otherwise."""
    if not response:
        return "EOF before any response"
    head, _, body = response.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    if not lines[0].startswith(b"HTTP/1."):
        return f"garbled response: {response[:20]!r}"
    length = next(
        (int(line.split(b":")[1]) for line in lines if line.lower().startswith(b"content-length")),
        None,
    )
    if length is not None and len(body) < length:
        return f"short body ({len(body)} of {length} bytes)"
    return f"ok ({int(lines[0].split()[1])})"


def _read_all(sock: socket.socket) -> bytes:
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


# -- HTTP clients -------------------------------------------------------------------------


def run_requests(proxy: str, url: str) -> str:
    import requests

    try:
        response = requests.get(url, proxies={"http": proxy}, timeout=CLIENT_TIMEOUT)
    except Exception as exc:
        detail = _pysocks_message(exc)
        return f"{_name(exc)}: {detail}" if detail else _name(exc)
    return f"ok ({response.status_code})"


def run_urllib3(proxy: str, url: str) -> str:
    import urllib3
    from urllib3.contrib.socks import SOCKSProxyManager

    with SOCKSProxyManager(proxy, timeout=CLIENT_TIMEOUT, retries=False) as manager:
        try:
            response = manager.request("GET", url)
        except Exception as exc:
            detail = _pysocks_message(exc)
            if isinstance(exc, urllib3.exceptions.ProtocolError):
                detail = detail or str(exc.args[0])
            return f"{_name(exc)}: {detail}" if detail else _name(exc)
    return f"ok ({response.status})"


def run_httpx(proxy: str, url: str) -> str:
    import httpx

    try:
        response = httpx.get(url, proxy=proxy, timeout=CLIENT_TIMEOUT)
    except Exception as exc:
        return _described(exc)
    return f"ok ({response.status_code})"


def run_httpx_socks(proxy: str, url: str) -> str:
    import httpx
    from httpx_socks import SyncProxyTransport

    transport = SyncProxyTransport.from_url(proxy)
    try:
        with httpx.Client(transport=transport, timeout=CLIENT_TIMEOUT) as client:
            response = client.get(url)
    except Exception as exc:
        return _described(exc)
    return f"ok ({response.status_code})"


def run_aiohttp(proxy: str, url: str) -> str:
    import aiohttp
    from aiohttp_socks import ProxyConnector

    async def main() -> str:
        timeout = aiohttp.ClientTimeout(total=CLIENT_TIMEOUT)
        connector = ProxyConnector.from_url(proxy)
        async with (
            aiohttp.ClientSession(connector=connector, timeout=timeout) as session,
            session.get(url) as response,
        ):
            await response.read()
            return f"ok ({response.status})"

    try:
        return asyncio.run(main())
    except Exception as exc:
        return _described(exc)


def run_curl(proxy: str, url: str) -> str:
    result = subprocess.run(
        [
            *("curl", "--silent", "--show-error", "--max-time", f"{CLIENT_TIMEOUT + 1:g}"),
            *("--proxy", proxy, url),
        ],
        capture_output=True,
        text=True,
        timeout=GIVE_UP + 5,
        env={"PATH": "/usr/bin:/bin"},
    )
    if result.returncode == 0:
        return "ok (exit 0)"
    message = re.sub(r"curl: \(\d+\) ", "", result.stderr.strip().splitlines()[-1])
    return f"exit {result.returncode}: {message}"


# -- socket-level clients ------------------------------------------------------------------


def run_pysocks(proxy: str, url: str) -> str:
    import socks

    parts = urlsplit(proxy)
    host, port, request = _request(url)
    sock = socks.socksocket()
    sock.settimeout(CLIENT_TIMEOUT)
    sock.set_proxy(
        socks.SOCKS5,
        parts.hostname,
        parts.port,
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
    )
    try:
        sock.connect((host, port))
        sock.sendall(request)
        return _status(_read_all(sock))
    except Exception as exc:
        detail = exc.msg if isinstance(exc, socks.ProxyError) else str(exc)
        return f"{_name(exc)}: {detail}" if detail else _name(exc)
    finally:
        sock.close()


def run_python_socks(proxy: str, url: str) -> str:
    from python_socks.sync import Proxy

    host, port, request = _request(url)
    try:
        sock = Proxy.from_url(proxy).connect(host, port, timeout=CLIENT_TIMEOUT)
    except Exception as exc:
        return _described(exc)
    with sock:
        sock.settimeout(CLIENT_TIMEOUT)
        try:
            sock.sendall(request)
            return _status(_read_all(sock))
        except Exception as exc:
            return _described(exc)


def run_python_socks_asyncio(proxy: str, url: str) -> str:
    from python_socks.async_.asyncio import Proxy

    host, port, request = _request(url)

    async def main() -> str:
        sock = await Proxy.from_url(proxy).connect(host, port, timeout=CLIENT_TIMEOUT)
        reader, writer = await asyncio.open_connection(sock=sock)
        try:
            writer.write(request)
            return _status(await asyncio.wait_for(reader.read(), CLIENT_TIMEOUT))
        finally:
            writer.close()

    try:
        return asyncio.run(main())
    except Exception as exc:
        return _described(exc)


class _WebSocketEcho:
    """A websockets echo server on 127.0.0.1, on its own thread, for the whole run."""

    def __init__(self) -> None:
        from websockets.sync.server import serve

        def echo(connection: Any) -> None:
            for message in connection:
                connection.send(message)

        self.server = serve(echo, "127.0.0.1", 0)
        self.port = self.server.socket.getsockname()[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


_ws_echo: _WebSocketEcho | None = None


def run_websockets(proxy: str, url: str) -> str:
    from websockets.asyncio.client import connect

    global _ws_echo
    if _ws_echo is None:
        _ws_echo = _WebSocketEcho()
    uri = f"ws://127.0.0.1:{_ws_echo.port}/"

    async def main() -> str:
        async with connect(uri, proxy=proxy, open_timeout=CLIENT_TIMEOUT) as websocket:
            await websocket.send("ping")
            answer = await asyncio.wait_for(websocket.recv(), CLIENT_TIMEOUT)
            return "ok (echo)" if answer == "ping" else f"wrong echo: {answer!r}"

    try:
        return asyncio.run(main())
    except Exception as exc:
        cause = exc.__cause__
        return _described(exc) + (f" (from {_described(cause)})" if cause else "")


RUNNERS: dict[str, Callable[[str, str], str]] = {
    "requests": run_requests,
    "urllib3": run_urllib3,
    "pysocks": run_pysocks,
    "httpx": run_httpx,
    "httpx-socks": run_httpx_socks,
    "aiohttp-socks": run_aiohttp,
    "python-socks": run_python_socks,
    "python-socks-asyncio": run_python_socks_asyncio,
    "websockets": run_websockets,
    "curl": run_curl,
}


def normalise(text: str) -> str:
    """Drop what changes from run to run: ports, addresses, object ids, timings."""
    text = re.sub(r"127\.0\.0\.1:\d+|localhost:\d+|port \d+|port=\d+", "<proxy>", text)
    text = re.sub(r"\('127\.0\.0\.1', \d+\)", "<proxy>", text)
    text = re.sub(r"0x[0-9a-f]{8,}", "<id>", text)
    text = re.sub(r"after \d+ (milliseconds|ms)", "after <n> ms", text)
    text = re.sub(r" \(default cache: [^)]*\)", "", text)
    text = re.sub(r"\d+ out of \d+ bytes", "<n> bytes", text)
    return text.replace("|", "/")[:200]


class _Call:
    """One case on a thread of its own: its outcome, or "hangs" ``GIVE_UP`` seconds after
    it started."""

    def __init__(self, runner: Callable[[str, str], str], case: dict[str, str]) -> None:
        self.out: list[str] = []
        self.deadline = time.monotonic() + GIVE_UP
        self.thread = threading.Thread(
            target=lambda: self.out.append(runner(case["proxy"], case["url"])), daemon=True
        )
        self.thread.start()

    def result(self) -> str | None:
        """The outcome once known (``None`` while the call runs, short of ``GIVE_UP``)."""
        if self.out:
            return normalise(self.out[0])
        if self.thread.is_alive() and time.monotonic() < self.deadline:
            return None
        return f"hangs (> {GIVE_UP:g} s)"


def main() -> None:
    client = sys.argv[1]
    runner = RUNNERS[client]
    cases = json.loads(sys.stdin.read())
    results: dict[str, str] = {}
    # The first case alone: it imports the client's library (and starts websockets' echo
    # server). Then up to PARALLEL cases at a time, each with its own GIVE_UP clock: most
    # of a client's time is spent waiting out timeouts and hangs, not working. A hung call
    # no longer takes a place (its daemon thread is left behind).
    pending = list(cases)
    running: dict[str, _Call] = {}
    while pending or running:
        limit = PARALLEL if results else 1
        while pending and len(running) < limit:
            case = pending.pop(0)
            running[case["name"]] = _Call(runner, case)
        for name, call in list(running.items()):
            outcome = call.result()
            if outcome is not None:
                results[name] = outcome
                del running[name]
        time.sleep(0.005)
    print(json.dumps({case["name"]: results[case["name"]] for case in cases}), flush=True)
    os._exit(0)  # hung client threads must not keep the process alive


if __name__ == "__main__":
    main()
