"""How-to (pcap): a suite run with --socks5-pcap; each test writes the port it used."""

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from pytest_socks5 import faults


def get(server, website):
    proxies = {"http": server.url_remote_dns}
    return requests.get(f"http://localhost:{website}/x", proxies=proxies, timeout=5)


@pytest.mark.socks5(capture_payload=4096)
def test_ok(socks5_server, website):
    assert get(socks5_server, website).status_code == 200
    Path("port-ok").write_text(str(socks5_server.port))


@pytest.mark.socks5(faults=[faults.ReplyWith(reply=0x05)])
def test_refused(socks5_server, website):
    with pytest.raises(requests.exceptions.ConnectionError):
        get(socks5_server, website)
    Path("port-refused").write_text(str(socks5_server.port))


@pytest.mark.socks5(faults=[faults.ResetAfter(after=0, direction="to_client")])
def test_reset(socks5_server, website):
    with pytest.raises(requests.exceptions.ConnectionError):
        get(socks5_server, website)
    Path("port-reset").write_text(str(socks5_server.port))


def test_held(socks5_server, website):
    with ThreadPoolExecutor(1) as pool, socks5_server.hold("reply") as gate:
        answer = pool.submit(get, socks5_server, website)
        gate.wait(timeout=5)
        gate.release()
        assert answer.result(timeout=5).status_code == 200
    Path("port-held").write_text(str(socks5_server.port))
