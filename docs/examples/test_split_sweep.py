"""How-to: prove a client's SOCKS parsing for every way TCP may cut an answer.

``every_split(at=...)`` lists one ``Fragment`` per cut (after byte 1, 2, ...) and the
1-byte drip; parametrize a test with it and the client meets every segmentation. The
website is on 127.0.0.1, so the proxy's reply carries an IPv4 ``BND.ADDR``: 10 bytes.
"""

import gc

import httpx
import pytest
import socks
import socksio
from python_socks.sync import Proxy

from pytest_socks5.faults import Fault, every_split

REQUEST = b"GET /split HTTP/1.0\r\n\r\n"


def read_all(sock):
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


@pytest.mark.parametrize("split", every_split(at="reply"), ids=Fault.describe)
def test_python_socks_reads_every_split_reply(socks5_server, website, split):
    socks5_server.add_fault(split)
    proxy = Proxy.from_url(socks5_server.url)

    with proxy.connect("127.0.0.1", website.port, timeout=5) as sock:
        sock.sendall(REQUEST)
        assert read_all(sock).endswith(b"hello from /split")

    assert socks5_server.connections[-1].faults == (f"{split.describe()} at {split.at.value}",)


@pytest.mark.parametrize("split", every_split(at="greeting"), ids=Fault.describe)
def test_pysocks_reads_every_split_method_choice(socks5_server, website, split):
    socks5_server.add_fault(split)

    with socks.socksocket() as sock:
        sock.set_proxy(socks.SOCKS5, socks5_server.host, socks5_server.port)
        sock.settimeout(5)
        sock.connect(("127.0.0.1", website.port))
        sock.sendall(REQUEST)
        assert read_all(sock).endswith(b"hello from /split")

    assert socks5_server.connections[-1].faults == (f"{split.describe()} at {split.at.value}",)


# httpx (socksio 1.0.0) takes one read for one message: every split fails today. This
# test pins that, so the day httpx reads the rest of a message, it fails and you notice.
# httpcore leaks the failed socket; with filterwarnings = error its ResourceWarning would
# fail a later test, so this one collects it here and ignores the warning.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
@pytest.mark.parametrize("split", every_split(at="reply"), ids=Fault.describe)
def test_httpx_fails_every_split_reply_today(socks5_server, website, split):
    socks5_server.add_fault(split)

    with (
        httpx.Client(proxy=socks5_server.url, timeout=5) as client,
        pytest.raises(socksio.ProtocolError, match="Malformed reply"),
    ):
        client.get(f"http://127.0.0.1:{website.port}/split")
    gc.collect()

    assert socks5_server.connections[-1].faults == (f"{split.describe()} at reply",)
