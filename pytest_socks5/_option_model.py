"""The shape of an option declaration: what :data:`~pytest_socks5._options.OPTIONS` is a
table of.

Strategy: frozen dataclasses with nothing but data and the names derived from it
(``socks5_<name>`` for the ini option and the pytest flag's ``dest``), so a declaration
says everything about an option and its forms, and the table's readers need no
knowledge of any one option. Pure.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from ._checks import Check
from ._field_values import FieldValues

__all__ = ["Flag", "Ini", "Option", "Site"]


class Site(enum.Enum):
    """Where an option may be given."""

    CONSTRUCTOR = "SOCKS5Server()"
    CONFIGURE = "configure()"
    MARKER = "marker"
    INI = "ini"
    FLAG = "pytest flag"
    MAIN = "python -m"


@dataclass(frozen=True, kw_only=True, repr=False, eq=False)
class Flag(FieldValues):
    """A command-line form: what argparse's ``add_argument`` needs besides ``dest``."""

    name: str
    action: str = "store"
    type: Callable[[str], Any] | None = None
    metavar: str | None = None
    choices: tuple[str, ...] | None = None
    const: Any = None
    #: ``"?"``: the value may be left out (then it is ``const``).
    nargs: str | None = None
    #: ``python -m``: the value when the flag is absent, if not the option's default.
    default: Any = None
    help: str = ""

    def argparse_arguments(self) -> dict[str, Any]:
        """``add_argument`` keywords, leaving out what the action does not take."""
        given = {
            "action": self.action,
            "type": self.type,
            "metavar": self.metavar,
            "choices": self.choices,
            "const": self.const,
            "nargs": self.nargs,
        }
        return {k: v for k, v in given.items() if v is not None}


@dataclass(frozen=True, kw_only=True, repr=False, eq=False)
class Ini(FieldValues):
    """An ini form, named ``socks5_<option>``: pytest's ``addini`` type and default."""

    type: Literal["string", "bool", "args", "linelist"] = "string"
    default: Any = ""
    help: str = ""


def _unchanged(value: Any) -> Any:
    return value


def _anything(name: str, value: Any) -> Any:
    return value


@dataclass(frozen=True, kw_only=True, repr=False, eq=False)
class Option(FieldValues):
    """One option, and every place it may be given."""

    name: str
    default: Any
    #: One line for the docs' table and for help texts without their own.
    doc: str
    #: Where it is a keyword argument (its ini and command-line forms are below).
    given_to: frozenset[Site]
    #: ``(name, value)``: checks a Python value and returns what the server keeps, or
    #: raises ``TypeError``/``ValueError`` naming the option (see :mod:`._checks`).
    check: Check = _anything
    #: A field of :class:`~pytest_socks5._config.EngineConfig` (the same name), which
    #: ``configure()`` and ``reset()`` swap per test.
    per_connection: bool = False
    #: In a marker, it needs a listener of its own, so the test gets a dedicated server.
    own_listener: bool = False
    ini: Ini | None = None
    #: The pytest command-line flag (``dest`` ``socks5_<option>``).
    flag: Flag | None = None
    #: Turns an ini or pytest flag value (text, a list of lines, a bool) into a value.
    from_text: Callable[[Any], Any] = _unchanged
    #: ``python -m pytest_socks5``'s flag (``dest`` is the option's name).
    main: Flag | None = None
    #: How the docs show the default, where ``repr`` would not say it well.
    default_doc: str | None = None

    def normalise(self, value: Any) -> Any:
        """``value`` checked (raises at once if bad) and as the server keeps it."""
        return self.check(self.name, value)

    @property
    def sites(self) -> frozenset[Site]:
        forms = {Site.INI: self.ini, Site.FLAG: self.flag, Site.MAIN: self.main}
        return self.given_to | {site for site, form in forms.items() if form is not None}

    @property
    def ini_name(self) -> str:
        return f"socks5_{self.name}"

    @property
    def flag_dest(self) -> str:
        return f"socks5_{self.name}"

    @property
    def main_default(self) -> Any:
        assert self.main is not None
        return self.default if self.main.default is None else self.main.default
