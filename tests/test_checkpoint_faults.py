"""A fault a hook returns or ``gate.release(fault)`` gives acts at that decision point,
whatever its own ``at``, or is refused where it is given: never accepted and ignored.

Which faults can act where (``acting_phases``): ``Delay``, ``Close``, ``Stall`` at every
phase; a transfer fault at every phase too, on the tunnel the connection then opens; a
``ForceMethod`` at the greeting, a ``FailAuth`` at the auth, a ``BoundAddress`` at the
reply, a ``ReplyWith`` at the request or the reply, a fault that changes an answer
(``Truncate``, ``RawAnswer``…, a custom fault) where there is one: not at the request."""

from __future__ import annotations

import contextlib
import re
import socket
import socketserver
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from pytest_socks5 import Command, Outcome, Reply, SOCKS5Server, rawclient, testing
from pytest_socks5.faults import (
    Bandwidth,
    Blackhole,
    BoundAddress,
    Close,
    CloseAfter,
    Delay,
    FailAuth,
    Fault,
    ForceMethod,
    Fragment,
    FunctionFault,
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

from .helpers import (
    TIMEOUT,
    VERSIONS,
    connect_request,
    echo_target,
    http_target,
    only_record,
    recv_all,
    tcp_target,
)

PHASES = ("greeting", "auth", "request", "reply")
EVERYWHERE = set(PHASES)
ANSWERS = {"greeting", "auth", "reply"}

#: Each kind of fault, and the phases where a hook or a gate may give it.
WHERE: list[tuple[Fault, set[str]]] = [
    (Delay(seconds=0), EVERYWHERE),
    (Close(), EVERYWHERE),
    (Stall(), EVERYWHERE),
    (ForceMethod(method=0xFF), {"greeting"}),
    (FailAuth(), {"auth"}),
    (ReplyWith(reply=Reply.HOST_UNREACHABLE), {"request", "reply"}),
    (BoundAddress(bound_host="192.0.2.1"), {"reply"}),
    (Truncate(length=1), ANSWERS),
    (WrongVersion(), ANSWERS),
    (RawAnswer(data=b"\x05\xff"), ANSWERS),
    (Fragment(size=1, delay=0), ANSWERS),
    (FunctionFault(function=bytes.upper), ANSWERS),
    (CloseAfter(after=0), EVERYWHERE),
    (ResetAfter(after=10), EVERYWHERE),
    (Latency(seconds=0), EVERYWHERE),
    (Bandwidth(), EVERYWHERE),
    (Slicer(), EVERYWHERE),
    (Blackhole(after=10), EVERYWHERE),
    (SlowClose(seconds=0), EVERYWHERE),
]
TRANSFER = (CloseAfter, ResetAfter, Latency, Bandwidth, Slicer, Blackhole, SlowClose)


def _cases(can: bool) -> list[Any]:
    return [
        pytest.param(fault, phase, id=f"{type(fault).__name__}-{phase}")
        for fault, phases in WHERE
        for phase in PHASES
        if (phase in phases) is can
    ]


# -- refused where given -----------------------------------------------------------------


@pytest.mark.parametrize(("fault", "phase"), _cases(can=False))
def test_a_gate_refuses_a_fault_that_cannot_act_at_its_phase(
    socks5_server: SOCKS5Server, fault: Fault, phase: str
) -> None:
    """The audit's cases: ``ForceMethod`` or ``Truncate`` released at the request,
    ``ReplyWith`` at the greeting; "released with …" said in ``holds``, nothing done."""
    gate = socks5_server.hold(phase)
    names = [repr(p) for p in PHASES if p in next(w for f, w in WHERE if f is fault)]
    listed = names[0] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}"
    message = (
        f"hold({phase!r}).release() got {fault.describe()}, which cannot act at {phase!r}; "
        f"{type(fault).__name__} acts at {listed}"
    )
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        gate.release(fault)
    gate.release()  # the gate still works


@pytest.mark.parametrize(("fault", "phase"), _cases(can=False))
def test_a_hook_returning_a_fault_that_cannot_act_there_is_the_hooks_error(
    fault: Fault, phase: str
) -> None:
    """Offline as on the wire (below): the same check, a ``ValueError``."""
    with pytest.raises(ValueError, match=rf"^the on\('{phase}'\) hook returned .* cannot act"):
        testing.run_hook(lambda record: fault, at=phase)


@pytest.mark.parametrize(("fault", "phase"), _cases(can=True))
def test_the_offline_harness_takes_a_fault_that_can_act_there(fault: Fault, phase: str) -> None:
    assert testing.run_hook(lambda record: fault, at=phase) is fault


@pytest.mark.parametrize("version", VERSIONS)
def test_a_hooks_fault_that_cannot_act_ends_the_connection_on_every_path(
    make_server: Callable[..., SOCKS5Server], version: int | str
) -> None:
    server = make_server(socks4=True)
    server.on("request", lambda record: Truncate(length=1))
    with echo_target() as target, socket.create_connection(server.address, TIMEOUT) as sock:
        sock.settimeout(TIMEOUT)
        sock.sendall(connect_request(target, version))
        recv_all(sock)  # closed: a hang is a timeout here
    record = only_record(server)
    assert record.outcome is Outcome.USER_CODE_ERROR
    with pytest.raises(ValueError, match=r"cannot act at 'request'; Truncate acts at") as raised:
        server.raise_errors()
    assert "raised by your on('request') hook" in raised.value.__notes__[0]
    server.reset()


# -- acting where given ------------------------------------------------------------------


def _drive(server: SOCKS5Server, target: tuple[str, int]) -> None:
    """Greeting (password), credentials and CONNECT in one go, then EOF; read to the end."""
    with socket.create_connection(server.address, TIMEOUT) as sock:
        sock.settimeout(TIMEOUT)
        sock.sendall(
            rawclient.greeting(0x02)
            + rawclient.auth_request(b"u", b"p")
            + rawclient.socks5_request(*target)
        )
        sock.shutdown(socket.SHUT_WR)
        recv_all(sock)


@pytest.mark.parametrize("how", ["hook", "gate"])
@pytest.mark.parametrize(("fault", "phase"), _cases(can=True))
def test_a_fault_that_can_act_there_acts(fault: Fault, phase: str, how: str) -> None:
    """Each fault a gate or hook may give at a phase is listed in ``faults``: it acted
    there (a transfer fault: on the tunnel, listed without a phase)."""
    with echo_target() as target, SOCKS5Server(users={"u": "p"}) as server:
        if how == "hook":
            server.on(phase, lambda record: fault)
            _drive(server, target)
        else:
            gate = server.hold(phase)
            with ThreadPoolExecutor(1) as pool:
                driven = pool.submit(_drive, server, target)
                gate.wait()
                gate.release(fault)
                driven.result()
        record = only_record(server)
    acted = fault.describe() if isinstance(fault, TRANSFER) else f"{fault.describe()} at {phase}"
    assert acted in record.faults
    assert server.errors == []


class _Talker(socketserver.BaseRequestHandler):
    """Sends 5,000 bytes at once, then closes."""

    def handle(self) -> None:
        with contextlib.suppress(OSError):  # the proxy may close first: the fault's doing
            self.request.sendall(b"y" * 5000)
            self.request.shutdown(socket.SHUT_WR)


@pytest.fixture
def talker() -> Iterator[tuple[str, int]]:
    with tcp_target(_Talker) as address:
        yield address


@pytest.mark.parametrize("how", ["hook", "gate"])
@pytest.mark.parametrize("version", VERSIONS)
def test_a_transfer_fault_given_at_the_reply_acts_on_the_tunnel(
    make_server: Callable[..., SOCKS5Server],
    talker: tuple[str, int],
    version: int | str,
    how: str,
) -> None:
    """The audit's case: ``CloseAfter`` from a reply hook or gate was ignored (the client
    got all 5,000 bytes; ``holds`` said "released with CloseAfter(…)"). It acts on the
    tunnel that opens, with ``splice`` too (it needs the ordinary relay)."""
    server = make_server(socks4=True)
    fault = CloseAfter(after=100, direction="to_client")
    if how == "hook":
        server.on("reply", lambda record: fault)
    gate = server.hold("reply") if how == "gate" else None
    with socket.create_connection(server.address, TIMEOUT) as sock:
        sock.settimeout(TIMEOUT)
        sock.sendall(connect_request(talker, version))
        if gate is not None:
            gate.wait()
            gate.release(fault)
        received = recv_all(sock)
    record = only_record(server)
    assert record.faults == ("CloseAfter(direction=to_client, after=100)",)
    assert record.bytes_to_client == 100
    head = {5: 12, 4: 8}.get(version, len(received) - 100)  # the replies, then the tunnel
    assert received[head:] == b"y" * 100


def test_a_reply_with_given_at_the_reply_answers_a_forwarded_http_request(
    socks5_server: SOCKS5Server,
) -> None:
    """It was ignored on a forwarded http:// request (the destination's 200 went out)."""
    socks5_server.on("reply", lambda record: ReplyWith(reply=Reply.CONNECTION_REFUSED))
    with http_target() as (host, port), socket.create_connection(socks5_server.address) as s:
        s.settimeout(TIMEOUT)
        authority = f"{host}:{port}"
        s.sendall(f"GET http://{authority}/ HTTP/1.1\r\nHost: {authority}\r\n\r\n".encode())
        assert recv_all(s).startswith(b"HTTP/1.1 502 ")
    record = only_record(socks5_server)
    assert record.outcome is Outcome.REJECTED
    assert record.faults == ("ReplyWith(reply=0x05) at reply",)
    assert record.error == "ReplyWith fault: HTTP 502 after the dial"


def test_a_reply_with_given_at_the_reply_answers_an_unsupported_command(
    socks5_server: SOCKS5Server,
) -> None:
    socks5_server.on("reply", lambda record: ReplyWith(reply=Reply.CONNECTION_REFUSED))
    with rawclient.connect(socks5_server.address) as sock:
        sock.sendall(rawclient.greeting() + rawclient.socks5_request("127.0.0.1", 9, 0x09))
        assert sock.recv(2) == b"\x05\x00"
        assert rawclient.reply_code(rawclient.read_reply(sock)) == Reply.CONNECTION_REFUSED
    record = only_record(socks5_server)
    assert record.reply == Reply.CONNECTION_REFUSED
    assert record.faults == ("ReplyWith(reply=0x05) at reply",)
    assert record.command == 0x09 != Command.CONNECT
