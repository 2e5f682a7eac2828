"""Sphinx configuration for the pytest-socks5 documentation."""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE / "_ext"))
sys.path.insert(0, str(HERE.parent))

from pytest_socks5 import __version__  # noqa: E402

project = "pytest-socks5"
author = "pytest-socks5 developers"
copyright = "pytest-socks5 developers"
version = release = __version__

extensions = [
    "sphinx.ext.autodoc",
    "options_table",
    "state_table",
]

exclude_patterns = ["_build", "examples"]
templates_path: list[str] = []

autodoc_member_order = "bysource"
autodoc_typehints = "signature"
autodoc_preserve_defaults = True

html_theme = "furo"
html_title = f"pytest-socks5 {release}"
html_static_path: list[str] = []
