"""The faults how-to documents every outcome and what each fault ends a connection with."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from pytest_socks5 import Outcome, faults

PAGE = (Path(__file__).parent.parent / "docs" / "howto" / "faults.rst").read_text("utf-8")


def section(title: str) -> str:
    """The text of the section ``title`` up to the next heading of any level."""
    start = PAGE.index(f"\n{title}\n")
    rest = PAGE[start + len(title) + 2 :]
    following = re.search(r"\n[^\n]+\n[-~=]{4,}\n", rest[rest.index("\n") :])
    return rest if following is None else rest[: rest.index("\n") + following.start()]


@pytest.mark.parametrize("outcome", list(Outcome), ids=lambda o: o.name)
def test_every_outcome_is_explained(outcome: Outcome) -> None:
    table = section("How a connection ends")
    row = re.search(rf"\* - ``Outcome\.{outcome.name}``\n\s+- (\S.*)", table)
    assert row is not None, f"Outcome.{outcome.name} has no row in the outcomes table"


HANDSHAKE_AND_TRANSFER = sorted(
    name
    for name in faults.__all__
    if isinstance(cls := getattr(faults, name), type)
    and issubclass(cls, faults.Fault)
    and cls is not faults.Fault
)


@pytest.mark.parametrize("name", HANDSHAKE_AND_TRANSFER)
def test_every_fault_says_how_the_connection_ends(name: str) -> None:
    table = section("What the record says")
    assert re.search(rf"\* - [^\n]*``{name}[`(]", table), f"{name} is not in the table"
