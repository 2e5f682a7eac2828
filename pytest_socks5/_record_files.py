"""The files ``socks5_record_dir`` holds: one per test, named from its node id, one JSON
object a line.

Strategy: pure naming and formatting, so the pytest plugin only decides when to write.
A name is a readable part and a hash: the node id with anything but letters, digits,
``.``, ``_`` and ``-`` turned into ``_`` (cut short when long), then ``-`` and the first
10 hex digits of the SHA-256 of the exact node id. The readable part alone would give
``p[/a/b]``, ``p[/a_b]`` and ``p[/a:b]`` one file — and ``test_A``, ``test_a`` one file
on a case-insensitive file system — so the hash is always there, never only when the
name was shortened; and it depends on nothing but the node id, so a test's file has the
same name in every run and on every xdist worker.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

__all__ = ["json_line", "record_file_name"]

#: Characters of the node id kept in the name (the hash makes it unique, not this).
_READABLE = 120
_DIGEST = 10


def record_file_name(nodeid: str) -> str:
    """``tests/test_a.py::test_b[x]`` → ``tests_test_a.py__test_b_x-<10 hex>.jsonl``."""
    readable = re.sub(r"[^A-Za-z0-9._-]", "_", nodeid)[:_READABLE]
    readable = readable.lstrip(".").rstrip("._") or "test"
    digest = hashlib.sha256(nodeid.encode("utf-8", "surrogatepass")).hexdigest()[:_DIGEST]
    return f"{readable}-{digest}.jsonl"


def json_line(value: dict[str, Any]) -> str:
    """One record file line: compact JSON, non-ASCII kept as it is."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")) + "\n"
