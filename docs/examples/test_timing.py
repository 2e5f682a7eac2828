"""How-to page: test timing without sleeping — gates, hooks and your own faults."""

import asyncio
import itertools
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import httpx
import pytest
import requests

from pytest_socks5 import Command, Outcome, Reply, testing
from pytest_socks5.faults import CustomFault, ReplyWith


def test_a_client_timeout_without_sleeping(socks5_server, website):
    proxies = {"http": socks5_server.url}
    gate = socks5_server.hold("reply")  # every CONNECT waits after the dial

    # The gate holds: only the client's own timeout can end this call.
    with pytest.raises(requests.exceptions.ConnectTimeout):
        requests.get(website.url, proxies=proxies, timeout=0.5)
    assert gate.wait().port == website.port

    # A second call, released by the test, goes through.
    with ThreadPoolExecutor(1) as pool:
        second = pool.submit(requests.get, website.url, proxies=proxies, timeout=5)
        gate.wait()
        gate.release()
        assert second.result().text == "hello from /"

    # Each record says where it was held, for how long and how it went on.
    timed_out, succeeded = socks5_server.connections
    assert re.fullmatch(
        r"at reply by hold\('reply'\) for \d+\.\d{3}s, released", timed_out.holds[0]
    )
    # (its client had given up, but a FIN alone does not end a held connection)
    assert succeeded.holds[0].endswith(", released")


@pytest.mark.asyncio
async def test_release_in_reverse_order(socks5_server, website):
    here = f"127.0.0.1:{website.port}"
    socks5_server.configure(host_map={"first.test": here, "second.test": here})
    first = socks5_server.hold("reply", host="first.test")
    second = socks5_server.hold("reply", host="second.test")

    async with httpx.AsyncClient(proxy=socks5_server.url) as client:
        one = asyncio.create_task(client.get("http://first.test/"))
        two = asyncio.create_task(client.get("http://second.test/"))
        await first.wait_async()
        await second.wait_async()

        second.release()
        done, _ = await asyncio.wait({one, two}, return_when=asyncio.FIRST_COMPLETED)
        assert done == {two}  # the first request is still held
        first.release()
        assert (await one).text == (await two).text == "hello from /"


def test_a_hook_refuses_every_third_connect(socks5_server, website):
    count = itertools.count(1)

    @socks5_server.on("request")
    def every_third(record):
        if record.command == Command.CONNECT and next(count) % 3 == 0:
            return ReplyWith(reply=Reply.CONNECTION_NOT_ALLOWED)
        return None

    results = []
    for _ in range(6):
        try:
            requests.get(website.url, proxies={"http": socks5_server.url}, timeout=5)
            results.append("ok")
        except requests.exceptions.ConnectionError:
            results.append("refused")

    assert results == ["ok", "ok", "refused", "ok", "ok", "refused"]
    refused = socks5_server.find_connections(outcome=Outcome.REJECTED)
    assert [r.reply for r in refused] == [Reply.CONNECTION_NOT_ALLOWED] * 2


def test_a_data_hook_rewrites_a_response_byte(socks5_server, website):
    @socks5_server.on("data")
    def jello(direction, data):
        if direction == "to_client":
            return data.replace(b"hello from", b"jello from")
        return None  # pass the chunk on unchanged

    response = requests.get(website.url, proxies={"http": socks5_server.url}, timeout=5)

    assert response.text == "jello from /"


@dataclass(frozen=True, kw_only=True)
class LyingBoundPort(CustomFault):
    """A reply whose BND.PORT is ``bound``, whatever the server bound."""

    bound: int = 1

    def rewrite(self, answer: bytes) -> bytes:
        return answer[:-2] + self.bound.to_bytes(2, "big")


def test_a_custom_fault_offline():
    fault = LyingBoundPort(bound=9, at="reply")

    plan = testing.answer(fault)  # a typical success reply, through the fault

    assert plan.data == testing.TYPICAL_ANSWERS[fault.phase][:-2] + b"\x00\x09"
    assert plan.acted == (fault,)
    assert plan.instead is None
    assert testing.selects(LyingBoundPort(host="*.test"), testing.record(host="a.test"))
