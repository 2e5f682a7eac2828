"""The value classes that take ``repr``, ``==`` and hash from ``FieldValues`` rather than
from ``dataclass`` behave as the generated methods did: users compare faults and records,
put them in sets and read their reprs in assertion failures."""

from __future__ import annotations

import dataclasses
import importlib
import pkgutil
from dataclasses import dataclass, field

import pytest

import pytest_socks5
from pytest_socks5 import ConnectionRecord, Rule, faults
from pytest_socks5._field_values import FieldValues

#: Mutable state, equal only to itself, on purpose.
IDENTITY_EQUAL = {"LiveRecord", "UdpFaultState"}


def package_dataclasses() -> list[type]:
    found: dict[str, type] = {}
    for info in pkgutil.walk_packages(pytest_socks5.__path__, "pytest_socks5."):
        if info.name.endswith(("plugin", "__main__")):
            continue
        module = importlib.import_module(info.name)
        for value in vars(module).values():
            if isinstance(value, type) and dataclasses.is_dataclass(value):
                found[f"{value.__module__}.{value.__qualname__}"] = value
    return list(found.values())


@pytest.mark.parametrize("cls", package_dataclasses(), ids=lambda c: c.__qualname__)
def test_no_value_class_falls_back_to_identity(cls: type) -> None:
    """A dataclass declared ``eq=False`` without the mixin would compare by identity."""
    params = cls.__dataclass_params__  # type: ignore[attr-defined]
    if params.eq or cls.__name__ in IDENTITY_EQUAL:
        return
    assert issubclass(cls, FieldValues), f"{cls.__qualname__}: eq=False and no FieldValues"
    assert "__eq__" not in cls.__dict__ or cls is FieldValues


@dataclass(frozen=True, kw_only=True, repr=False, eq=False)
class Mixed(FieldValues):
    name: str
    secret: bytes = field(default=b"", repr=False)
    note: str = field(default="", compare=False)


@dataclass(frozen=True, kw_only=True)
class Generated:
    name: str
    secret: bytes = field(default=b"", repr=False)
    note: str = field(default="", compare=False)


@dataclass(frozen=True, kw_only=True, repr=False, eq=False)
class Other(FieldValues):
    name: str
    secret: bytes = field(default=b"", repr=False)
    note: str = field(default="", compare=False)


def test_repr_is_the_generated_one() -> None:
    mine = repr(Mixed(name="a", secret=b"x", note="n"))
    generated = repr(Generated(name="a", secret=b"x", note="n"))
    assert mine == generated.replace("Generated", "Mixed") == "Mixed(name='a', note='n')"


def test_equality_and_hash_follow_the_compared_fields() -> None:
    one, same, other = Mixed(name="a"), Mixed(name="a", note="ignored"), Mixed(name="b")
    assert one == same
    assert hash(one) == hash(same)
    assert one != other
    assert one != Mixed(name="a", secret=b"s")
    assert len({one, same, other}) == 2
    assert one != Other(name="a"), "another class with the same fields is not equal"
    assert one.__eq__("a") is NotImplemented


def test_faults_compare_by_class_and_fields() -> None:
    assert faults.Delay(seconds=1) == faults.Delay(seconds=1)
    assert faults.Delay(seconds=1) != faults.Delay(seconds=2)
    assert faults.Stall(at="greeting") != faults.Close(at="greeting")
    assert faults.Delay(when=lambda r: True) == faults.Delay(), "when= is not compared"
    assert len({faults.ReplyWith(reply=5), faults.ReplyWith(reply=5)}) == 1
    assert repr(faults.Latency(seconds=0.5)).startswith("Latency(host=None, port=None,")
    assert repr(faults.Latency(seconds=0.5)).endswith("seconds=0.5, jitter=0.0)")


def test_a_users_custom_fault_keeps_its_own_fields_in_equality() -> None:
    @dataclass(frozen=True, kw_only=True)
    class Swap(faults.CustomFault):
        byte: int = 0

    assert Swap(byte=1) == Swap(byte=1)
    assert Swap(byte=1) != Swap(byte=2)
    assert "byte=1" in repr(Swap(byte=1))


def test_records_and_rules_stay_values() -> None:
    record = ConnectionRecord(id=1, client_address=("127.0.0.1", 1), raw_password=b"pw")
    assert record == dataclasses.replace(record)
    assert hash(record) == hash(
        ConnectionRecord(id=1, client_address=("127.0.0.1", 1), raw_password=b"pw")
    )
    assert record != dataclasses.replace(record, id=2)
    assert "raw_password" not in repr(record)
    assert "pw" not in repr(record)
    assert (
        Rule.allow(host="127.0.0.1") == Rule.allow(host="127.0.0.1") != Rule.deny(host="127.0.0.1")
    )
