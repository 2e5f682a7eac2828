"""The files ``socks5_record_dir`` holds: one per test, named from its node id, one JSON
object a line.

Strategy: pure naming and formatting, so the pytest plugin only decides when to write.
A node id becomes a portable file name (anything but letters, digits, ``.``, ``_`` and
``-`` becomes ``_``), shortened with a hash when it is long, so two long ids never share
a file.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

__all__ = ["json_line", "record_file_name"]


def record_file_name(nodeid: str) -> str:
    """``tests/test_a.py::test_b[x]`` → ``tests_test_a.py__test_b_x_.jsonl`` (made unique
    with a hash when it had to be shortened)."""
    name = re.sub(r"[^A-Za-z0-9._-]", "_", nodeid).lstrip(".") or "test"
    if len(name) > 150:
        digest = hashlib.sha1(nodeid.encode(), usedforsecurity=False).hexdigest()[:10]
        name = f"{name[:140]}-{digest}"
    return name + ".jsonl"


def json_line(value: dict[str, Any]) -> str:
    """One record file line: compact JSON, non-ASCII kept as it is."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")) + "\n"
