"""Examples for the faults how-to: one small test per kind of fault."""

from __future__ import annotations

import socket
import time

import pytest
import requests

from pytest_socks5 import Reply
from pytest_socks5.faults import (
    Bandwidth,
    BoundAddress,
    Close,
    Delay,
    FailAuth,
    ForceMethod,
    Latency,
    ReplyWith,
    ResetAfter,
    Stall,
)


def test_refuse_one_host(socks5_server, website):
    socks5_server.add_fault(ReplyWith(reply=Reply.CONNECTION_REFUSED, host="127.0.0.1"))

    with pytest.raises(requests.exceptions.ConnectionError, match="0x05"):
        requests.get(website.url, proxies={"http": socks5_server.url}, timeout=5)
    socks5_server.assert_connected(reply=Reply.CONNECTION_REFUSED, upstream_address=None)


def test_the_first_two_attempts_fail(socks5_server, website):
    socks5_server.add_fault(ReplyWith(reply=Reply.HOST_UNREACHABLE, times=2))
    proxies = {"http": socks5_server.url}

    outcomes = []
    for _ in range(3):
        try:
            outcomes.append(requests.get(website.url, proxies=proxies, timeout=5).status_code)
        except requests.exceptions.ConnectionError:
            outcomes.append("failed")
    assert outcomes == ["failed", "failed", 200]


def test_a_flaky_proxy_replays_with_its_seed(socks5_server_factory, website):
    def attempts(seed):
        proxy = socks5_server_factory(seed=seed, faults=[ReplyWith(probability=0.3)])
        results = []
        for _ in range(10):
            try:
                requests.get(website.url, proxies={"http": proxy.url}, timeout=5)
                results.append("ok")
            except requests.exceptions.ConnectionError:
                results.append("failed")
        return results

    assert attempts(seed=1) == attempts(seed=1)


def test_slow_handshake(socks5_server, website):
    socks5_server.add_fault(Delay(at="greeting", seconds=0.2))

    started = time.monotonic()
    requests.get(website.url, proxies={"http": socks5_server.url}, timeout=5)
    assert time.monotonic() - started >= 0.2


def test_proxy_drops_the_connection_with_a_reset(socks5_server, website):
    socks5_server.add_fault(Close(at="reply", reset=True))

    with pytest.raises(requests.exceptions.ConnectionError, match="reset"):
        requests.get(website.url, proxies={"http": socks5_server.url}, timeout=5)


def test_scoped_fault(socks5_server, website):
    proxies = {"http": socks5_server.url}
    with (
        socks5_server.fault(Stall(at="reply")),
        pytest.raises(requests.exceptions.ConnectTimeout),
    ):
        requests.get(website.url, proxies=proxies, timeout=0.3)
    assert requests.get(website.url, proxies=proxies, timeout=5).ok  # the fault is gone


@pytest.mark.socks5(users={"alice": "s3cret"}, faults=[FailAuth(status=0x05)])
def test_credentials_rejected_with_an_odd_status(socks5_server, website):
    with pytest.raises(requests.exceptions.ConnectionError, match="authentication failed"):
        requests.get(website.url, proxies={"http": socks5_server.url}, timeout=5)
    socks5_server.assert_connected(username="alice", authenticated=False)


def test_method_the_client_did_not_offer(socks5_server, website):
    socks5_server.add_fault(ForceMethod(method=0x02))

    with pytest.raises(requests.exceptions.ConnectionError, match="username/password"):
        requests.get(website.url, proxies={"http": socks5_server.url}, timeout=5)


def test_domain_in_the_bound_address(socks5_server, website):
    socks5_server.add_fault(BoundAddress(bound_type=0x03, bound_host="proxy.test", bound_port=1))

    assert requests.get(website.url, proxies={"http": socks5_server.url}, timeout=5).ok


def test_slow_network(socks5_server, website):
    socks5_server.add_fault(Latency(seconds=0.1, direction="to_client"))
    socks5_server.add_fault(Bandwidth(bytes_per_second=1_000_000))

    started = time.monotonic()
    requests.get(website.url, proxies={"http": socks5_server.url}, timeout=5)
    assert time.monotonic() - started >= 0.1


def test_connection_reset_mid_response(socks5_server, website):
    socks5_server.add_fault(ResetAfter(after=10, direction="to_client"))

    with pytest.raises(requests.exceptions.ConnectionError):
        requests.get(website.url, proxies={"http": socks5_server.url}, timeout=5)


def test_proxy_is_down(socks5_server, website):
    with socks5_server.down(), pytest.raises(requests.exceptions.ConnectionError):
        requests.get(website.url, proxies={"http": socks5_server.url}, timeout=5)
    assert requests.get(website.url, proxies={"http": socks5_server.url}, timeout=5).ok


def test_faults_in_the_record(socks5_server):
    socks5_server.add_fault(Close(at="greeting"))

    with socket.create_connection(socks5_server.address, timeout=5) as sock:
        sock.sendall(b"\x05\x01\x00")
        assert sock.recv(16) == b""
    (record,) = socks5_server.wait_for_connections(1, ended=True)
    assert record.faults == ("Close(reset=False) at greeting",)
