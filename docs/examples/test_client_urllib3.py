"""Client page: urllib3's SOCKSProxyManager (PySocks underneath)."""

import pytest
import urllib3
from urllib3.contrib.socks import SOCKSProxyManager

from pytest_socks5 import AddressType, Outcome


def test_urllib3_through_the_proxy(socks5_server, website):
    with SOCKSProxyManager(socks5_server.url_remote_dns) as http:
        response = http.request("GET", f"http://localhost:{website.port}/")

    assert response.data == b"hello from /"
    socks5_server.assert_connected(address_type=AddressType.DOMAIN, host="localhost")


@pytest.mark.socks5(users={"alice": "s3cret"})
def test_credentials_as_arguments(socks5_server, website):
    proxy_url = socks5_server.url_for()  # the URL without credentials

    with SOCKSProxyManager(proxy_url, username="alice", password="s3cret") as http:
        http.request("GET", website.url)

    socks5_server.assert_connected(username="alice", authenticated=True)


@pytest.mark.socks5(users={"alice": "s3cret"})
def test_a_wrong_password_is_retried(socks5_server, website):
    proxy_url = socks5_server.url_for(username="alice", password="wrong")

    with SOCKSProxyManager(proxy_url) as http, pytest.raises(urllib3.exceptions.MaxRetryError):
        http.request("GET", website.url)

    # urllib3 retries three times by default: the proxy saw four attempts.
    socks5_server.assert_connected(count=4, outcome=Outcome.AUTH_FAILED)


@pytest.mark.socks5(users={"alice": "s3cret"})
def test_a_wrong_password_without_retries(socks5_server, website):
    proxy_url = socks5_server.url_for(username="alice", password="wrong")

    http = SOCKSProxyManager(proxy_url, retries=False)

    with http, pytest.raises(urllib3.exceptions.NewConnectionError, match="authentication"):
        http.request("GET", website.url)

    socks5_server.assert_connected(count=1, outcome=Outcome.AUTH_FAILED)
