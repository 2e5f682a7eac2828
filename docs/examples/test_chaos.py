"""How-to: keep a failure chaos mode found as a regression test, and opt a test out.

``pytest --socks5-chaos`` found that ``fetch_status`` crashed when the proxy refused
the connection; its report gave the two lines above ``test_fetch_survives_a_refusal``,
pasted as they were. With the application fixed, the test keeps it fixed.
"""

import gc

import httpx
import pytest

from pytest_socks5.faults import ReplyWith


def fetch_status(proxy_url, url):
    """The application: a proxy failure is an answer (None), not a crash."""
    with httpx.Client(proxy=proxy_url, timeout=5) as client:
        try:
            return client.get(url).status_code
        except httpx.ProxyError:
            return None


# httpcore does not close the socket of a refused handshake (see the httpx client page):
# collect it here and let that one warning pass.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
@pytest.mark.socks5(chaos=False, faults=[ReplyWith(reply=0x05, nth=1)])
def test_fetch_survives_a_refusal(socks5_server, website):
    assert fetch_status(socks5_server.url, website.url) is None
    gc.collect()
    assert fetch_status(socks5_server.url, website.url) == 200
    first, second = socks5_server.connections
    assert first.faults == ("ReplyWith(reply=0x05, nth=1) at request",)
    assert second.faults == ()


@pytest.mark.socks5(chaos=False)  # exact timings: no chaos here, even under --socks5-chaos
def test_opted_out(socks5_server, website):
    assert fetch_status(socks5_server.url, website.url) == 200
    assert socks5_server.connections[0].faults == ()
