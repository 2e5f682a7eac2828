"""The tutorial: a first proxied test with requests, then with httpx in async code."""

import httpx
import pytest
import requests

from pytest_socks5 import AddressType, Outcome, Reply


def test_first_proxied_request(socks5_server, website):
    proxies = {"http": socks5_server.url, "https": socks5_server.url}

    response = requests.get(website.url + "tutorial", proxies=proxies, timeout=5)

    assert response.text == "hello from /tutorial"
    socks5_server.assert_connected(host="127.0.0.1", port=website.port)


def test_what_the_proxy_saw(socks5_server, website):
    proxies = {"http": socks5_server.url, "https": socks5_server.url}
    requests.get(website.url, proxies=proxies, timeout=5)

    (record,) = socks5_server.wait_for_connections(1, ended=True, timeout=5)

    assert record.version == 5
    assert record.address_type == AddressType.IPV4
    assert record.raw_address == b"\x7f\x00\x00\x01"
    assert record.target == f"127.0.0.1:{website.port}"
    assert record.reply == Reply.SUCCEEDED
    assert record.outcome is Outcome.CLOSED
    assert record.bytes_to_client > 0


@pytest.mark.asyncio
async def test_first_async_proxied_request(socks5_server, website):
    async with httpx.AsyncClient(proxy=socks5_server.url) as client:
        response = await client.get(website.url + "async")

    assert response.text == "hello from /async"
    socks5_server.assert_connected(host="127.0.0.1", port=website.port)
