"""Bugs users of SOCKS clients really hit, each reproduced in a few lines with a fault.

The numbers are those of the scenario list in the project's design notes; every test is
written the way a user would write it, against a real client.
"""

from __future__ import annotations

import gc
import subprocess
import sys

import httpx
import pytest
import requests
import socksio.exceptions

from pytest_socks5 import Reply
from pytest_socks5.faults import (
    BoundAddress,
    ForceMethod,
    Fragment,
    Latency,
    ReplyWith,
    ResetAfter,
    Stall,
    Truncate,
)


# 2. The proxy accepts TCP and then never answers: the client must time out, not hang.
def test_client_times_out_on_a_silent_proxy(socks5_server, website):
    socks5_server.add_fault(Stall(at="greeting"))

    with pytest.raises(requests.exceptions.ConnectTimeout):
        requests.get(website.url, proxies={"http": socks5_server.url}, timeout=0.5)


# 2. ...and the same fault shows that httpx hangs (encode/httpcore#1015): its timeout
# does not cover the SOCKS handshake. The call runs in a child process the test can kill.
@pytest.mark.xfail(reason="httpx has no timeout on the SOCKS handshake", strict=True)
def test_httpx_times_out_on_a_silent_proxy(socks5_server, website):
    socks5_server.add_fault(Stall(at="greeting"))
    code = f"import httpx; httpx.get({website.url!r}, proxy={socks5_server.url!r}, timeout=0.5)"

    with subprocess.Popen([sys.executable, "-c", code], stderr=subprocess.DEVNULL) as child:
        try:
            child.wait(timeout=5)  # ten times the client's own timeout
        except subprocess.TimeoutExpired:
            child.kill()
            pytest.fail("httpx.get(timeout=0.5) was still waiting after 5 s")


# 3. Fragmented replies: a client that takes one read for one message breaks.
def test_reply_in_one_byte_slices(socks5_server, website):
    socks5_server.add_fault(Fragment(at="reply", size=1, delay=0.01))

    response = requests.get(website.url, proxies={"http": socks5_server.url}, timeout=5)

    assert response.text == "hello from /"


# 3. Truncated replies: the client must fail cleanly, not mis-parse.
def test_truncated_reply(socks5_server, website):
    socks5_server.add_fault(Truncate(at="reply", length=4))

    with pytest.raises(requests.exceptions.ConnectionError):
        requests.get(website.url, proxies={"http": socks5_server.url}, timeout=5)


# 4. Odd BND.ADDR: a failure reply with ATYP 0x00. requests reports the REP; with httpx
# a raw socksio.exceptions.ProtocolError escapes, and the socket leaks.
def test_failure_reply_with_atyp_zero(socks5_server, website):
    socks5_server.add_fault(ReplyWith(reply=Reply.GENERAL_FAILURE))
    socks5_server.add_fault(BoundAddress(bound_type=0x00))

    with pytest.raises(requests.exceptions.ConnectionError, match="General SOCKS server failure"):
        requests.get(website.url, proxies={"http": socks5_server.url}, timeout=5)


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_httpx_on_a_failure_reply_with_atyp_zero(socks5_server, website):
    socks5_server.add_fault(ReplyWith(reply=Reply.GENERAL_FAILURE))
    socks5_server.add_fault(BoundAddress(bound_type=0x00))

    with pytest.raises(socksio.exceptions.ProtocolError, match="Malformed reply"):
        httpx.get(website.url, proxy=socks5_server.url)
    gc.collect()  # httpcore's leaked socket is reported here, inside this test


# 5. Reply codes become exceptions: "refused" must not look like "general failure".
def test_refused_once_then_working(socks5_server, website):
    socks5_server.add_fault(ReplyWith(reply=Reply.CONNECTION_REFUSED, times=1))
    proxies = {"http": socks5_server.url}

    with pytest.raises(requests.exceptions.ConnectionError, match="Connection refused"):
        requests.get(website.url, proxies=proxies, timeout=5)
    assert requests.get(website.url, proxies=proxies, timeout=5).ok


# 8. Method negotiation mismatch: the server picks a method the client did not offer.
def test_server_picks_a_method_the_client_did_not_offer(socks5_server, website):
    socks5_server.add_fault(ForceMethod(method=0x02))  # client offered only 0x00

    with pytest.raises(requests.exceptions.ConnectionError):
        requests.get(website.url, proxies={"http": socks5_server.url}, timeout=5)
    socks5_server.assert_connected(offered_methods=(0x00,), chosen_method=0x02)


# 14. After CONNECT succeeds: a reset mid-stream, and a timeout on a slow tunnel.
def test_reset_in_the_middle_of_the_response(socks5_server, website):
    socks5_server.add_fault(ResetAfter(after=20, direction="to_client"))

    with pytest.raises(requests.exceptions.ConnectionError):
        requests.get(website.url, proxies={"http": socks5_server.url}, timeout=5)


def test_read_timeout_after_connect(socks5_server, website):
    socks5_server.add_fault(Latency(seconds=1.0, direction="to_client"))

    with pytest.raises(httpx.ReadTimeout):
        httpx.get(website.url, proxy=socks5_server.url, timeout=0.3)
