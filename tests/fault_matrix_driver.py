"""Runs one client against a list of proxies and prints what it reported, as JSON.

Run by test_fault_matrix.py in a child process, so that a client that hangs or leaks
sockets cannot disturb the test process. Usage: ``python fault_matrix_driver.py CLIENT``
with ``[{"name", "proxy", "url"}, …]`` on stdin.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading

CLIENT_TIMEOUT = 1.0
GIVE_UP = 4.0


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


def run_requests(proxy: str, url: str) -> str:
    import requests

    try:
        response = requests.get(url, proxies={"http": proxy}, timeout=CLIENT_TIMEOUT)
    except Exception as exc:
        detail = _pysocks_message(exc)
        return f"{_name(exc)}: {detail}" if detail else _name(exc)
    return f"ok ({response.status_code})"


def run_httpx(proxy: str, url: str) -> str:
    import httpx

    try:
        response = httpx.get(url, proxy=proxy, timeout=CLIENT_TIMEOUT)
    except Exception as exc:
        return f"{_name(exc)}: {exc}" if str(exc) else _name(exc)
    return f"ok ({response.status_code})"


def run_curl(proxy: str, url: str) -> str:
    result = subprocess.run(
        ["curl", "--silent", "--show-error", "--max-time", "2", "--proxy", proxy, url],
        capture_output=True,
        text=True,
        timeout=GIVE_UP + 5,
        env={"PATH": "/usr/bin:/bin"},
    )
    if result.returncode == 0:
        return "ok (exit 0)"
    message = re.sub(r"curl: \(\d+\) ", "", result.stderr.strip().splitlines()[-1])
    return f"exit {result.returncode}: {message}"


def normalise(text: str) -> str:
    """Drop what changes from run to run: ports, addresses, object ids, timings."""
    text = re.sub(r"127\.0\.0\.1:\d+|localhost:\d+|port \d+", "<proxy>", text)
    text = re.sub(r"0x[0-9a-f]{8,}", "<id>", text)
    text = re.sub(r"after \d+ milliseconds", "after <n> ms", text)
    text = re.sub(r" \(default cache: [^)]*\)", "", text)
    text = re.sub(r"\d+ out of \d+ bytes", "<n> bytes", text)
    return text.replace("|", "/")[:120]


def main() -> None:
    client = sys.argv[1]
    runner = {"requests": run_requests, "httpx": run_httpx, "curl": run_curl}[client]
    results: dict[str, str] = {}
    for case in json.loads(sys.stdin.read()):
        out: list[str] = []

        def call(case: dict[str, str] = case, out: list[str] = out) -> None:
            out.append(runner(case["proxy"], case["url"]))

        thread = threading.Thread(target=call, daemon=True)
        thread.start()
        thread.join(GIVE_UP)
        results[case["name"]] = normalise(out[0]) if out else f"hangs (> {GIVE_UP:g} s)"
    print(json.dumps(results), flush=True)
    os._exit(0)  # hung client threads must not keep the process alive


if __name__ == "__main__":
    main()
