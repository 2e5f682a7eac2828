"""A ``ReplyWith`` handed over at the reply decision point (added for the command, returned
by a ``reply`` hook, or given to a gate's release) answers every command alike: CONNECT,
BIND and UDP ASSOCIATE, on every variant."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from pytest_socks5 import Command, Outcome, Reply, SOCKS5Server
from pytest_socks5 import rawclient as raw
from pytest_socks5.faults import ReplyWith

from .helpers import TIMEOUT, echo_target, only_record, recv_all

MakeServer = Callable[..., SOCKS5Server]

SOCKS5_COMMANDS = [
    (Command.CONNECT, "127.0.0.1"),
    (Command.BIND, "127.0.0.1"),
    (Command.UDP_ASSOCIATE, "0.0.0.0"),
]


@pytest.mark.parametrize(("command", "host"), SOCKS5_COMMANDS, ids=lambda c: str(c))
@pytest.mark.parametrize("how", ["added", "hook", "gate"])
def test_a_reply_with_at_the_reply_answers_every_command(
    make_server: MakeServer, command: int, host: str, how: str
) -> None:
    fault = ReplyWith(reply=Reply.NETWORK_UNREACHABLE)
    server = make_server()
    gate = None
    if how == "added":
        server.add_fault(ReplyWith(reply=Reply.NETWORK_UNREACHABLE, command=command))
    elif how == "hook":
        server.on("reply", lambda record: fault)
    else:
        gate = server.hold("reply", command=command)
    with echo_target() as target, raw.connect(server.address, timeout=TIMEOUT) as sock:
        port = target[1] if command == Command.CONNECT else 0
        sock.sendall(raw.greeting() + raw.socks5_request(host, port, command))
        assert raw.recv_exactly(sock, 2) == b"\x05\x00"
        if gate is not None:
            gate.wait(timeout=TIMEOUT)
            gate.release(fault)
        assert raw.reply_code(raw.read_reply(sock)) == Reply.NETWORK_UNREACHABLE
        assert recv_all(sock) == b""  # then the proxy closes: no association, no listener
    record = only_record(server)
    assert record.outcome is Outcome.REJECTED
    assert record.reply == Reply.NETWORK_UNREACHABLE
    assert len(record.faults) == 1
    assert record.faults[0].startswith("ReplyWith(reply=0x03")
    assert (record.error or "").startswith("ReplyWith fault: REP 0x03 (NETWORK_UNREACHABLE)")
    if gate is not None:
        (hold,) = record.holds
        assert hold.endswith("released with ReplyWith(reply=0x03)")
