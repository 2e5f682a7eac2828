"""Sphinx configuration for the pytest-socks5 documentation."""

from __future__ import annotations

import sys
from pathlib import Path

from sphinx.application import Sphinx

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE / "_ext"))
sys.path.insert(0, str(HERE.parent))

import inventories  # noqa: E402

from pytest_socks5 import __version__  # noqa: E402

project = "pytest-socks5"
author = "pytest-socks5 developers"
copyright = "pytest-socks5 developers"
version = release = __version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.intersphinx",
    "options_table",
    "state_table",
    "redirects",
]

# Old page -> the page (and section) that holds its content now.
redirects = {"howto/cli": "howto/outside-pytest#cli"}

# Every reference must resolve (``sphinx-build -n`` says the same).
nitpicky = True
# Private types that public signatures mention (``pytest_socks5._option_types`` …) have no
# page of their own: what they hold is documented where they are used.
nitpick_ignore_regex = [(r"py:.*", r"pytest_socks5\._.*")]

# Links go to each project's real documentation; the objects come from small local
# inventories (docs/_ext/inventories.py), because the build never reaches the network.
intersphinx_mapping = {
    project.key: (project.url, str(project.path)) for project in inventories.PROJECTS
}

exclude_patterns = ["_build", "examples"]
templates_path: list[str] = []

autodoc_member_order = "bysource"
autodoc_typehints = "signature"
autodoc_preserve_defaults = True

html_theme = "furo"
html_title = f"pytest-socks5 {release}"
html_static_path: list[str] = []


def setup(app: Sphinx) -> None:
    # ``.. fixture:: name`` (an API entry) and ``:fixture:`name```, the role pytest's own
    # docs use, so that pytest's fixtures resolve through intersphinx too.
    app.add_object_type("fixture", "fixture", objname="fixture", indextemplate="pair: %s; fixture")
