"""The external objects the docs link to, written as small intersphinx inventories.

Neither CI nor a packager's build may reach the network, so ``intersphinx_mapping`` in
``conf.py`` points each project at its real documentation (the links in the built pages
go there) but reads the objects from a local inventory in ``inventories/``, written from
the lists below. The lists hold exactly what the docs and the docstrings refer to: a
reference to something that is in no list fails the nitpicky build (``sphinx-build -n``),
and then it is added here with the address it has in that project's documentation.

Regenerate the files after changing a list (``tests/test_docs.py`` checks that they
match)::

    python docs/_ext/inventories.py
"""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).parent / "inventories"


@dataclass(frozen=True)
class Entry:
    """One object: its full name, ``domain:role`` and page (with anchor) under the base
    URL. An anchor that ends with the name may be written as ``$``, as Sphinx does."""

    name: str
    kind: str
    uri: str


@dataclass(frozen=True)
class Project:
    key: str
    name: str
    version: str
    url: str
    entries: tuple[Entry, ...]

    @property
    def path(self) -> Path:
        return HERE / f"{self.key}.inv"


def _all(kind: str, page: str, *names: str) -> tuple[Entry, ...]:
    return tuple(Entry(name, kind, f"{page}#$") for name in names)


PYTHON = Project(
    "python",
    "Python",
    "3",
    "https://docs.python.org/3/",
    (
        *_all(
            "py:exception",
            "library/exceptions.html",
            "AssertionError",
            "EOFError",
            "OSError",
            "ResourceWarning",
            "RuntimeError",
            "TimeoutError",
            "TypeError",
            "UnicodeEncodeError",
            "UserWarning",
        ),
        *_all("py:class", "library/functions.html", "bool", "float", "int"),
        *_all("py:class", "library/stdtypes.html", "bytes", "dict", "list", "str", "tuple"),
        Entry("None", "py:data", "library/constants.html#$"),
        *_all(
            "py:class",
            "library/collections.abc.html",
            "collections.abc.Callable",
            "collections.abc.Iterator",
            "collections.abc.Mapping",
        ),
        Entry("contextlib.AbstractContextManager", "py:class", "library/contextlib.html#$"),
        Entry("enum.IntEnum", "py:class", "library/enum.html#$"),
        Entry("socket.socket", "py:class", "library/socket.html#$"),
        Entry("socket.gaierror", "py:exception", "library/socket.html#$"),
        Entry("unittest.IsolatedAsyncioTestCase", "py:class", "library/unittest.html#$"),
        Entry("unittest.TestCase", "py:class", "library/unittest.html#$"),
        Entry("subprocess", "py:module", "library/subprocess.html#module-$"),
        Entry("subprocess.CalledProcessError", "py:exception", "library/subprocess.html#$"),
        Entry("asyncio.open_connection", "py:function", "library/asyncio-stream.html#$"),
        Entry("asyncio.to_thread", "py:function", "library/asyncio-task.html#$"),
        Entry("hmac.compare_digest", "py:function", "library/hmac.html#$"),
        Entry("time.time", "py:function", "library/time.html#$"),
        Entry("fnmatch", "py:module", "library/fnmatch.html#module-$"),
        Entry("ipaddress", "py:module", "library/ipaddress.html#module-$"),
        *_all(
            "py:data",
            "library/typing.html",
            "typing.Any",
            "typing.Literal",
            "typing.Self",
            "typing.Unpack",
        ),
    ),
)

PYTEST = Project(
    "pytest",
    "pytest",
    "8",
    "https://docs.pytest.org/en/stable/",
    (
        Entry("pytest.fixture", "py:function", "reference/reference.html#$"),
        # Built-in fixtures: pytest declares them with ``.. fixture::`` (std:fixture).
        Entry("monkeypatch", "std:fixture", "reference/reference.html#std-fixture-$"),
    ),
)

REQUESTS = Project(
    "requests",
    "Requests",
    "2",
    "https://requests.readthedocs.io/en/latest/",
    (
        Entry("requests.Session", "py:class", "api.html#$"),
        *_all(
            "py:exception",
            "api.html",
            "requests.exceptions.ConnectionError",
            "requests.exceptions.ConnectTimeout",
            "requests.exceptions.ReadTimeout",
        ),
    ),
)

# HTTPX's documentation is MkDocs, which publishes no inventory and no per-class anchors:
# the entries point at the page that lists the object.
HTTPX = Project(
    "httpx",
    "HTTPX",
    "0.28",
    "https://www.python-httpx.org/",
    (Entry("httpx.ProxyError", "py:exception", "exceptions/"),),
)

PROJECTS = (PYTHON, PYTEST, REQUESTS, HTTPX)


def inventory_bytes(project: Project) -> bytes:
    """The project's entries in Sphinx's inventory format, version 2 (what
    ``sphinx.util.inventory.InventoryFile.dump`` writes for a built project)."""
    header = (
        "# Sphinx inventory version 2\n"
        f"# Project: {project.name}\n"
        f"# Version: {project.version}\n"
        "# The remainder of this file is compressed using zlib.\n"
    )
    lines = []
    for entry in sorted(project.entries, key=lambda e: (e.kind, e.name)):
        assert not re.search(r"\s", entry.name + entry.uri), entry
        lines.append(f"{entry.name} {entry.kind} 1 {entry.uri} -\n")
    return header.encode() + zlib.compress("".join(lines).encode(), 9)


def write() -> None:
    HERE.mkdir(exist_ok=True)
    for project in PROJECTS:
        project.path.write_bytes(inventory_bytes(project))


if __name__ == "__main__":
    write()
