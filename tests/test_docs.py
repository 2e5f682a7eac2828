"""The docs' promise: every code example is a file this suite runs.

Python in the docs comes only from ``literalinclude`` of files that are test modules under
docs/examples (collected through ``testpaths``), or that a test module of this suite
reads and runs (the pytester projects, the pyproject example). No Python is written
inline, where nothing would run it.
"""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent
DOCS = ROOT / "docs"
PAGES = sorted(p for p in DOCS.rglob("*.rst") if "_build" not in p.parts)
INCLUDE = re.compile(r"^\s*\.\. literalinclude:: (\S+)", re.MULTILINE)
#: A top-level ``literalinclude`` with its options (``:start-at: import pytest`` …).
INCLUDE_WITH_OPTIONS = re.compile(
    r"^\.\. literalinclude:: (\S+)\n((?:   :[\w-]+:.*\n)*)", re.MULTILINE
)


def includes() -> list[tuple[Path, Path]]:
    found = []
    for page in PAGES:
        for target in INCLUDE.findall(page.read_text(encoding="utf-8")):
            found.append((page, (page.parent / target).resolve()))
    return found


def _test_sources() -> str:
    modules = [*DOCS.glob("examples/test_*.py"), *(ROOT / "tests").glob("test_*.py")]
    return "\n".join(p.read_text(encoding="utf-8") for p in modules)


def test_the_docs_include_examples() -> None:
    pages = {page for page, _ in includes()}
    for section in ("clients", "howto"):
        assert all(p in pages for p in (DOCS / section).glob("*.rst") if p.stem != "index"), (
            f"every {section} page shows tested code"
        )


@pytest.mark.parametrize(("page", "target"), includes(), ids=lambda v: str(v.relative_to(ROOT)))
def test_every_included_file_runs_in_the_suite(page: Path, target: Path) -> None:
    assert target.is_file(), f"{page.name} includes a missing file {target}"
    relative = target.relative_to(DOCS / "examples")  # examples live there and only there
    if relative.parent == Path(".") and re.fullmatch(r"test_\w+\.py", relative.name):
        return  # collected: docs/examples is in testpaths
    # Anything else is read by a test module: a pytester project or a config example.
    needle = relative.parts[0] if len(relative.parts) > 1 else relative.name
    assert f'"{needle}"' in _test_sources(), f"no test runs {relative}"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(DOCS)))
def test_no_untested_python_inline(page: Path) -> None:
    text = page.read_text(encoding="utf-8")
    assert not re.search(r"^\s*\.\. code-block:: (python|py|pycon)", text, re.MULTILINE)
    assert ">>> " not in text


def shown_code(page: Path) -> str:
    """The code of the page's first ``literalinclude``, exactly as Sphinx shows it."""
    from sphinx.config import Config
    from sphinx.directives.code import LiteralIncludeReader

    match = INCLUDE_WITH_OPTIONS.search(page.read_text(encoding="utf-8"))
    assert match is not None, f"{page.name} includes no file"
    options = dict(
        re.fullmatch(r"\s*:([\w-]+):\s*(.*)", line).groups()  # type: ignore[union-attr]
        for line in match.group(2).splitlines()
    )
    text, _ = LiteralIncludeReader(page.parent / match.group(1), options, Config()).read()
    return text


def test_the_landing_page_example_runs_as_written(pytester: pytest.Pytester) -> None:
    """The landing page shows a whole test module; pasted into an empty project (no
    conftest.py, none of the docs' fixtures), it passes."""
    code = shown_code(DOCS / "index.rst")
    assert "def test_" in code
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n")
    pytester.makepyfile(test_example=code)
    pytester.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=1)


def test_every_fixture_has_a_reference_entry() -> None:
    plugin = (ROOT / "pytest_socks5" / "plugin.py").read_text(encoding="utf-8")
    fixtures = set(re.findall(r"^@pytest\.fixture\b.*\n(?:@.*\n)*def (\w+)", plugin, re.M))
    reference = (DOCS / "reference.rst").read_text(encoding="utf-8")
    entries = set(re.findall(r"^\.\. fixture:: (\w+)$", reference, re.M))
    assert "socks5_server" in fixtures
    assert entries == fixtures


# -- intersphinx, offline -------------------------------------------------------------------


def _inventories():  # type: ignore[no-untyped-def]
    """docs/_ext/inventories.py, imported the way conf.py imports it."""
    if str(DOCS / "_ext") not in sys.path:
        sys.path.insert(0, str(DOCS / "_ext"))
    import inventories

    return inventories


def test_the_committed_inventories_are_written_from_the_lists() -> None:
    import zlib

    inventories = _inventories()
    for project in inventories.PROJECTS:
        committed = project.path.read_bytes()
        written = inventories.inventory_bytes(project)
        head, body = committed.split(b"zlib.\n", 1)
        fresh_head, fresh_body = written.split(b"zlib.\n", 1)
        assert (head, zlib.decompress(body)) == (fresh_head, zlib.decompress(fresh_body)), (
            f"run python docs/_ext/inventories.py to rewrite {project.path.name}"
        )


ROLES = {
    "py:exception": "py:exc",
    "py:class": "py:class",
    "py:function": "py:func",
    "py:data": "py:data",
    "py:module": "py:mod",
    "std:fixture": "fixture",
}


def test_intersphinx_resolves_every_listed_object_offline(tmp_path: Path) -> None:
    """A nitpicky build that refers to every listed object, with the docs' mapping: each
    reference resolves from the local inventory to the project's real address."""
    from sphinx.cmd.build import build_main

    inventories = _inventories()
    source = tmp_path / "src"
    source.mkdir()
    (source / "conf.py").write_text(
        f"import sys\nsys.path.insert(0, {str(DOCS / '_ext')!r})\n"
        "import inventories\n"
        "extensions = ['sphinx.ext.intersphinx']\n"
        "intersphinx_mapping = {p.key: (p.url, str(p.path)) for p in inventories.PROJECTS}\n"
        "def setup(app):\n"
        "    app.add_object_type('fixture', 'fixture')\n"
    )
    lines = ["Links", "=====", ""]
    expected = []
    for project in inventories.PROJECTS:
        for entry in project.entries:
            lines.append(f"* :{ROLES[entry.kind]}:`{project.key}:{entry.name}`")
            expected.append(project.url + entry.uri.replace("$", entry.name))
    (source / "index.rst").write_text("\n".join(lines) + "\n")
    status = build_main(["-q", "-n", "-W", "-b", "html", str(source), str(tmp_path / "out")])
    assert status == 0
    page = (tmp_path / "out" / "index.html").read_text(encoding="utf-8")
    for url in expected:
        assert f'href="{url}"' in page, url


def test_moved_pages_redirect_to_where_their_content_is() -> None:
    """An old address (``howto/cli.html``) keeps working: docs/_ext/redirects.py writes
    it as a redirect to the section that holds the content now."""
    conf = (DOCS / "conf.py").read_text(encoding="utf-8")
    redirects = re.search(r"^redirects = (\{.*?\})$", conf, re.M | re.S)
    assert redirects is not None
    for old, new in ast.literal_eval(redirects.group(1)).items():
        page, _, anchor = new.partition("#")
        assert not (DOCS / f"{old}.rst").exists(), f"{old} is a page and a redirect"
        assert f".. _{anchor}:\n" in (DOCS / f"{page}.rst").read_text(encoding="utf-8")
