"""How-to: authentication."""

import httpx
import pytest
import requests

from pytest_socks5 import AuthMethod, Outcome, proxy_url


@pytest.mark.socks5(users={"alice": "s3cret"})
def test_the_proxy_requires_a_password(socks5_server, website):
    # With users configured, socks5_server.url carries the first user's credentials.
    assert socks5_server.url == f"socks5://alice:s3cret@127.0.0.1:{socks5_server.port}"

    requests.get(website.url, proxies={"http": socks5_server.url}, timeout=5)

    socks5_server.assert_connected(
        chosen_method=AuthMethod.USERNAME_PASSWORD,
        username="alice",
        authenticated=True,
    )


@pytest.mark.socks5(users={"alice": "s3cret"})
def test_a_wrong_password_is_refused(socks5_server, website):
    proxy = socks5_server.url_for(username="alice", password="wrong")

    with pytest.raises(requests.exceptions.ConnectionError, match="authentication failed"):
        requests.get(website.url, proxies={"http": proxy}, timeout=5)

    (record,) = socks5_server.wait_for_connections(outcome=Outcome.AUTH_FAILED)
    assert record.authenticated is False
    assert record.raw_password == b"wrong"


@pytest.mark.socks5(users={"alice": "s3cret"})
def test_a_client_without_credentials_is_refused(socks5_server, website):
    proxy = socks5_server.url_for()  # no username, no password

    with pytest.raises(requests.exceptions.ConnectionError):
        requests.get(website.url, proxies={"http": proxy}, timeout=5)

    socks5_server.wait_for_connections(outcome=Outcome.NO_ACCEPTABLE_METHOD)
    socks5_server.assert_connected(offered_methods=(AuthMethod.NO_AUTHENTICATION_REQUIRED,))


def token_is_valid(username, password):
    return username.startswith("svc-") and password == "token-" + username.removeprefix("svc-")


@pytest.mark.socks5(validator=token_is_valid)
def test_a_validator_decides(socks5_server, website):
    proxy = socks5_server.url_for(username="svc-billing", password="token-billing")

    requests.get(website.url, proxies={"http": proxy}, timeout=5)

    socks5_server.assert_connected(username="svc-billing", authenticated=True)


@pytest.mark.socks5(users={"ana@example.test": "p:a%ss wörd"})
def test_awkward_credentials_are_percent_encoded(socks5_server, website):
    proxy = socks5_server.url_for(username="ana@example.test", password="p:a%ss wörd")
    assert proxy == (
        f"socks5://ana%40example.test:p%3Aa%25ss%20w%C3%B6rd@127.0.0.1:{socks5_server.port}"
    )

    requests.get(website.url, proxies={"http": proxy}, timeout=5)
    with httpx.Client(proxy=proxy) as client:
        client.get(website.url)

    records = socks5_server.find_connections(authenticated=True)
    assert [r.raw_username for r in records] == [b"ana@example.test"] * 2
    assert [r.raw_password for r in records] == ["p:a%ss wörd".encode()] * 2


def test_proxy_url_without_a_server():
    assert (
        proxy_url("::1", 1080, scheme="socks5h", username="bob", password="a b")
        == "socks5h://bob:a%20b@[::1]:1080"
    )


@pytest.mark.socks5(users={"alice": "s3cret"})
def test_socks4_carries_no_password(socks5_server, website):
    proxy = socks5_server.url_for("socks4")  # SOCKS 4 has no password to send

    with pytest.raises(requests.exceptions.ConnectionError):
        requests.get(website.url, proxies={"http": proxy}, timeout=5)

    socks5_server.assert_connected(version=4, reply=0x5B, outcome=Outcome.AUTH_FAILED)


@pytest.mark.socks5(users={"alice": "s3cret"}, socks4=False)
def test_refuse_socks4(socks5_server, website):
    proxy = socks5_server.url_for("socks4")

    with pytest.raises(requests.exceptions.ConnectionError):
        requests.get(website.url, proxies={"http": proxy}, timeout=5)

    socks5_server.wait_for_connections(outcome=Outcome.PROTOCOL_ERROR)


@pytest.mark.socks5(users={"alice": ""})
def test_an_empty_password(socks5_server, website):
    proxy = socks5_server.url_for(username="alice", password="")
    assert proxy == f"socks5://alice:@127.0.0.1:{socks5_server.port}"

    # PySocks (which requests uses) offers no credentials when the password is empty
    # (Anorov/PySocks#115); httpx sends the username with an empty password.
    with pytest.raises(requests.exceptions.ConnectionError, match="methods were rejected"):
        requests.get(website.url, proxies={"http": proxy}, timeout=5)
    with httpx.Client(proxy=proxy) as client:
        client.get(website.url)

    by_pysocks, by_httpx = socks5_server.wait_for_connections(2, ended=True)
    assert by_pysocks.offered_methods == (AuthMethod.NO_AUTHENTICATION_REQUIRED,)
    assert by_pysocks.outcome is Outcome.NO_ACCEPTABLE_METHOD
    assert (by_httpx.raw_username, by_httpx.raw_password) == (b"alice", b"")
    assert by_httpx.authenticated is True
