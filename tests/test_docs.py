"""The docs' promise: every code example is a file this suite runs.

Python in the docs comes only from ``literalinclude`` of files that are test modules under
docs/examples (collected through ``testpaths``), or that a test module of this suite
reads and runs (the pytester projects, the pyproject example). No Python is written
inline, where nothing would run it.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent
DOCS = ROOT / "docs"
PAGES = sorted(p for p in DOCS.rglob("*.rst") if "_build" not in p.parts)
INCLUDE = re.compile(r"^\s*\.\. literalinclude:: (\S+)", re.MULTILINE)


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
