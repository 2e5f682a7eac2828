"""A package's exports, imported on first use (PEP 562): the core's, and the public
package's above it. Loading the pytest plugin reads the option table, which needs the
enums only; a suite that never asks for a proxy should not pay for the parser, the
messages, the server or asyncio."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from importlib import import_module
from types import ModuleType
from typing import Any

__all__ = ["lazy_exports"]


def lazy_exports(
    package: str, homes: Mapping[str, tuple[str, ...]], namespace: dict[str, Any]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """A package's ``__getattr__`` and ``__dir__``: ``homes`` maps each submodule to the
    names it exports (a submodule exported as itself maps to its own name); a name is
    imported on first use and kept in the package's ``namespace``."""
    home_of = {name: module for module, names in homes.items() for name in names}

    def getattr_(name: str) -> Any:
        module = home_of.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value: Any = import_module(f"{package}.{module}")
        if module != name:
            value = getattr(value, name)
        namespace[name] = value
        return value

    def dir_() -> list[str]:
        # What the package exports, and its own dunders: not what it imports for itself.
        own = (
            name
            for name, value in namespace.items()
            if name.startswith("__") or (isinstance(value, ModuleType) and name[0] != "_")
        )  # and the public submodules imported (``testing``, ``rawclient``)
        return sorted({*own, *home_of, *namespace.get("__all__", ())})

    return getattr_, dir_
