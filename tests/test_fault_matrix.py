"""What each client reports for each fault: the tables in the docs.

The tables are produced by this test, never by hand: docs/generated/client-errors.csv
(requests, httpx and curl side by side, for the faults how-to) and one
docs/generated/client-errors/<client>.csv per client, for the client pages.
``SOCKS5_WRITE_MATRIX=1 pytest tests/test_fault_matrix.py`` rewrites them; otherwise the
test checks they still match what the installed clients do. A table whose client
versions differ from the installed ones is not compared (the test is skipped).
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pytest

from pytest_socks5 import Reply, SOCKS5Server
from pytest_socks5.faults import (
    BoundAddress,
    Close,
    CloseAfter,
    FailAuth,
    Fault,
    ForceMethod,
    Fragment,
    Latency,
    ReplyWith,
    ResetAfter,
    Stall,
    Truncate,
    WrongVersion,
)

GENERATED = Path(__file__).parent.parent / "docs" / "generated"
TABLE = GENERATED / "client-errors.csv"
DRIVER = Path(__file__).parent / "fault_matrix_driver.py"
#: Every client the driver knows, and the packages whose versions its table names.
PACKAGES: dict[str, tuple[str, ...]] = {
    "requests": ("requests", "PySocks"),
    "urllib3": ("urllib3", "PySocks"),
    "pysocks": ("PySocks",),
    "httpx": ("httpx", "socksio"),
    "httpx-socks": ("httpx-socks", "httpx"),
    "aiohttp-socks": ("aiohttp-socks", "aiohttp"),
    "python-socks": ("python-socks",),
    "python-socks-asyncio": ("python-socks",),
    "websockets": ("websockets", "python-socks"),
    "curl": ("curl",),
}
CLIENTS = tuple(PACKAGES)
#: The clients side by side in the faults how-to.
SUMMARY = ("requests", "httpx", "curl")

#: What clients meet most that is not a fault: (name, server options, credentials in the
#: proxy URL, whether the proxy is down).
SITUATIONS: list[tuple[str, dict[str, Any], dict[str, str], bool]] = [
    ("proxy requires a password; none sent", {"users": {"alice": "s3cret"}}, {}, False),
    (
        "wrong password",
        {"users": {"alice": "s3cret"}},
        {"username": "alice", "password": "wrong"},
        False,
    ),
    ("proxy is down (connection refused)", {}, {}, True),
]

CASES: list[tuple[str, list[Fault]]] = [
    ("no fault", []),
    *[
        (f"ReplyWith(reply=0x{rep:02x}) {Reply(rep).name}", [ReplyWith(reply=rep)])
        for rep in range(1, 9)
    ],
    ("ForceMethod(method=0xff)", [ForceMethod(method=0xFF)]),
    ("ForceMethod(method=0x80) not offered", [ForceMethod(method=0x80)]),
    ("FailAuth(status=0x01)", [ForceMethod(method=0x02), FailAuth()]),
    ("Stall(at=greeting)", [Stall(at="greeting")]),
    ("Stall(at=reply)", [Stall(at="reply")]),
    ("Close(at=greeting) FIN", [Close(at="greeting")]),
    ("Close(at=greeting, reset=True) RST", [Close(at="greeting", reset=True)]),
    ("Truncate(at=reply, length=4)", [Truncate(at="reply", length=4)]),
    ("WrongVersion(at=greeting, version=0x04)", [WrongVersion(at="greeting")]),
    ("Fragment(at=reply, size=1)", [Fragment(at="reply", size=1, delay=0.005)]),
    ("BoundAddress(bound_type=0x00) on success", [BoundAddress(bound_type=0x00)]),
    (
        "BoundAddress(bound_type=DOMAIN) on success",
        [BoundAddress(bound_type=3, bound_host="proxy.test")],
    ),
    ("ReplyWith(0x01) + BoundAddress(0x00)", [ReplyWith(reply=1), BoundAddress(bound_type=0x00)]),
    ("ResetAfter(after=0, to_client)", [ResetAfter(after=0, direction="to_client")]),
    ("CloseAfter(after=0, to_client)", [CloseAfter(after=0, direction="to_client")]),
    ("Latency(seconds=5, to_client)", [Latency(seconds=5, direction="to_client")]),
]


def run_client(client: str, cases: list[dict[str, str]]) -> dict[str, str]:
    result = subprocess.run(
        [sys.executable, str(DRIVER), client],
        input=json.dumps(cases),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def render(clients: tuple[str, ...], rows: list[list[str]]) -> str:
    """The CSV of ``clients``' columns; ``rows`` hold every client's, in CLIENTS order."""
    columns = [CLIENTS.index(c) + 1 for c in clients]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["fault", *(_label(c, summary=len(clients) > 1) for c in clients)])
    writer.writerows([row[0], *(row[i] for i in columns)] for row in rows)
    return out.getvalue()


def _label(client: str, *, summary: bool) -> str:
    """``requests 2.34.2`` in the summary; with every package's version on a client page."""
    versions = [f"{p} {_version(p)}" for p in PACKAGES[client]]
    name = client if summary else versions.pop(0)
    head = name if not summary else f"{name} {_version(PACKAGES[client][0])}"
    if summary or not versions:
        return head
    return f"{head} ({', '.join(versions)})"


def _version(package: str) -> str:
    if package == "curl":
        line = subprocess.run(["curl", "--version"], capture_output=True, text=True).stdout
        return line.split()[1]
    return version(package)


@pytest.mark.skipif(shutil.which("curl") is None and not os.environ.get("CI"), reason="needs curl")
def test_client_error_table(socks5_server_factory, http_server) -> None:
    url = f"http://{http_server[0]}:{http_server[1]}/"
    cases = []
    for name, options, credentials, down in SITUATIONS:
        server: SOCKS5Server = socks5_server_factory(**options)
        if down:
            server.down()
        cases.append({"name": name, "proxy": server.url_for(**credentials), "url": url})
    for name, faults in CASES:
        server = socks5_server_factory(faults=faults, handshake_timeout=None)
        cases.append({"name": name, "proxy": server.url, "url": url})
    # The clients run side by side: each child process mostly waits on its timeouts.
    with ThreadPoolExecutor(len(CLIENTS)) as pool:
        outputs = dict(
            zip(CLIENTS, pool.map(run_client, CLIENTS, [cases] * len(CLIENTS)), strict=True)
        )
    rows = [[case["name"], *(outputs[c][case["name"]] for c in CLIENTS)] for case in cases]
    baseline = rows[len(SITUATIONS)]
    assert baseline[0] == "no fault"
    for client, outcome in zip(CLIENTS, baseline[1:], strict=True):
        assert outcome.startswith("ok ("), f"baseline must work: {client} said {outcome}"

    tables = {TABLE: render(SUMMARY, rows)}
    tables |= {GENERATED / "client-errors" / f"{c}.csv": render((c,), rows) for c in CLIENTS}
    if os.environ.get("SOCKS5_WRITE_MATRIX"):
        for path, table in tables.items():
            path.parent.mkdir(exist_ok=True)
            path.write_text(table)
    stale = []
    for path, table in tables.items():
        documented = path.read_text()
        if documented.splitlines()[0] != table.splitlines()[0]:
            stale.append(f"{path.name}: {documented.splitlines()[0]!r}")
            continue
        assert table == documented, f"regenerate {path} with SOCKS5_WRITE_MATRIX=1"
    if stale:
        pytest.skip(
            "the installed client versions differ from these documented tables' "
            f"({'; '.join(stale)}); regenerate them with SOCKS5_WRITE_MATRIX=1"
        )
