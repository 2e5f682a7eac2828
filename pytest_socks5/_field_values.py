"""``repr``, ``==`` and ``hash`` from a dataclass's fields, written once for a family.

Strategy: ``dataclass`` compiles every method it generates from source text, once per
class, when the class is created: on Python 3.11 about 0.2 ms a method, and the package
declares some 50 frozen dataclasses, so generated methods were most of the proxy's
import and so of its start-up (``docs/performance.rst``). A class declared
``@dataclass(..., repr=False, eq=False)`` that derives from :class:`FieldValues` gets
these three instead, which behave as the generated ones do: the fields in their order,
without those declared ``repr=False`` (in the repr) or ``compare=False`` (in ``==`` and
the hash), and equal only to an instance of the very same class. ``__init__`` (and a
frozen class's ``__setattr__``) are still generated: they are the class's signature.
"""

from __future__ import annotations

from dataclasses import Field, fields
from typing import Any

__all__ = ["FieldValues"]


class FieldValues:
    """Mixin for a dataclass declared ``repr=False, eq=False`` (see the module)."""

    __slots__ = ()

    def __repr__(self) -> str:
        shown = (f"{f.name}={getattr(self, f.name)!r}" for f in _fields(self) if f.repr)
        return f"{type(self).__qualname__}({', '.join(shown)})"

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        assert isinstance(other, FieldValues)
        return self._compared() == other._compared()

    def __hash__(self) -> int:
        return hash(self._compared())

    def _compared(self) -> tuple[Any, ...]:
        return tuple(getattr(self, f.name) for f in _fields(self) if f.compare)


def _fields(value: Any) -> tuple[Field[Any], ...]:
    return fields(value)
