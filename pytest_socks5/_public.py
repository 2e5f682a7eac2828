"""Public classes say ``pytest_socks5.X`` in tracebacks and reprs, not the private module
they live in: :mod:`pytest_socks5` imports each exported name on first use (so that
loading the pytest plugin costs a suite that never asks for a proxy neither the server
nor asyncio), so a public class is named where it is made."""

from __future__ import annotations

from typing import TypeVar

__all__ = ["public"]

_Class = TypeVar("_Class", bound=type)


def public(cls: _Class) -> _Class:
    """Name ``cls`` as the package exports it (a class decorator; outermost on a
    dataclass, which may make a new class)."""
    cls.__module__ = "pytest_socks5"
    return cls
