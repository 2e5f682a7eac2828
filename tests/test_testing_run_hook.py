"""``pytest_socks5.testing.run_hook`` with an async hook, in sync and async tests alike:
in a test whose loop is running, the hook runs to its end on a loop of its own."""

from __future__ import annotations

import asyncio

import pytest

from pytest_socks5 import Command, ConnectionRecord, Reply, testing
from pytest_socks5.faults import CloseAfter, Fault, ReplyWith


class HookFailed(Exception):
    pass


async def refuse_example(record: ConnectionRecord) -> Fault | None:
    await asyncio.sleep(0)  # an async hook that does await something
    if record.host == "example.test":
        return ReplyWith(reply=Reply.CONNECTION_NOT_ALLOWED)
    return None


async def fail(record: ConnectionRecord) -> None:
    await asyncio.sleep(0)
    raise HookFailed(record.host)


async def wrong(record: ConnectionRecord) -> object:
    return "refuse"


def check_run_hook() -> None:
    fault = testing.run_hook(refuse_example)
    assert isinstance(fault, ReplyWith)
    assert fault.reply == Reply.CONNECTION_NOT_ALLOWED
    assert testing.run_hook(refuse_example, testing.record(host="other.test")) is None
    with pytest.raises(HookFailed, match=r"^example\.test$"):
        testing.run_hook(fail)
    with pytest.raises(TypeError, match=r"^the on\('auth'\) hook returned 'refuse'; "):
        testing.run_hook(wrong, at="auth")


def test_an_async_hook_in_a_sync_test() -> None:
    check_run_hook()


@pytest.mark.asyncio
async def test_an_async_hook_in_an_asyncio_test() -> None:
    ours = asyncio.get_running_loop()
    seen: list[asyncio.AbstractEventLoop] = []

    async def where(record: ConnectionRecord) -> None:
        seen.append(asyncio.get_running_loop())

    check_run_hook()
    assert testing.run_hook(where) is None
    (loop,) = seen
    assert loop is not ours  # a loop of its own, as on the server
    assert asyncio.get_running_loop() is ours


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.mark.anyio
async def test_an_async_hook_on_both_anyio_backends() -> None:
    check_run_hook()


def test_a_transfer_fault_for_a_udp_association_is_refused_as_the_server_refuses_it() -> None:
    """As on the server: at the request or the reply the command is known, and a UDP
    association opens no tunnel for a transfer fault to act on; a CONNECT's tunnel does."""
    udp = testing.record(command=Command.UDP_ASSOCIATE)
    with pytest.raises(ValueError, match="cannot act on a UDP association"):
        testing.run_hook(lambda rec: CloseAfter(after=1), udp, at="request")
    fault = testing.run_hook(lambda rec: CloseAfter(after=1), testing.record(), at="reply")
    assert isinstance(fault, CloseAfter)
