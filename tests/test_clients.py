"""Real SOCKS clients through the fixture: requests/PySocks, httpx (sync and async), curl."""

from __future__ import annotations

import shutil
import subprocess

import httpx
import pytest
import requests

from pytest_socks5 import AddressType, Outcome, SOCKS5Server

CURL = shutil.which("curl")
needs_curl = pytest.mark.skipif(
    CURL is None and not __import__("os").environ.get("CI"), reason="curl is not installed"
)


def url(http_server: tuple[str, int], path: str = "/", host: str | None = None) -> str:
    return f"http://{host or http_server[0]}:{http_server[1]}{path}"


# -- requests (PySocks) ---------------------------------------------------------------


def test_requests_socks5_resolves_locally(socks5_server: SOCKS5Server, http_server) -> None:
    proxies = {"http": socks5_server.url, "https": socks5_server.url}
    response = requests.get(url(http_server, "/a", host="localhost"), proxies=proxies, timeout=5)
    assert response.text == "hello from /a"
    record = socks5_server.assert_connected(port=http_server[1])
    assert record.address_type in (AddressType.IPV4, AddressType.IPV6)
    assert record.host in ("127.0.0.1", "::1")


def test_requests_socks5h_sends_the_name(socks5_server: SOCKS5Server, http_server) -> None:
    proxies = {"http": socks5_server.url_remote_dns}
    response = requests.get(url(http_server, "/b", host="localhost"), proxies=proxies, timeout=5)
    assert response.text == "hello from /b"
    record = socks5_server.assert_connected(host="localhost", address_type=AddressType.DOMAIN)
    assert record.raw_address == b"localhost"


@pytest.mark.parametrize(
    ("user", "password"),
    [("alice", "s3cret"), ("a@b", "p:w%d"), ("ünï", "pässwörd"), ("a b/c?d#e", "[]!$&'()*+,;=")],
    ids=["plain", "reserved-chars", "non-ascii", "url-delimiters"],
)
def test_requests_with_credentials(
    socks5_server_factory, http_server, user: str, password: str
) -> None:
    server = socks5_server_factory(users={user: password})
    response = requests.get(url(http_server), proxies={"http": server.url}, timeout=5)
    assert response.status_code == 200
    record = server.assert_connected(authenticated=True)
    assert record.raw_username == user.encode()
    assert record.raw_password == password.encode()


@pytest.mark.socks5(users={"alice": ""})
def test_pysocks_does_not_offer_username_password_with_an_empty_password(
    socks5_server: SOCKS5Server, http_server
) -> None:
    """SCENARIOS #7 (Anorov/PySocks#115): PySocks offers only "no authentication" when the
    password is empty, so a proxy that requires auth answers 05 FF."""
    assert socks5_server.url.endswith(f"alice:@127.0.0.1:{socks5_server.port}")
    with pytest.raises(requests.exceptions.ConnectionError, match="rejected"):
        requests.get(url(http_server), proxies={"http": socks5_server.url}, timeout=5)
    record = socks5_server.assert_connected(outcome=Outcome.NO_ACCEPTABLE_METHOD)
    assert record.offered_methods == (0x00,)


@pytest.mark.socks5(users={"alice": "s3cret"})
def test_requests_with_a_wrong_password_fails(socks5_server: SOCKS5Server, http_server) -> None:
    bad = socks5_server.url_for(username="alice", password="nope")
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.get(url(http_server), proxies={"http": bad}, timeout=5)
    record = socks5_server.assert_connected(outcome=Outcome.AUTH_FAILED)
    assert record.raw_password == b"nope"


def test_requests_to_a_refused_port(socks5_server: SOCKS5Server, refused_port: int) -> None:
    with pytest.raises(requests.exceptions.ConnectionError, match=r"0x05|refused"):
        requests.get(
            f"http://127.0.0.1:{refused_port}/", proxies={"http": socks5_server.url}, timeout=5
        )
    socks5_server.assert_connected(port=refused_port, reply=0x05)


# -- httpx -----------------------------------------------------------------------------


def test_httpx_sync(socks5_server: SOCKS5Server, http_server) -> None:
    with httpx.Client(proxy=socks5_server.url) as client:
        response = client.get(url(http_server, "/sync"))
    assert response.text == "hello from /sync"
    socks5_server.assert_connected(host=http_server[0], port=http_server[1])


@pytest.mark.asyncio
async def test_httpx_async(socks5_server: SOCKS5Server, http_server) -> None:
    async with httpx.AsyncClient(proxy=socks5_server.url) as client:
        response = await client.get(url(http_server, "/async"))
    assert response.text == "hello from /async"
    socks5_server.assert_connected(port=http_server[1], address_type=AddressType.IPV4)


@pytest.mark.socks5(users={"u@s": "p:w%"})
def test_httpx_with_percent_encoded_credentials(socks5_server: SOCKS5Server, http_server) -> None:
    assert "u%40s:p%3Aw%25@" in socks5_server.url
    with httpx.Client(proxy=socks5_server.url) as client:
        assert client.get(url(http_server)).status_code == 200
    socks5_server.assert_connected(username="u@s", authenticated=True)


# -- curl ------------------------------------------------------------------------------


def curl(*args: str) -> subprocess.CompletedProcess[str]:
    assert CURL is not None, "curl is required in CI (.ci/run installs it)"
    return subprocess.run(
        [CURL, "--silent", "--show-error", "--max-time", "10", "--noproxy", "", *args],
        capture_output=True,
        text=True,
        timeout=20,
        env={"PATH": "/usr/bin:/bin"},
    )


@needs_curl
@pytest.mark.parametrize(
    ("option", "atyp"),
    [("--socks5", AddressType.IPV4), ("--socks5-hostname", AddressType.DOMAIN)],
)
def test_curl(socks5_server: SOCKS5Server, http_server, option: str, atyp: AddressType) -> None:
    proxy = f"{socks5_server.host}:{socks5_server.port}"
    result = curl(option, proxy, url(http_server, "/curl", host="localhost"))
    assert result.stdout == "hello from /curl", result.stderr
    socks5_server.assert_connected(address_type=atyp, port=http_server[1])


@needs_curl
@pytest.mark.socks5(users={"alice": "s3cret"})
def test_curl_with_credentials(socks5_server: SOCKS5Server, http_server) -> None:
    proxy = f"{socks5_server.host}:{socks5_server.port}"
    ok = curl("--socks5-hostname", proxy, "-U", "alice:s3cret", url(http_server))
    assert ok.returncode == 0, ok.stderr
    wrong = curl("--socks5-hostname", proxy, "-U", "alice:nope", url(http_server))
    assert wrong.returncode == 97, wrong.stderr  # CURLE_PROXY: "proxy handshake error"
    assert [r.authenticated for r in socks5_server.connections] == [True, False]


@needs_curl
def test_curl_proxy_url_socks5h(socks5_server: SOCKS5Server, http_server) -> None:
    result = curl(
        "--proxy", socks5_server.url_remote_dns, url(http_server, "/h", host="localhost")
    )
    assert result.stdout == "hello from /h", result.stderr
    socks5_server.assert_connected(host="localhost", raw_address=b"localhost")
