"""``pytest_socks5.testing.answer``: the plan offline is what the live server does — the
bytes it sends at the phase and the faults its record lists — for the faults that choose
the message (``ForceMethod``, ``FailAuth``, ``ReplyWith``, ``BoundAddress``) as for those
that change its bytes, and only the faults of the phase act there."""

from __future__ import annotations

import re

import pytest

from pytest_socks5 import ECHO, SOCKS5Server, rawclient, testing
from pytest_socks5.faults import (
    BoundAddress,
    Close,
    Delay,
    FailAuth,
    Fault,
    ForceMethod,
    Fragment,
    Phase,
    RawAnswer,
    ReplyWith,
    Stall,
    Truncate,
    WrongVersion,
)

NO_AUTH = rawclient.greeting(0x00)
PASSWORD = rawclient.greeting(0x02)
CREDENTIALS = rawclient.auth_request(b"u", b"p")
REQUEST = rawclient.socks5_request("echo.test", 80)

#: (the faults, the client's messages, the bytes the server sends before the phase's
#: answer) — each answer is followed by the server's close or by the tunnel, so the
#: phase's answer is the start of what follows.
CASES = [
    pytest.param([ForceMethod(method=0xFF)], [NO_AUTH], b"", id="ForceMethod-ff"),
    pytest.param([ForceMethod(method=0x80)], [NO_AUTH], b"", id="ForceMethod-unspoken"),
    pytest.param(
        [ForceMethod(method=0x01), ForceMethod(method=0xFF)], [NO_AUTH], b"", id="last-wins"
    ),
    pytest.param(
        [ForceMethod(method=0xFF), WrongVersion(at="greeting", version=9)],
        [NO_AUTH],
        b"",
        id="ForceMethod-WrongVersion",
    ),
    pytest.param(
        [ForceMethod(method=0xFF), RawAnswer(at="greeting", data=b"\x05\x07")],
        [NO_AUTH],
        b"",
        id="ForceMethod-replaced",
    ),
    pytest.param(
        [ForceMethod(method=0xFF), Close(at="greeting")], [NO_AUTH], b"", id="ForceMethod-Close"
    ),
    pytest.param([FailAuth(status=3)], [PASSWORD, CREDENTIALS], b"\x05\x02", id="FailAuth"),
    pytest.param(
        [FailAuth(status=3), Truncate(at="auth", length=1)],
        [PASSWORD, CREDENTIALS],
        b"\x05\x02",
        id="FailAuth-Truncate",
    ),
    pytest.param([ReplyWith(reply=5)], [NO_AUTH, REQUEST], b"\x05\x00", id="ReplyWith"),
    pytest.param(
        [ReplyWith(reply=5), BoundAddress(bound_host="1.2.3.4", bound_port=9)],
        [NO_AUTH, REQUEST],
        b"\x05\x00",
        id="ReplyWith-BoundAddress",
    ),
    pytest.param(
        [ReplyWith(reply=2), WrongVersion(at="reply", version=9)],
        [NO_AUTH, REQUEST],
        b"\x05\x00",
        id="ReplyWith-reply-faults",
    ),
    pytest.param(
        [Delay(at="request", seconds=0.01), ReplyWith(reply=4), Fragment(at="reply", size=4)],
        [NO_AUTH, REQUEST],
        b"\x05\x00",
        id="ReplyWith-delayed-fragmented",
    ),
    pytest.param(
        [ReplyWith(reply=5), Close(at="request")], [NO_AUTH, REQUEST], b"\x05\x00", id="Close"
    ),
    pytest.param(
        [BoundAddress(bound_host="1.2.3.4", bound_port=9)],
        [NO_AUTH, REQUEST],
        b"\x05\x00",
        id="BoundAddress",
    ),
    pytest.param(
        [BoundAddress(bound_host="::1", bound_type=4), WrongVersion(at="reply")],
        [NO_AUTH, REQUEST],
        b"\x05\x00",
        id="BoundAddress-WrongVersion",
    ),
]


def _live(faults: list[Fault], messages: list[bytes]) -> tuple[bytes, tuple[str, ...]]:
    """What a server with ``faults`` sends to a client that sends ``messages`` (and then
    closes its side), and what its record lists."""
    users = {"u": "p"} if PASSWORD in messages else None
    with SOCKS5Server(host_map={"echo.test": ECHO}, users=users) as server:
        for fault in faults:
            server.add_fault(fault)
        sent = rawclient.exchange(server.address, *messages)
        (record,) = server.wait_for_connections(1, ended=True)
    return sent, record.faults


def _listed(plan: testing.AnswerPlan) -> tuple[str, ...]:
    return tuple(f"{f.describe()} at {f.phase.value}" for f in plan.acted if f.phase)


@pytest.mark.parametrize(("faults", "messages", "before"), CASES)
def test_the_plan_is_what_the_server_does(
    faults: list[Fault], messages: list[bytes], before: bytes
) -> None:
    plan = testing.answer(faults)
    sent, listed = _live(faults, messages)
    assert sent.startswith(before)
    if plan.instead is None:
        assert sent[len(before) :].startswith(plan.data), (sent.hex(" "), plan.data.hex(" "))
        assert plan.data
    else:
        assert sent == before
    assert _listed(plan) == listed


def test_the_faults_that_choose_the_message_make_it() -> None:
    assert testing.answer(ForceMethod(method=0xFF)).data == b"\x05\xff"
    assert testing.answer(FailAuth(status=3)).data == b"\x01\x03"
    replied = testing.answer(ReplyWith(reply=5))
    assert replied.data == b"\x05\x05\x00\x01\x00\x00\x00\x00\x00\x00"
    bound = BoundAddress(bound_host="1.2.3.4", bound_port=9)
    assert testing.answer(bound).data == b"\x05\x00\x00\x01\x01\x02\x03\x04\x00\x09"
    for fault in (ForceMethod(), FailAuth(), ReplyWith(), bound):
        assert testing.answer(fault).acted == (fault,)


def test_only_the_faults_of_the_phase_act_there() -> None:
    late = WrongVersion(at="reply", version=9)
    plan = testing.answer(late, at="greeting")
    assert plan.data == testing.TYPICAL_ANSWERS[Phase.GREETING]
    assert plan.acted == ()
    stall = Stall(at="greeting")
    assert testing.answer([stall, late], at="reply").acted == (late,)
    assert testing.answer([late, FailAuth()], at="auth").data == b"\x01\x01"
    # At the request nothing is sent of the server's own unless a ReplyWith answers.
    delay = Delay(at="request", seconds=2)
    plan = testing.answer([delay, late])
    assert (plan.delay, plan.data, plan.acted) == (2, b"", (delay,))


def test_data_goes_with_the_faults_that_change_bytes_only() -> None:
    version = WrongVersion(at="greeting", version=4)
    assert testing.answer(version, b"\x05\x02").data == b"\x04\x02"
    with pytest.raises(
        ValueError,
        match=r"^answer\(\): data: ForceMethod\(method=0xff\) makes the answer itself; give "
        r"no data to see the answer it makes, got b'\\x05\\x02'$",
    ):
        testing.answer([ForceMethod(method=0xFF), version], b"\x05\x02")
    with pytest.raises(ValueError, match=r"^answer\(\): data: at 'request' the server sends"):
        testing.answer(Delay(at="request"), b"\x05")
    with pytest.raises(
        TypeError, match=re.escape("answer(): data must be None or bytes, got '05' (str)")
    ):
        testing.answer(version, "05")  # type: ignore[arg-type]
