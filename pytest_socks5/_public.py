"""Public classes say ``pytest_socks5.X`` in tracebacks and reprs, not the private module
they live in: :mod:`pytest_socks5` imports each exported name on first use (so that
loading the pytest plugin costs a suite that never asks for a proxy neither the server
nor asyncio), so a public class is named where it is made, and put in the package's
namespace then: ``typing.get_type_hints`` reads a class's annotations there (its
``__module__``), and a record's name the others it refers to. What an annotation names
that the package does not export (``Literal``, a private alias such as ``Direction``) is
resolved where the class is written, as it is made."""

from __future__ import annotations

import builtins
import contextlib
import re
import sys
from typing import TypeVar

__all__ = ["public"]

_Class = TypeVar("_Class", bound=type)
_PACKAGE = "pytest_socks5"


_IDENTIFIER = re.compile(r"[A-Za-z_]\w*")
_BUILTINS = vars(builtins)


def _found_by_get_type_hints(annotation: str, package: dict[str, object]) -> bool:
    """Whether ``annotation`` names only builtins and what the package exports, which
    ``get_type_hints`` finds without help (most do; evaluating them all would cost each
    process that starts a server about a millisecond)."""
    return all(name in package or name in _BUILTINS for name in _IDENTIFIER.findall(annotation))


def public(cls: _Class) -> _Class:
    """Name ``cls`` as the package exports it (a class decorator; outermost on a
    dataclass, which may make a new class)."""
    package = vars(sys.modules[_PACKAGE])
    annotations = cls.__annotations__  # its own (Python 3.10+), to resolve in place
    for field, annotation in annotations.items():
        if isinstance(annotation, str) and not _found_by_get_type_hints(annotation, package):
            # A name the module binds later (the class itself) stays text: the package
            # exports it, so get_type_hints resolves it there.
            with contextlib.suppress(NameError):
                home = vars(sys.modules[cls.__module__])
                annotations[field] = eval(annotation, home)
    package.setdefault(cls.__name__, cls)
    cls.__module__ = _PACKAGE
    return cls
