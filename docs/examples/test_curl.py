"""How-to: curl through the proxy."""

import shutil
import subprocess

import pytest

from pytest_socks5 import AddressType, Socks4Reply


@pytest.fixture
def curl():
    """Run curl and return what it printed; skip the test where curl is not installed."""
    executable = shutil.which("curl")
    if executable is None:
        pytest.skip("curl is not installed")

    def run(*arguments):
        command = [executable, "--silent", "--show-error", "--max-time", "5", *arguments]
        return subprocess.run(command, capture_output=True, text=True, check=True).stdout

    return run


def test_curl_socks5_resolves_names_itself(curl, socks5_server, website):
    proxy = f"{socks5_server.host}:{socks5_server.port}"

    output = curl("--socks5", proxy, f"http://localhost:{website.port}/")

    assert output == "hello from /"
    socks5_server.assert_local_dns("localhost", port=website.port)


def test_curl_socks5_hostname_sends_the_name(curl, socks5_server, website):
    proxy = f"{socks5_server.host}:{socks5_server.port}"

    curl("--socks5-hostname", proxy, f"http://localhost:{website.port}/")

    socks5_server.assert_remote_dns("localhost", port=website.port)


@pytest.mark.socks5(users={"alice": "s3cret"})
def test_curl_with_a_username_and_password(curl, socks5_server, website):
    proxy = f"{socks5_server.host}:{socks5_server.port}"

    curl("--socks5", proxy, "--proxy-user", "alice:s3cret", website.url)

    socks5_server.assert_connected(username="alice", authenticated=True)


@pytest.mark.socks5(users={"ana@example.test": "p:a%ss wörd"})
def test_curl_with_a_proxy_url(curl, socks5_server, website):
    proxy = socks5_server.url_for("socks5h", username="ana@example.test", password="p:a%ss wörd")

    curl("--proxy", proxy, f"http://localhost:{website.port}/")

    socks5_server.assert_connected(
        raw_username=b"ana@example.test", address_type=AddressType.DOMAIN
    )


def test_curl_socks4a(curl, socks5_server, website):
    proxy = f"{socks5_server.host}:{socks5_server.port}"

    curl("--socks4", proxy, website.url)
    curl("--socks4a", proxy, f"http://localhost:{website.port}/")

    socks5_server.assert_connected(version=4, address_type=AddressType.IPV4, count=1)
    socks5_server.assert_connected(version=4, address_type=AddressType.DOMAIN, count=1)


@pytest.mark.socks5(socks4_user_ids=["alice"])
def test_curl_socks4_user_ids(curl, socks5_server, website):
    proxy = f"{socks5_server.host}:{socks5_server.port}"
    url = f"http://localhost:{website.port}/"

    curl("--socks4a", proxy, "--proxy-user", "alice:", url)
    with pytest.raises(subprocess.CalledProcessError):
        curl("--socks4a", proxy, "--proxy-user", "mallory:", url)

    socks5_server.assert_connected(user_id=b"alice", authenticated=True)
    socks5_server.assert_connected(user_id=b"mallory", reply=Socks4Reply.REJECTED)


def test_curl_socks4a_to_a_mapped_name(curl, socks5_server, website):
    socks5_server.configure(host_map={"api.example.test": f"127.0.0.1:{website.port}"})
    proxy = f"{socks5_server.host}:{socks5_server.port}"

    output = curl("--socks4a", proxy, "http://api.example.test/v1/items")

    assert output == "hello from /v1/items"
    socks5_server.assert_connected(version=4, host="api.example.test", mapped_to="127.0.0.1:*")


@pytest.mark.socks5(socks4=False)
def test_a_proxy_that_refuses_socks4(curl, socks5_server, website):
    proxy = f"{socks5_server.host}:{socks5_server.port}"

    with pytest.raises(subprocess.CalledProcessError):
        curl("--socks4", proxy, website.url)
