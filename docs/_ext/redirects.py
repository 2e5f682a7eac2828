"""Pages that moved keep their old address: ``redirects`` in ``conf.py`` maps an old page
name to where its content lives now, and the HTML build writes the old page as a redirect.

An old bookmark or a link from elsewhere to ``howto/cli.html`` lands on the section that
holds the command-line proxy now.
"""

from __future__ import annotations

import html
import posixpath
from pathlib import Path

from sphinx.application import Sphinx

TEMPLATE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Moved</title>
<link rel="canonical" href="{target}">
<meta http-equiv="refresh" content="0; url={target}">
</head>
<body>
<p>This page has moved: <a href="{target}">{target}</a>.</p>
</body>
</html>
"""


def target_uri(old: str, new: str) -> str:
    """``new`` (``page#anchor``, a document name) relative to the old page's HTML file."""
    page, _, anchor = new.partition("#")
    relative = posixpath.relpath(f"{page}.html", posixpath.dirname(old) or ".")
    return relative + (f"#{anchor}" if anchor else "")


def write_redirects(app: Sphinx, exception: BaseException | None) -> None:
    if exception is not None or app.builder.format != "html":
        return
    for old, new in app.config.redirects.items():
        if old in app.env.all_docs:
            raise ValueError(f"{old} is still a page: it cannot also redirect")
        if new.partition("#")[0] not in app.env.all_docs:
            raise ValueError(f"{old} redirects to {new}, which is not a page")
        path = Path(app.outdir) / f"{old}.html"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(TEMPLATE.format(target=html.escape(target_uri(old, new))))


def setup(app: Sphinx) -> dict[str, object]:
    app.add_config_value("redirects", {}, "html", types=(dict,))
    app.connect("build-finished", write_redirects)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
