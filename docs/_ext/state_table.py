"""``.. socks5-state-table::`` renders ``pytest_socks5._protocol.TRANSITIONS`` as a table.

The state machine's rules live in one table in the code; this directive draws the docs
from that table, so the two cannot drift apart.
"""

from __future__ import annotations

import inspect

from docutils import nodes
from sphinx.application import Sphinx
from sphinx.util.docutils import SphinxDirective

HEADERS = ("State", "What happens", "Who acts", "Next state")
WIDTHS = (22, 36, 12, 22)


def _literal_cell(text: str) -> nodes.entry:
    return nodes.entry("", nodes.paragraph("", "", nodes.literal(text, text)))


def _text_cell(text: str) -> nodes.entry:
    return nodes.entry("", nodes.paragraph(text, text))


def _row(cells: list[nodes.entry]) -> nodes.row:
    row = nodes.row()
    row.extend(cells)
    return row


class StateTable(SphinxDirective):
    """One row per ``(state, event) -> next state`` rule, in the order of the code."""

    has_content = False

    def run(self) -> list[nodes.Node]:
        from pytest_socks5._protocol import TRANSITIONS, _connection

        self.env.note_dependency(inspect.getfile(_connection))

        table = nodes.table(classes=["socks5-state-table"])
        group = nodes.tgroup(cols=len(HEADERS))
        table += group
        group.extend(nodes.colspec(colwidth=width) for width in WIDTHS)
        head = nodes.thead()
        head += _row([_text_cell(h) for h in HEADERS])
        group += head
        body = nodes.tbody()
        for (state, event), next_state in TRANSITIONS.items():
            # A client message is named by its class; a server message by a label.
            actor = "client" if event.isidentifier() else "server"
            body += _row(
                [
                    _literal_cell(state.name),
                    _literal_cell(event),
                    _text_cell(actor),
                    _literal_cell(next_state.name),
                ]
            )
        group += body
        return [table]


def setup(app: Sphinx) -> dict[str, object]:
    app.add_directive("socks5-state-table", StateTable)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
