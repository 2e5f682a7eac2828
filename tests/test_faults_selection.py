"""Which connections a fault hits: selection fields, times, nth, seeded probability."""

from __future__ import annotations

import pytest

from pytest_socks5 import AddressType, Command, Reply
from pytest_socks5._fault_set import FaultSet
from pytest_socks5._recorder import LiveRecord
from pytest_socks5.faults import (
    BoundAddress,
    Close,
    CloseAfter,
    Delay,
    FailAuth,
    Fault,
    ForceMethod,
    Fragment,
    Latency,
    Phase,
    ReplyWith,
    Stall,
    Truncate,
    WrongVersion,
)


def record(**fields: object):
    live = LiveRecord(id=1, client_address=("127.0.0.1", 40000))
    for name, value in fields.items():
        setattr(live, name, value)
    return live.freeze()


API = record(
    host="api.example.test",
    port=443,
    command=Command.CONNECT,
    address_type=AddressType.DOMAIN,
    username="alice",
)
OTHER = record(host="127.0.0.1", port=80, command=Command.CONNECT, address_type=AddressType.IPV4)


@pytest.mark.parametrize(
    ("fault", "hits_api", "hits_other"),
    [
        (ReplyWith(host="api.example.test"), True, False),
        (ReplyWith(host="*.example.test"), True, False),
        (ReplyWith(host="127.0.0.*"), False, True),
        (ReplyWith(port=80), False, True),
        (ReplyWith(address_type=AddressType.DOMAIN), True, False),
        (ReplyWith(command=Command.BIND), False, False),
        (ReplyWith(username="al*"), True, False),
        (ReplyWith(client="127.0.0.1"), True, True),
        (ReplyWith(client="10.*"), False, False),
        (ReplyWith(when=lambda r: r.port == 443), True, False),
        (ReplyWith(), True, True),
    ],
)
def test_selection_fields(fault: ReplyWith, hits_api: bool, hits_other: bool) -> None:
    assert fault.selects(API) is hits_api
    assert fault.selects(OTHER) is hits_other


def pattern(fault, n: int = 10, seed: int = 0, rec=API) -> list[bool]:
    faults = FaultSet(seed=seed)
    faults.add(fault)
    return [bool(faults.pick(fault.phase, rec)) for _ in range(n)]


def test_times_hits_the_first_n_matches_only() -> None:
    assert pattern(ReplyWith(times=2), 5) == [True, True, False, False, False]


def test_times_counts_matching_connections_only() -> None:
    faults = FaultSet()
    faults.add(ReplyWith(host="api.example.test", times=1))
    assert [bool(faults.pick(Phase.REQUEST, r)) for r in (OTHER, OTHER, API, API)] == [
        False,
        False,
        True,
        False,
    ]


def test_nth_hits_one_connection() -> None:
    assert pattern(ReplyWith(nth=3), 5) == [False, False, True, False, False]


def test_probability_is_reproducible_for_a_seed() -> None:
    first = pattern(ReplyWith(probability=0.5), 200, seed=42)
    assert first == pattern(ReplyWith(probability=0.5), 200, seed=42)
    assert first != pattern(ReplyWith(probability=0.5), 200, seed=43)
    assert 60 < sum(first) < 140


def test_a_fault_can_carry_its_own_seed() -> None:
    assert pattern(ReplyWith(probability=0.5, seed=7), 50, seed=1) == pattern(
        ReplyWith(probability=0.5, seed=7), 50, seed=2
    )


def test_probability_bounds() -> None:
    assert pattern(ReplyWith(probability=0.0)) == [False] * 10
    assert pattern(ReplyWith(probability=1.0)) == [True] * 10
    with pytest.raises(ValueError, match="probability must be None or a number from 0 to 1"):
        ReplyWith(probability=1.5)


def test_phases_are_kept_apart() -> None:
    faults = FaultSet()
    faults.add(Stall(at="greeting"))
    faults.add(Latency(seconds=0.1))
    assert [type(f) for f in faults.pick(Phase.GREETING, API)] == [Stall]
    assert faults.pick(Phase.REPLY, API) == []
    assert [type(f) for f in faults.pick(None, API)] == [Latency]


def test_phase_given_as_text_or_enum() -> None:
    assert Delay(at="auth").phase is Phase.AUTH
    assert Delay(at=Phase.AUTH) == Delay(at="auth")
    with pytest.raises(
        ValueError, match="at must be one of 'greeting', 'auth', 'request', 'reply', got 'nowhere'"
    ):
        Delay(at="nowhere")


def test_only_faults_can_be_added() -> None:
    with pytest.raises(TypeError, match=r"expected a pytest_socks5\.faults\.Fault"):
        FaultSet().add("stall")  # type: ignore[arg-type]


def test_faults_are_frozen_values() -> None:
    fault = ReplyWith(reply=5, host="x")
    with pytest.raises(AttributeError):
        fault.reply = 4  # type: ignore[misc]
    assert fault == ReplyWith(reply=5, host="x")
    assert fault.describe() == "ReplyWith(reply=0x05, host='x')"


# -- how a fault is described in records and transcripts ----------------------------------


@pytest.mark.parametrize(
    ("fault", "described"),
    [
        # sizes, counts and ports in decimal, however small
        (Fragment(size=1), "Fragment(size=1, delay=0.01)"),
        (Truncate(length=3), "Truncate(length=3, then='close')"),
        (CloseAfter(after=100), "CloseAfter(direction=both, after=100)"),
        (
            BoundAddress(bound_port=80),
            "BoundAddress(bound_type=0x01, bound_host='0.0.0.0', bound_port=80, raw=None)",
        ),
        # codes in hex, given as a number or an enum member
        (ReplyWith(reply=Reply.CONNECTION_REFUSED), "ReplyWith(reply=0x05)"),
        (FailAuth(), "FailAuth(status=0x01)"),
        (ForceMethod(method=0xFF), "ForceMethod(method=0xff)"),
        (WrongVersion(version=4), "WrongVersion(version=0x04)"),
        # the selection arguments that were given, after the fault's own
        (ReplyWith(reply=5, port=8080, times=2), "ReplyWith(reply=0x05, port=8080, times=2)"),
        (
            Close(at="request", command=Command.BIND, address_type=AddressType.DOMAIN, nth=3),
            "Close(reset=False, command=0x02, address_type=0x03, nth=3)",
        ),
        (
            Stall(username="bob", client="127.*", probability=0.5, seed=7),
            "Stall(username='bob', client='127.*', probability=0.5, seed=7)",
        ),
        (Stall(at="greeting", when=lambda r: True), "Stall(when=<lambda>)"),
    ],
)
def test_a_description_shows_sizes_in_decimal_codes_in_hex_and_the_selection(
    fault: Fault, described: str
) -> None:
    assert fault.describe() == described
