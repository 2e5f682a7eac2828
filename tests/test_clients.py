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


# -- socks5 vs socks5h: one assertion per client and scheme -------------------------------


def fetch_requests(proxy_url: str, url: str) -> None:
    requests.get(url, proxies={"http": proxy_url}, timeout=5).raise_for_status()


def fetch_httpx(proxy_url: str, url: str) -> None:
    with httpx.Client(proxy=proxy_url) as client:
        client.get(url).raise_for_status()


def fetch_curl(proxy_url: str, url: str) -> None:
    result = curl("--proxy", proxy_url, url)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(
    ("fetch", "scheme", "proxy_resolves"),
    [
        pytest.param(fetch_requests, "socks5", False, id="requests-socks5"),
        pytest.param(fetch_requests, "socks5h", True, id="requests-socks5h"),
        # httpx (socksio) sends the name whatever the scheme says.
        pytest.param(fetch_httpx, "socks5", True, id="httpx-socks5"),
        pytest.param(fetch_httpx, "socks5h", True, id="httpx-socks5h"),
        pytest.param(fetch_curl, "socks5", False, id="curl-socks5", marks=needs_curl),
        pytest.param(fetch_curl, "socks5h", True, id="curl-socks5h", marks=needs_curl),
    ],
)
def test_who_resolves_the_name_in_one_assertion(
    socks5_server: SOCKS5Server, http_server, fetch, scheme: str, proxy_resolves: bool
) -> None:
    fetch(socks5_server.url_for(scheme), url(http_server, host="localhost"))
    if proxy_resolves:
        socks5_server.assert_remote_dns("localhost", port=http_server[1])
    else:
        socks5_server.assert_local_dns("localhost", port=http_server[1])


@needs_curl
@pytest.mark.parametrize(
    ("option", "proxy_resolves"), [("--socks5", False), ("--socks5-hostname", True)]
)
def test_curl_options_in_one_assertion(
    socks5_server: SOCKS5Server, http_server, option: str, proxy_resolves: bool
) -> None:
    proxy = f"{socks5_server.host}:{socks5_server.port}"
    assert curl(option, proxy, url(http_server, host="localhost")).returncode == 0
    if proxy_resolves:
        socks5_server.assert_remote_dns("localhost")
    else:
        socks5_server.assert_local_dns("localhost")


@pytest.mark.socks5(users={"alice": "s3cret"}, capture_payload=4096)
def test_credentials_and_payload_of_a_real_client(
    socks5_server: SOCKS5Server, http_server
) -> None:
    fetch_requests(socks5_server.url, url(http_server, "/bytes"))
    socks5_server.assert_auth("alice", "s3cret")
    socks5_server.assert_sent(b"GET /bytes HTTP/1.1\r\n")
    socks5_server.assert_received(b"hello from /bytes")


def test_clients_follow_the_proxy_environment(socks5_proxy_env: SOCKS5Server, http_server) -> None:
    response = requests.get(url(http_server, "/env", host="localhost"), timeout=5)
    assert response.text == "hello from /env"
    socks5_proxy_env.assert_local_dns("localhost", count=1)
    with httpx.Client() as client:  # trust_env: ALL_PROXY / HTTP_PROXY
        assert client.get(url(http_server, "/env")).text == "hello from /env"
    socks5_proxy_env.assert_connected(port=http_server[1], count=2)
