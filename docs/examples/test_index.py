"""The example on the landing page."""

import requests


def test_the_request_went_through_the_proxy(socks5_server, website):
    proxies = {"http": socks5_server.url, "https": socks5_server.url}

    response = requests.get(website.url, proxies=proxies, timeout=5)

    assert response.text == "hello from /"
    socks5_server.assert_connected(host="127.0.0.1", port=website.port)
