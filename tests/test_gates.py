"""Gates and hooks at the decision points: arguments, release with a fault, SOCKS 4,
lifecycle (reset, stop), hook bugs, records. Every wait is on a gate or a record."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from pytest_socks5 import (
    Command,
    ConnectionRecord,
    Outcome,
    Reply,
    Socks4Reply,
    SOCKS5Server,
    testing,
)
from pytest_socks5 import rawclient as raw
from pytest_socks5.faults import Close, FunctionFault, ReplyWith


def test_arguments_are_checked_where_given(socks5_server: SOCKS5Server) -> None:
    with pytest.raises(ValueError, match=r"hold\(\): at.*'greeting'.*got 'handshake'"):
        socks5_server.hold("handshake")
    with pytest.raises(
        TypeError,
        match=r"'hots' \(did you mean host\?\); valid: host, port",
    ):
        socks5_server.hold("reply", hots="a.test")
    with pytest.raises(ValueError, match="before the client has sent host"):
        socks5_server.hold("greeting", host="a.test")
    with pytest.raises(ValueError, match=r"on\(\): phase.*'data', got 'tunnel'"):
        socks5_server.on("tunnel", lambda record: None)
    with pytest.raises(TypeError, match=r"on\(\): fn"):
        socks5_server.on("reply", 42)  # type: ignore[call-overload]

    async def data_hook(direction: object, data: bytes) -> None:
        return None

    with pytest.raises(TypeError, match="plain function for 'data'"):
        socks5_server.on("data", data_hook)
    gate = socks5_server.hold("reply")
    with pytest.raises(TypeError, match=r"release\(\): fault"):
        gate.release("close")  # type: ignore[arg-type]


def test_a_wait_in_vain_names_the_gate(socks5_server: SOCKS5Server) -> None:
    gate = socks5_server.hold("request", host="nowhere.test")
    with pytest.raises(TimeoutError, match=r"hold\('request', host='nowhere.test'\).*0.1s"):
        gate.wait(timeout=0.1)


def _handshake(address: tuple[str, int], host: str, port: int) -> bytes:
    with raw.connect(address) as sock:
        return raw.handshake(sock, host, port)


@pytest.mark.parametrize("at", ["greeting", "request", "reply"])
def test_release_with_a_fault(
    socks5_server: SOCKS5Server, echo_server: tuple[str, int], at: str
) -> None:
    gate = socks5_server.hold(at)
    with ThreadPoolExecutor(1) as pool:
        reply = pool.submit(_handshake, socks5_server.address, *echo_server)
        record = gate.wait()
        assert [r.id for r in gate.held] == [record.id]
        gate.release(Close())
        with pytest.raises((raw.UnexpectedAnswer, EOFError, ConnectionError)):
            reply.result()
    (ended,) = socks5_server.wait_for_connections(1, ended=True)
    assert ended.outcome is Outcome.FAULT
    assert ended.holds[0].endswith("released with Close(reset=False)")


def test_release_with_a_reply_after_the_dial(
    socks5_server: SOCKS5Server, echo_server: tuple[str, int]
) -> None:
    with socks5_server.hold("reply") as gate, ThreadPoolExecutor(1) as pool:
        reply = pool.submit(_handshake, socks5_server.address, *echo_server)
        gate.wait()
        gate.release(ReplyWith(reply=Reply.HOST_UNREACHABLE))
        assert raw.reply_code(reply.result()) == Reply.HOST_UNREACHABLE
    record = socks5_server.assert_connected(outcome=Outcome.REJECTED)
    assert record.reply == Reply.HOST_UNREACHABLE
    assert record.faults == ("ReplyWith(reply=0x04) at reply",)


@pytest.mark.socks5(socks4=True)
def test_socks4_is_held_at_the_same_points(
    socks5_server: SOCKS5Server, echo_server: tuple[str, int]
) -> None:
    def socks4() -> bytes:
        with raw.connect(socks5_server.address) as sock:
            sock.sendall(raw.socks4_request(*echo_server))
            return raw.read_socks4_reply(sock)

    gate = socks5_server.hold("reply", command=1)
    with ThreadPoolExecutor(1) as pool:
        reply = pool.submit(socks4)
        assert gate.wait().version == 4
        gate.release(ReplyWith(reply=Reply.CONNECTION_REFUSED))
        assert reply.result()[1] == Socks4Reply.REJECTED


def test_reset_ends_and_stop_closes(echo_server: tuple[str, int]) -> None:
    ended: list[ConnectionRecord] = []
    with SOCKS5Server(on_connection_end=ended.append) as server, ThreadPoolExecutor(2) as pool:
        gate = server.hold("reply")
        first = pool.submit(_handshake, server.address, *echo_server)
        gate.wait()
        server.reset()  # the test ended: nothing stays held, nothing goes on
        with pytest.raises(EOFError):
            first.result()  # no reply: the connection was ended, not released
        (record,) = ended
        assert record.outcome is Outcome.SERVER_STOPPED
        assert record.holds[0].endswith("ended by the server's reset")
        gate = server.hold("request")
        sock = raw.connect(server.address)
        sock.sendall(raw.greeting(0) + raw.socks5_request(*echo_server))
        held = gate.wait()
        server.stop()
        with sock:
            sock.settimeout(5)
            assert sock.recv(100) == b"\x05\x00"  # the method selection, then the close
            assert sock.recv(100) == b""
    (record,) = [r for r in server.connections if r.id == held.id]
    assert record.outcome is Outcome.SERVER_STOPPED
    assert record.holds[0].endswith("closed: the server stopped")


def test_a_hook_bug_fails_the_test_with_its_own_exception(
    echo_server: tuple[str, int],
) -> None:
    with SOCKS5Server() as server:

        @server.on("request")
        async def buggy(record: object) -> None:
            raise KeyError("a bug in the hook")

        with pytest.raises((EOFError, ConnectionError)):
            _handshake(server.address, *echo_server)
        record = server.wait_for_connections(1, ended=True)[0]
        assert record.outcome is Outcome.USER_CODE_ERROR
        with pytest.raises(KeyError, match="a bug in the hook") as info:
            server.raise_errors()  # the hook's own exception, not a ServerError
        assert "raised by your on('request') hook" in info.value.__notes__[0]
        assert "buggy" in info.value.__notes__[0]
        server.reset()


def test_a_hook_returning_junk_is_the_hooks_error(echo_server: tuple[str, int]) -> None:
    with SOCKS5Server() as server:
        server.on("reply", lambda record: "refuse")
        with pytest.raises((EOFError, ConnectionError)):
            _handshake(server.address, *echo_server)
        server.wait_for_connections(1, ended=True)
        assert "returned 'refuse'" in server.errors[0]
        server.reset()


def test_a_function_fault_acts_on_the_wire(
    socks5_server: SOCKS5Server, echo_server: tuple[str, int]
) -> None:
    def refuse(answer: bytes) -> bytes:
        return answer[:1] + b"\x05" + answer[2:]

    socks5_server.add_fault(FunctionFault(function=refuse, at="reply"))
    assert raw.reply_code(_handshake(socks5_server.address, *echo_server)) == 0x05
    record = socks5_server.assert_connected()
    assert record.faults == ("FunctionFault(then=None, function=refuse) at reply",)


def test_the_offline_harness_runs_hooks_like_the_server() -> None:
    async def refuse(record: object) -> ReplyWith:
        return ReplyWith(reply=Reply.CONNECTION_REFUSED)

    assert testing.run_hook(refuse) == ReplyWith(reply=Reply.CONNECTION_REFUSED)
    with pytest.raises(TypeError, match="returned 3"):
        testing.run_hook(lambda record: 3)
    assert testing.run_data_hook(lambda d, data: data.upper(), "to_client", b"ab") == b"AB"
    plan = testing.answer(Close(at="greeting"))
    assert plan.instead == "close"
    assert plan.data == b""


def test_nothing_added_costs_one_if(socks5_server: SOCKS5Server) -> None:
    checkpoints = socks5_server._engine.context.checkpoints
    assert not checkpoints
    socks5_server.on("data", lambda direction, data: None)
    assert not checkpoints  # a data hook is wired into the tunnel, not the handshake
    assert checkpoints.data_hooks


# -- BIND and UDP ASSOCIATE reach the reply decision point too -------------------------------


@pytest.mark.parametrize("command", [Command.BIND, Command.UDP_ASSOCIATE])
def test_the_reply_gate_holds_bind_and_udp_associate(
    socks5_server: SOCKS5Server, command: int
) -> None:
    gate = socks5_server.hold("reply", command=command)
    with raw.connect(socks5_server.address) as sock:
        sock.sendall(raw.greeting() + raw.socks5_request("127.0.0.1", 0, command))
        assert raw.recv_exactly(sock, 2) == b"\x05\x00"
        held = gate.wait(timeout=5.0)
        assert held.command == command
        assert [r.id for r in gate.held] == [held.id]
        gate.release()
        assert raw.reply_code(raw.read_reply(sock)) == Reply.SUCCEEDED
    (record,) = socks5_server.wait_for_connections(1, ended=True)
    (hold,) = record.holds
    assert hold.endswith("released")


@pytest.mark.parametrize("command", [Command.BIND, Command.UDP_ASSOCIATE])
def test_reply_faults_act_on_bind_and_udp_associate(
    socks5_server: SOCKS5Server, command: int
) -> None:
    socks5_server.add_fault(Close(at="reply", command=command))
    with raw.connect(socks5_server.address) as sock:
        sock.sendall(raw.greeting() + raw.socks5_request("127.0.0.1", 0, command))
        assert raw.recv_all(sock) == b"\x05\x00"  # the method choice, then FIN
    (record,) = socks5_server.wait_for_connections(1, ended=True)
    assert record.outcome is Outcome.FAULT
    assert record.faults == (f"Close(reset=False, command=0x{command:02x}) at reply",)


def test_a_released_reply_with_refuses_a_bind(socks5_server: SOCKS5Server) -> None:
    gate = socks5_server.hold("reply", command=Command.BIND)
    with raw.connect(socks5_server.address) as sock:
        sock.sendall(raw.greeting() + raw.socks5_request("127.0.0.1", 0, Command.BIND))
        assert raw.recv_exactly(sock, 2) == b"\x05\x00"
        gate.wait(timeout=5.0)
        gate.release(ReplyWith(reply=Reply.NETWORK_UNREACHABLE))
        assert raw.reply_code(raw.read_reply(sock)) == Reply.NETWORK_UNREACHABLE
    (record,) = socks5_server.wait_for_connections(1, ended=True)
    assert record.outcome is Outcome.REJECTED
    assert record.reply == Reply.NETWORK_UNREACHABLE
