"""The wheel and the sdist: they build, pass ``twine check --strict``, register the plugin,
say what they are (classifiers, typed), and carry what they should and nothing else."""

from __future__ import annotations

import subprocess
import sys
import tarfile
import zipfile
from email.parser import Parser
from pathlib import Path

import pytest

import pytest_socks5

ROOT = Path(__file__).parent.parent


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``python -m build`` of this checkout, without build isolation (so no download)."""
    for module in ("build", "hatchling", "twine"):
        pytest.importorskip(module)
    out = tmp_path_factory.mktemp("dist")
    result = subprocess.run(
        [sys.executable, "-m", "build", "--no-isolation", "--outdir", str(out), str(ROOT)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return out


def _one(dist: Path, pattern: str) -> Path:
    (path,) = dist.glob(pattern)
    return path


def test_twine_check_passes(dist: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "twine", "check", "--strict", *map(str, sorted(dist.iterdir()))],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("PASSED") == 2, result.stdout


def test_wheel_metadata_and_entry_point(dist: Path) -> None:
    wheel = _one(dist, f"pytest_socks5-{pytest_socks5.__version__}-py3-none-any.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        info = f"pytest_socks5-{pytest_socks5.__version__}.dist-info"
        metadata = Parser().parsestr(archive.read(f"{info}/METADATA").decode())
        entry_points = archive.read(f"{info}/entry_points.txt").decode()
    assert "[pytest11]\nsocks5 = pytest_socks5.plugin" in entry_points
    classifiers = metadata.get_all("Classifier")
    assert "Framework :: Pytest" in classifiers
    assert "Typing :: Typed" in classifiers
    assert metadata["Requires-Python"] == ">=3.11"
    assert metadata["Description-Content-Type"] == "text/markdown"
    assert any(r.startswith("pytest") for r in metadata.get_all("Requires-Dist"))
    assert "pytest_socks5/py.typed" in names
    assert "pytest_socks5/plugin.py" in names
    assert not [n for n in names if n.startswith(("tests/", "docs/")) or "__pycache__" in n]


def test_sdist_holds_the_suite_and_the_docs(dist: Path) -> None:
    sdist = _one(dist, f"pytest_socks5-{pytest_socks5.__version__}.tar.gz")
    prefix = f"pytest_socks5-{pytest_socks5.__version__}/"
    with tarfile.open(sdist) as archive:
        names = {n.removeprefix(prefix) for n in archive.getnames()}
    for needed in (
        "pyproject.toml",
        "README.md",
        "conftest.py",
        "tox.ini",
        "pytest_socks5/py.typed",
        "tests/conftest.py",
        "docs/conf.py",
        "docs/generated/client-errors.csv",
        "docs/examples/conftest.py",
    ):
        assert needed in names, needed
    unwanted = ("docs/_build/", ".venv/", "__pycache__", ".pytest_cache", ".hypothesis")
    assert not [n for n in names if any(u in n for u in unwanted)]
