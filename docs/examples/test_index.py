"""The example on the landing page: a whole test module, runnable as it stands."""

import pytest
import requests

from pytest_socks5 import Sink

# The proxy itself answers for api.example.test: no DNS, no network, no server to start.
API = Sink(response=b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello")


@pytest.mark.socks5(host_map={"api.example.test": API})
def test_the_request_went_through_the_proxy(socks5_server):
    proxies = {"http": socks5_server.url_remote_dns}  # socks5h://: the proxy resolves names

    response = requests.get("http://api.example.test/", proxies=proxies, timeout=5)

    assert response.text == "hello"
    socks5_server.assert_connected(host="api.example.test", port=80, username=None)
