"""The public surface of :mod:`pytest_socks5.faults`: fault types and enums, nothing else."""

from __future__ import annotations

import enum
import re
from pathlib import Path

import pytest_socks5.faults as faults
from pytest_socks5.faults import Fault

REFERENCE = Path(__file__).parent.parent / "docs" / "reference.rst"


def public_names() -> list[str]:
    # pytest rewrites the plugin's modules and adds ``@py_builtins``/``@pytest_ar``: not names.
    return sorted(n for n in vars(faults) if n.isidentifier() and not n.startswith("_"))


def test_every_public_name_of_faults_is_in_its_all() -> None:
    assert public_names() == sorted(faults.__all__)


#: The functions :mod:`pytest_socks5.faults` exports beside its types.
FUNCTIONS = {"every_split"}


def test_faults_exports_only_fault_types_and_enums() -> None:
    for name in set(faults.__all__) - FUNCTIONS:
        value = getattr(faults, name)
        assert isinstance(value, type), f"faults.{name} is not a class: {value!r}"
        assert issubclass(value, Fault | enum.Enum), f"faults.{name} is not a fault or enum"
        assert value.__module__.startswith("pytest_socks5.")


def test_internals_stay_internal() -> None:
    for name in ("FaultSet", "TransferFault", "HANDSHAKE_FAULTS", "enum", "random", "threading"):
        assert not hasattr(faults, name), f"faults.{name} is public"


def test_every_public_name_of_faults_is_documented_in_the_reference() -> None:
    documented = set(
        re.findall(
            r"^\.\. auto(?:class|function):: pytest_socks5\.faults\.(\w+)",
            REFERENCE.read_text(),
            re.M,
        )
    )
    assert documented == set(faults.__all__)
