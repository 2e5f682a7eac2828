"""Client page: requests, which speaks SOCKS through PySocks."""

import pytest
import requests

from pytest_socks5 import AddressType, Outcome


def test_requests_through_the_proxy(socks5_server, website):
    proxies = {"http": socks5_server.url, "https": socks5_server.url}

    response = requests.get(website.url, proxies=proxies, timeout=5)

    assert response.text == "hello from /"
    socks5_server.assert_connected(port=website.port)


def test_socks5_resolves_names_itself(socks5_server, website):
    proxies = {"http": socks5_server.url}

    requests.get(f"http://localhost:{website.port}/", proxies=proxies, timeout=5)

    record = socks5_server.assert_connected(port=website.port)
    assert record.address_type in (AddressType.IPV4, AddressType.IPV6)


def test_socks5h_sends_the_name(socks5_server, website):
    proxies = {"http": socks5_server.url_remote_dns}

    requests.get(f"http://localhost:{website.port}/", proxies=proxies, timeout=5)

    socks5_server.assert_connected(address_type=AddressType.DOMAIN, host="localhost")


def test_a_proxy_from_the_environment(socks5_server, website, monkeypatch):
    # Code that never takes a proxy argument still honours ALL_PROXY.
    monkeypatch.setenv("ALL_PROXY", socks5_server.url)

    requests.get(website.url, timeout=5)

    socks5_server.assert_connected(port=website.port)


@pytest.mark.socks5(users={"a@b:c": "p%w ünï"})
def test_awkward_credentials(socks5_server, website):
    # url percent-encodes them; requests decodes them back to the same bytes.
    requests.get(website.url, proxies={"http": socks5_server.url}, timeout=5)

    record = socks5_server.assert_connected(authenticated=True)
    assert record.raw_username == b"a@b:c"
    assert record.raw_password == "p%w ünï".encode()


@pytest.mark.socks5(users={"alice": "s3cret"})
def test_a_wrong_password(socks5_server, website):
    proxies = {"http": socks5_server.url_for(username="alice", password="wrong")}

    with pytest.raises(requests.exceptions.ConnectionError, match="authentication failed"):
        requests.get(website.url, proxies=proxies, timeout=5)

    socks5_server.assert_connected(outcome=Outcome.AUTH_FAILED)
