"""What requests/PySocks, httpx and curl report for each fault: the table in the docs.

The table (docs/generated/client-errors.csv) is produced by this test, never by hand:
``SOCKS5_WRITE_MATRIX=1 pytest tests/test_fault_matrix.py`` rewrites it; otherwise the
test checks it still matches what the installed clients do.
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

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

TABLE = Path(__file__).parent.parent / "docs" / "generated" / "client-errors.csv"
DRIVER = Path(__file__).parent / "fault_matrix_driver.py"
CLIENTS = ("requests", "httpx", "curl")

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
    ("ResetAfter(after=0, downstream)", [ResetAfter(after=0, direction="downstream")]),
    ("CloseAfter(after=0, downstream)", [CloseAfter(after=0, direction="downstream")]),
    ("Latency(seconds=3, downstream)", [Latency(seconds=3, direction="downstream")]),
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


def render(rows: list[list[str]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["fault", *(f"{c} {_version(c)}" for c in CLIENTS)])
    writer.writerows(rows)
    return out.getvalue()


def _version(client: str) -> str:
    if client == "curl":
        line = subprocess.run(["curl", "--version"], capture_output=True, text=True).stdout
        return line.split()[1]
    return version(client)


@pytest.mark.skipif(shutil.which("curl") is None and not os.environ.get("CI"), reason="needs curl")
def test_client_error_table(socks5_server_factory, http_server) -> None:
    url = f"http://{http_server[0]}:{http_server[1]}/"
    cases = []
    for name, faults in CASES:
        server: SOCKS5Server = socks5_server_factory(faults=faults, handshake_timeout=None)
        cases.append({"name": name, "proxy": server.url, "url": url})
    results = {client: run_client(client, cases) for client in CLIENTS}
    rows = [[name, *(results[c][name] for c in CLIENTS)] for name, _ in CASES]
    assert rows[0][1:] == ["ok (200)", "ok (200)", "ok (exit 0)"], "baseline must work"
    table = render(rows)
    if os.environ.get("SOCKS5_WRITE_MATRIX"):
        TABLE.write_text(table)
    documented = TABLE.read_text()
    if documented.splitlines()[0] != table.splitlines()[0]:
        pytest.skip(
            "the installed client versions differ from the documented table's "
            f"({documented.splitlines()[0]!r}); regenerate it with SOCKS5_WRITE_MATRIX=1"
        )
    assert table == documented, (
        "regenerate docs/generated/client-errors.csv with SOCKS5_WRITE_MATRIX=1"
    )
