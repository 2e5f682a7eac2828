"""SOCKS 4/4a honours every request and reply fault it can express, with a raw client;
on either protocol a record lists exactly the faults that acted."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest

from pytest_socks5 import Outcome, Socks4Reply, SOCKS5Server
from pytest_socks5.faults import (
    BoundAddress,
    Close,
    Delay,
    ForceMethod,
    Fragment,
    RawAnswer,
    ReplyWith,
    Stall,
    Truncate,
    WrongVersion,
)
from pytest_socks5.rawclient import read_socks4_reply, socks4_request

from .helpers import connect, exchange, only_record, recv_all, socks5_request


@pytest.fixture
def server() -> Iterator[SOCKS5Server]:
    with SOCKS5Server(socks4=True) as server:
        yield server


def ask(server: SOCKS5Server, port: int, user_id: bytes = b"bob", *, fin: bool = True) -> bytes:
    """A SOCKS 4 CONNECT to 127.0.0.1:``port`` (then a FIN, unless ``fin`` is false);
    everything the proxy sends until EOF."""
    with connect(server.address) as sock:
        sock.sendall(socks4_request("127.0.0.1", port, user_id=user_id))
        if fin:
            sock.shutdown(socket.SHUT_WR)
        return recv_all(sock)


def refusal(code: int) -> bytes:
    return bytes((0, code)) + b"\x00" * 6


# -- ReplyWith: the SOCKS5 REP mapped to a CD, or a SOCKS 4 CD as it is -----------------


def test_reply_with_selected_by_user_id_refuses_with_5b_without_dialling(
    server: SOCKS5Server, echo_server: tuple[str, int]
) -> None:
    server.add_fault(ReplyWith(reply=5, username="bob"))
    assert ask(server, echo_server[1]) == refusal(Socks4Reply.REJECTED)
    record = only_record(server)
    assert record.outcome is Outcome.REJECTED
    assert record.reply == Socks4Reply.REJECTED
    assert record.dialled == ()
    assert record.faults == ("ReplyWith(reply=0x05, username='bob') at request",)
    assert record.error == (
        "ReplyWith fault: CD 0x5b (REJECTED) for REP 0x05 (CONNECTION_REFUSED) without dialling"
    )
    # Another user id is not selected: granted, and no fault listed.
    assert ask(server, echo_server[1], user_id=b"eve")[:2] == b"\x00\x5a"
    assert server.wait_for_connections(2, ended=True)[1].faults == ()


@pytest.mark.parametrize(
    "code", [Socks4Reply.REJECTED, Socks4Reply.IDENTD_UNREACHABLE, Socks4Reply.IDENTD_MISMATCH]
)
def test_reply_with_a_socks4_code_sends_it_as_it_is(
    server: SOCKS5Server, echo_server: tuple[str, int], code: int
) -> None:
    server.add_fault(ReplyWith(reply=code))
    assert ask(server, echo_server[1]) == refusal(code)
    record = only_record(server)
    assert (record.outcome, record.reply, record.dialled) == (Outcome.REJECTED, code, ())
    assert (record.error or "").startswith(f"ReplyWith fault: CD 0x{code:02x} ")


@pytest.mark.parametrize("rep", [0x01, 0x02, 0x04, 0x08, 0x5A, 0xFF])
def test_every_other_reply_with_code_is_5b(
    server: SOCKS5Server, echo_server: tuple[str, int], rep: int
) -> None:
    server.add_fault(ReplyWith(reply=rep))
    assert ask(server, echo_server[1]) == refusal(Socks4Reply.REJECTED)
    assert only_record(server).reply == Socks4Reply.REJECTED


# -- the answer faults, on the request and the reply --------------------------------------


def test_close_at_request_ends_without_dialling(
    server: SOCKS5Server, echo_server: tuple[str, int]
) -> None:
    server.add_fault(Close(at="request"))
    assert ask(server, echo_server[1]) == b""
    record = only_record(server)
    assert (record.outcome, record.dialled) == (Outcome.FAULT, ())
    assert record.faults == ("Close(reset=False) at request",)


def test_close_at_reply_with_reset(server: SOCKS5Server, echo_server: tuple[str, int]) -> None:
    server.add_fault(Close(at="reply", reset=True))
    with pytest.raises(ConnectionResetError):
        ask(server, echo_server[1], fin=False)
    record = only_record(server)
    assert (record.outcome, record.closed_how) == (Outcome.FAULT, "rst")
    assert record.dialled == (echo_server,)
    assert record.faults == ("Close(reset=True) at reply",)


def test_raw_answer_and_truncate_replace_the_socks4_reply(
    server: SOCKS5Server, echo_server: tuple[str, int]
) -> None:
    server.add_fault(RawAnswer(at="reply", data=b"\x00\x5d", times=1))
    assert ask(server, echo_server[1]) == b"\x00\x5d"
    server.add_fault(Truncate(at="reply", length=3, times=1))
    assert ask(server, echo_server[1])[:2] == b"\x00\x5a"
    first, second = server.wait_for_connections(2, ended=True)
    assert first.faults == ("RawAnswer(data=b'\\x00]', then='close', times=1) at reply",)
    assert second.faults == ("Truncate(length=3, then='close', times=1) at reply",)
    assert second.message("socks4 reply") is not None
    assert len(second.message("socks4 reply") or b"") == 3
    assert {first.outcome, second.outcome} == {Outcome.FAULT}


def test_fragment_wrong_version_and_delay(
    server: SOCKS5Server, echo_server: tuple[str, int]
) -> None:
    server.add_fault(Fragment(at="reply", size=3, delay=0.01))
    server.add_fault(WrongVersion(at="reply", version=9))
    server.add_fault(Delay(at="request", seconds=0.2))
    started = time.monotonic()
    with connect(server.address) as sock:
        sock.sendall(socks4_request("127.0.0.1", echo_server[1], user_id=b"bob"))
        reply = read_socks4_reply(sock)
        took = time.monotonic() - started
        sock.sendall(b"ping")
        assert sock.recv(4) == b"ping"
    assert reply[:2] == b"\x09\x5a"
    assert took >= 0.2
    record = only_record(server)
    assert record.outcome is Outcome.CLOSED
    assert record.faults == (
        "Delay(seconds=0.2) at request",
        "Fragment(size=3, delay=0.01) at reply",
        "WrongVersion(version=0x09) at reply",
    )


def test_stall_at_request_says_nothing(server: SOCKS5Server, echo_server: tuple[str, int]) -> None:
    server.add_fault(Stall(at="request"))
    with connect(server.address) as sock:
        sock.sendall(socks4_request("127.0.0.1", echo_server[1]))
        server.wait_for_connections(1, faults=("Stall() at request",))
        sock.shutdown(socket.SHUT_WR)
        assert recv_all(sock) == b""
    record = only_record(server)
    assert record.dialled == ()
    assert record.faults == ("Stall() at request",)


# -- a record lists only what acted ----------------------------------------------------


def test_bound_address_is_not_listed_on_socks4_which_has_no_atyp(
    server: SOCKS5Server, echo_server: tuple[str, int]
) -> None:
    server.add_fault(BoundAddress(bound_type=0x04, bound_host="::"))
    reply = ask(server, echo_server[1])
    assert reply[:2] == b"\x00\x5a"
    assert only_record(server).faults == ()


def test_a_fault_for_a_reply_never_sent_is_not_listed(
    server: SOCKS5Server, echo_server: tuple[str, int]
) -> None:
    """SOCKS5 too: the reply was replaced by a close, so the reply faults did nothing."""
    server.add_fault(Close(at="reply"))
    server.add_fault(Fragment(at="reply"))
    server.add_fault(BoundAddress(bound_type=0x00))
    assert exchange(server, b"\x05\x01\x00", socks5_request(*echo_server)) == b"\x05\x00"
    assert only_record(server).faults == ("Close(reset=False) at reply",)


def test_faults_overwritten_by_a_raw_answer_are_not_listed(
    server: SOCKS5Server, echo_server: tuple[str, int]
) -> None:
    server.add_fault(WrongVersion(at="reply", version=9))
    server.add_fault(RawAnswer(at="reply", data=b"\x00\x5b"))
    assert ask(server, echo_server[1]) == b"\x00\x5b"
    assert only_record(server).faults == ("RawAnswer(data=b'\\x00[', then='close') at reply",)


def test_a_forced_method_replaced_by_a_close_is_not_listed(server: SOCKS5Server) -> None:
    server.add_fault(ForceMethod(method=0x80))
    server.add_fault(Close(at="greeting"))
    assert exchange(server, b"\x05\x01\x00") == b""
    assert only_record(server).faults == ("Close(reset=False) at greeting",)
