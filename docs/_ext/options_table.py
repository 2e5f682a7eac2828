"""``.. socks5-options-table::`` renders ``pytest_socks5._options.OPTIONS`` as a table.

Every option is declared once, in the code; this directive draws the reference's table
from those declarations (name, default, where it may be given, one-line doc), so the two
cannot drift apart.
"""

from __future__ import annotations

import inspect

from docutils import nodes
from sphinx.application import Sphinx
from sphinx.util.docutils import SphinxDirective

HEADERS = ("Option", "Default", "Given to", "Meaning")
WIDTHS = (18, 12, 30, 40)


def _cell(*parts: nodes.Node) -> nodes.entry:
    return nodes.entry("", nodes.paragraph("", "", *parts))


def _literals(texts: list[str]) -> list[nodes.Node]:
    """``a``, ``b``, … as inline literals separated by commas."""
    out: list[nodes.Node] = []
    for i, text in enumerate(texts):
        if i:
            out.append(nodes.Text(", "))
        out.append(nodes.literal(text, text))
    return out


def _row(cells: list[nodes.entry]) -> nodes.row:
    row = nodes.row()
    row.extend(cells)
    return row


def given_to(option: object) -> list[str]:
    """Where an option may be given, in words a reader types."""
    from pytest_socks5._options import Option, Site

    assert isinstance(option, Option)
    places = []
    if Site.CONSTRUCTOR in option.sites:
        places.append("SOCKS5Server()")
    if Site.CONFIGURE in option.sites:
        places.append("configure()")
    if Site.MARKER in option.sites:
        places.append("marker (dedicated server)" if option.own_listener else "marker")
    if option.ini is not None:
        places.append(f"ini {option.ini_name}")
    if option.flag is not None:
        places.append(option.flag.name)
    if option.main is not None:
        places.append(f"python -m … {option.main.name}")
    return places


class OptionsTable(SphinxDirective):
    """One row per option, in the order of the table in the code."""

    has_content = False

    def run(self) -> list[nodes.Node]:
        from pytest_socks5 import _options

        self.env.note_dependency(inspect.getfile(_options))

        table = nodes.table(classes=["socks5-options-table"])
        group = nodes.tgroup(cols=len(HEADERS))
        table += group
        group.extend(nodes.colspec(colwidth=width) for width in WIDTHS)
        head = nodes.thead()
        head += _row([_cell(nodes.Text(h)) for h in HEADERS])
        group += head
        body = nodes.tbody()
        for option in _options.OPTIONS:
            default = option.default_doc or repr(option.default)
            body += _row(
                [
                    _cell(nodes.literal(option.name, option.name)),
                    _cell(nodes.literal(default, default)),
                    _cell(*_literals(given_to(option))),
                    _cell(nodes.Text(option.doc)),
                ]
            )
        group += body
        return [table]


def setup(app: Sphinx) -> dict[str, object]:
    app.add_directive("socks5-options-table", OptionsTable)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
