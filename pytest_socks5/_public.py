"""Public classes say ``pytest_socks5.X`` in tracebacks and reprs, not the private module
they live in: :mod:`pytest_socks5` imports each exported name on first use (so that
loading the pytest plugin costs a suite that never asks for a proxy neither the server
nor asyncio), so a public class is named where it is made, and put in the package's
namespace then: ``typing.get_type_hints`` reads a class's annotations there (its
``__module__``), and a record's name the others it refers to."""

from __future__ import annotations

import sys
from typing import TypeVar

__all__ = ["public"]

_Class = TypeVar("_Class", bound=type)
_PACKAGE = "pytest_socks5"


def public(cls: _Class) -> _Class:
    """Name ``cls`` as the package exports it (a class decorator; outermost on a
    dataclass, which may make a new class)."""
    vars(sys.modules[_PACKAGE]).setdefault(cls.__name__, cls)
    cls.__module__ = _PACKAGE
    return cls
