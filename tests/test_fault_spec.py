"""``--fault`` specs (:mod:`pytest_socks5._fault_spec`): the whole catalog as text, the
same values as the API, and a refusal that says what is valid."""

from __future__ import annotations

import dataclasses

import pytest

from pytest_socks5 import faults
from pytest_socks5._fault_spec import FAULTS, POSITIONAL, FaultSpecError, parse_fault
from pytest_socks5._protocol import AddressType, AuthMethod, Reply
from pytest_socks5.faults import (
    Bandwidth,
    Blackhole,
    BoundAddress,
    Close,
    CloseAfter,
    Delay,
    FailAuth,
    ForceMethod,
    Fragment,
    Latency,
    RawAnswer,
    ReplyWith,
    ResetAfter,
    Slicer,
    SlowClose,
    Stall,
    Truncate,
    WrongVersion,
)

# The extension points are written in Python, not in a fault spec string.
NOT_FAULTS = {"Fault", "Phase", "Direction", "CustomFault", "FunctionFault", "every_split"}


def test_the_catalog_is_every_public_fault() -> None:
    assert set(FAULTS) == set(faults.__all__) - NOT_FAULTS
    assert set(POSITIONAL) == set(FAULTS.values())
    for cls, names in POSITIONAL.items():
        assert set(names) <= {f.name for f in dataclasses.fields(cls)}, cls


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("delay:request:0.01", Delay(at="request", seconds=0.01)),
        ("delay:0.5", Delay(seconds=0.5)),
        # a value with a colon (IPv6): as key=value, or bare in brackets; "," after the name
        ("boundaddress,bound_type=4,bound_host=::1", BoundAddress(bound_type=4, bound_host="::1")),
        (
            "boundaddress:[::1]:80,bound_type=ipv6",
            BoundAddress(bound_type=4, bound_host="::1", bound_port=80),
        ),
        (
            "boundaddress:[ fe80::1%eth0 ],bound_type=ipv6",
            BoundAddress(bound_type=4, bound_host="fe80::1%eth0"),
        ),
        ("stall:reply,host=::1", Stall(host="::1")),
        ("delay,request,0.5", Delay(at="request", seconds=0.5)),
        ("Delay:at=auth,seconds=2", Delay(at="auth", seconds=2)),
        ("delay:request,0.25,times=2", Delay(at="request", seconds=0.25, times=2)),
        ("stall:greeting", Stall(at="greeting")),
        ("close:request:true", Close(at="request", reset=True)),
        ("truncate:reply:3:stall", Truncate(length=3, then="stall")),
        ("wrong_version:greeting:0x04", WrongVersion(at="greeting", version=4)),
        ("rawanswer:greeting:05ff", RawAnswer(at="greeting", data=b"\x05\xff")),
        ("fragment:reply:1:0.001", Fragment(size=1, delay=0.001)),
        ("forcemethod:0xff", ForceMethod(method=AuthMethod.NO_ACCEPTABLE_METHODS)),
        ("force-method:gssapi", ForceMethod(method=AuthMethod.GSSAPI)),
        ("failauth", FailAuth()),
        ("failauth:2", FailAuth(status=2)),
        ("replywith:connection_refused", ReplyWith(reply=Reply.CONNECTION_REFUSED)),
        (
            "REPLY_WITH:0x04,host=*.example.test,port=443",
            ReplyWith(reply=Reply.HOST_UNREACHABLE, host="*.example.test", port=443),
        ),
        (
            "boundaddress:bound_host=::1,bound_port=80,bound_type=ipv6",
            BoundAddress(bound_type=AddressType.IPV6, bound_host="::1", bound_port=80),
        ),
        ("boundaddress:bound_type=0,raw=none", BoundAddress(bound_type=0)),
        ("latency:to_client:0.05", Latency(direction="to_client", seconds=0.05)),
        ("latency:0.1:0.02,probability=0.5,seed=7", Latency(jitter=0.02, probability=0.5, seed=7)),
        ("bandwidth:1000", Bandwidth(bytes_per_second=1000)),
        ("bandwidth:from_client:1000", Bandwidth(direction="from_client", bytes_per_second=1000)),
        ("slicer:1:0.01", Slicer(size=1, delay=0.01)),
        ("blackhole:10,client=127.0.0.1", Blackhole(after=10, client="127.0.0.1")),
        ("closeafter:100,nth=2", CloseAfter(after=100, nth=2)),
        ("resetafter:seconds=0.5", ResetAfter(seconds=0.5)),
        ("resetafter:upstream:10", ResetAfter(direction="from_client", after=10)),
        ("slowclose:1,username=alice", SlowClose(seconds=1.0, username="alice")),
        ("replywith:command=bind,address_type=domain", ReplyWith(command=2, address_type=3)),
    ],
)
def test_a_spec_makes_the_same_value_as_the_api(spec: str, expected: faults.Fault) -> None:
    assert parse_fault(spec) == expected


def test_every_keyword_of_every_fault_has_a_text_form() -> None:
    samples = {"Phase": "reply", "Direction": "both", "bytes": "05", "bool": "true"}
    refusals = []
    for cls in FAULTS.values():
        for field in dataclasses.fields(cls):
            if field.name == "when":
                continue
            kind = str(field.type)
            text = next((v for k, v in samples.items() if k in kind), "1")
            try:
                parse_fault(f"{cls.__name__}:{field.name}={text}")
            except FaultSpecError as exc:  # the fault's own checks may refuse a sample
                refusals.append(str(exc))
    assert [r for r in refusals if "no text form" in r] == []


@pytest.mark.parametrize(
    ("spec", "words"),
    [
        ("delya:request:0.01", ["unknown fault 'delya' (did you mean Delay?)", *FAULTS]),
        ("nosuchthing", ["unknown fault 'nosuchthing'; the faults: Stall, Delay, "]),
        ("delay:secs=1", ["Delay has no keyword 'secs' (did you mean seconds?)", "at, seconds"]),
        ("delay:request:x", ["Delay seconds=x: expected seconds"]),
        ("delay:1:2", ["too many values: Delay takes [at] seconds"]),
        (
            "delay:requst:0.1",
            ["'requst' is not a phase (did you mean request?)", "auth, greeting"],
        ),
        ("stall:handshake", ["'handshake' is not a phase; Stall takes [at] no other value"]),
        ("latency:sidewys:1:2", ["'sidewys' is not a direction", "from_client, to_client"]),
        (
            "latency:to_clinet:0.05",  # as many values as it takes: a near miss all the same
            ["'to_clinet' is not a direction (did you mean to_client?)", "from_client"],
        ),
        ("stall:rely", ["'rely' is not a phase (did you mean reply?)"]),
        ("delay:seconds=1,0.5", ["the value '0.5' comes after a key=value"]),
        ("delay:seconds=1,seconds=2", ["seconds is given twice"]),
        ("delay::1", ["an empty value"]),
        ("delay:when=1", ["when= takes a Python function"]),
        ("truncate:reply:1:stal", ["Truncate then=stal: expected close or stall"]),
        ("rawanswer:zz", ["expected bytes as hex"]),
        ("replywith:nope", ["a number (0x05 or 5) or one of succeeded, general_failure"]),
        ("latency:sideways:1", ["Latency seconds=sideways"]),
        ("latency:direction=sideways", ["a direction: from_client, to_client or both"]),
        # the fault's own checks, in its own words
        ("replywith:succeeded", ["ReplyWith answers a failure"]),
        ("truncate:request:1", ["at='request' has none"]),
        ("stall:greeting,host=x", ["before the client has sent host"]),
        ("resetafter", ["exactly one of after= (bytes) or seconds="]),
        ("boundaddress:notanip", ["BoundAddress: bound_host must be an IPv4 address for"]),
        ("boundaddress:[::1:80", ["the value '[::1:80': a value in brackets is written [TEXT]"]),
        ("boundaddress:[::1]80", ["a value in brackets is written [TEXT] and ends before a ':'"]),
        ("boundaddress:[]:80", ["an empty value"]),
        (
            "stall,host=[::1]",
            [
                "Stall: host must be None or a host name, address or glob, got '[::1]': "
                "an IPv6 address is written without brackets (::1)"
            ],
        ),
    ],
)
def test_a_bad_spec_is_refused_saying_what_is_valid(spec: str, words: list[str]) -> None:
    with pytest.raises(FaultSpecError) as caught:
        parse_fault(spec)
    message = str(caught.value)
    assert message.startswith(f"{spec!r}: ")
    assert "\n" not in message
    for word in words:
        assert word in message


def test_every_example_in_the_cli_how_to_parses() -> None:
    from pathlib import Path

    howto = Path(__file__).resolve().parent.parent / "docs" / "howto" / "outside-pytest.rst"
    rows = [line.split() for line in howto.read_text(encoding="utf-8").splitlines()]
    examples = {row[0].strip("`"): row[-1].strip("`") for row in rows if len(row) > 2}
    examples = {name: spec for name, spec in examples.items() if name in FAULTS}
    assert set(examples) == set(FAULTS)
    for name, spec in examples.items():
        assert type(parse_fault(spec)).__name__ == name, spec
