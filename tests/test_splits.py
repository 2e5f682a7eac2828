"""``faults.every_split``: one ``Fragment`` per cut of an answer, and the 1-byte drip."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from pytest_socks5 import SOCKS5Server
from pytest_socks5._answer_plan import plan_answer
from pytest_socks5._fault_spec import parse_fault
from pytest_socks5.faults import Fault, Fragment, every_split

from .helpers import connect, only_record, recv_exactly, socks5_request

GREETING = b"\x05\x01\x00"

REPLY = b"\x05\x00\x00\x01\x7f\x00\x00\x01\x1f\x90"


@pytest.mark.parametrize(("at", "length"), [("greeting", 2), ("auth", 2), ("reply", 10)])
def test_every_cut_then_the_drip(at: str, length: int) -> None:
    splits = every_split(at=at)
    assert [f.split for f in splits] == [*range(1, length), None]
    assert splits[-1] == Fragment(at=at, size=1, delay=0.01)
    assert {f.phase.value for f in splits if f.phase is not None} == {at}


def test_length_and_delay_are_yours() -> None:
    splits = every_split(at="reply", length=22, delay=0)
    assert len(splits) == 22
    assert {f.delay for f in splits} == {0}


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"at": "request"}, "at must be one of 'greeting', 'auth', 'reply'"),
        ({"length": 1}, "length must be a whole number >= 2"),
        ({"delay": -1}, "delay must be a number >= 0"),
    ],
)
def test_bad_arguments_say_why(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises((ValueError, TypeError), match=message):
        every_split(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize("cut", range(1, 10))
def test_a_split_sends_two_pieces(cut: int) -> None:
    plan = plan_answer([Fragment(at="reply", split=cut, delay=0.5)], REPLY)
    assert plan.data == REPLY
    assert plan.fragment == ((cut,), 0.5)


def test_slices_and_splits_past_the_end() -> None:
    assert plan_answer([Fragment(at="reply", size=4)], REPLY).fragment == ((4, 8), 0.01)
    past_the_end = plan_answer([Fragment(at="reply", split=10)], REPLY)
    assert past_the_end.fragment is None  # nothing to cut: sent whole
    assert past_the_end.acted == ()  # and not listed as acting (it did nothing)
    assert plan_answer([Fragment(at="reply", size=10)], REPLY).acted == ()
    with pytest.raises(ValueError, match="split must be None or a whole number >= 1"):
        Fragment(split=0)


def test_descriptions_name_the_cut_and_parse_back() -> None:
    names = [Fault.describe(f) for f in every_split(at="greeting")]
    assert names == ["Fragment(delay=0.01, split=1)", "Fragment(size=1, delay=0.01)"]
    assert parse_fault("fragment:reply,split=3") == Fragment(split=3)


@pytest.fixture
def server(make_server: Callable[..., SOCKS5Server], echo_server: tuple[str, int]) -> SOCKS5Server:
    return make_server(host_map={"api.example.test": f"{echo_server[0]}:{echo_server[1]}"})


@pytest.mark.parametrize("split", every_split(at="reply", delay=0.001), ids=Fault.describe)
def test_the_reply_arrives_whole_through_every_split(server: SOCKS5Server, split: Fault) -> None:
    server.add_fault(split)
    with connect(server.address) as sock:
        sock.sendall(GREETING + socks5_request("api.example.test", 80))
        assert recv_exactly(sock, 2) == b"\x05\x00"
        assert recv_exactly(sock, 10)[:4] == b"\x05\x00\x00\x01"
        sock.sendall(b"still a tunnel")
        assert recv_exactly(sock, 14) == b"still a tunnel"
    record = only_record(server)
    assert record.faults == (f"{Fault.describe(split)} at reply",)


def test_a_split_past_the_end_does_nothing_and_is_not_listed(server: SOCKS5Server) -> None:
    server.add_fault(Fragment(at="reply", split=100, delay=1))
    with connect(server.address) as sock:
        sock.sendall(GREETING + socks5_request("api.example.test", 80))
        assert recv_exactly(sock, 12)[2:6] == b"\x05\x00\x00\x01"
    assert only_record(server).faults == ()
