"""HTTP proxy: the same port, asked in HTTP by requests, httpx, aiohttp, websockets, curl."""

import http.server
import os
import shutil
import ssl
import subprocess
import threading

import aiohttp
import httpx
import pytest
import requests
import trustme
from websockets.asyncio.client import connect

from pytest_socks5 import Outcome, Reply, faults


@pytest.fixture(scope="module")
def ca():
    """A throwaway certificate authority (trustme) that the https site's certificate
    comes from; clients trust it through ``ca_file``."""
    return trustme.CA()


@pytest.fixture
def ca_file(ca, tmp_path):
    path = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return str(path)


class Hello(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        body = f"hello from {self.path}".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format, *args):
        pass


@pytest.fixture
def https_site(ca):
    """``https://127.0.0.1:PORT`` with a certificate from ``ca``."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hello)
    server.daemon_threads = True
    server.socket = context.wrap_socket(server.socket, server_side=True)
    # shutdown() waits for the server's next poll: every 5 ms, not the default 0.5 s.
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.005})
    thread.start()
    yield f"https://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join()


# -- requests --------------------------------------------------------------------------


def test_requests_http_and_https(socks5_server, website, https_site, ca_file):
    proxies = {"http": socks5_server.http_url, "https": socks5_server.http_url}

    plain = requests.get(f"{website.url}a", proxies=proxies, timeout=5)
    secure = requests.get(f"{https_site}/b", proxies=proxies, verify=ca_file, timeout=5)

    assert (plain.text, secure.text) == ("hello from /a", "hello from /b")
    forwarded = socks5_server.assert_connected(protocol="http", port=website.port)
    assert forwarded.http_request == f"GET {website.url}a HTTP/1.1"
    tunnel = socks5_server.assert_connected(protocol="http", http_request="CONNECT *")
    assert tunnel.http_status == 200


@pytest.mark.socks5(users={"alice": "s3cret"})
def test_requests_407(socks5_server, https_site, ca_file):
    proxy = socks5_server.url_for("http")  # no credentials

    with pytest.raises(requests.exceptions.ProxyError, match="407"):
        requests.get(https_site, proxies={"https": proxy}, verify=ca_file, timeout=5)

    record = socks5_server.wait_for_connections(outcome=Outcome.AUTH_FAILED)[0]
    assert record.http_status == 407


def test_a_refusal_is_a_502(socks5_server, website):
    socks5_server.add_fault(faults.ReplyWith(reply=Reply.CONNECTION_REFUSED))

    response = requests.get(website.url, proxies={"http": socks5_server.http_url}, timeout=5)

    assert response.status_code == 502


# -- httpx -----------------------------------------------------------------------------


def test_keep_alive_records(socks5_server, website):
    with httpx.Client(proxy=socks5_server.http_url) as client:
        client.get(f"{website.url}first")
        client.get(f"{website.url}second")
    record = socks5_server.assert_connected(http_requests="GET */second HTTP/1.1")
    assert record.http_request == f"GET {website.url}first HTTP/1.1"  # the first
    assert record.http_requests[1] == f"GET {website.url}second HTTP/1.1"
    assert record.http_statuses == (200, 200)


def test_httpx(socks5_server, website, https_site, ca_file):
    context = ssl.create_default_context(cafile=ca_file)
    with httpx.Client(proxy=socks5_server.http_url, verify=context) as client:
        assert client.get(f"{website.url}c").text == "hello from /c"
        assert client.get(f"{https_site}/d").text == "hello from /d"


# -- aiohttp ---------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_aiohttp_proxy_argument(socks5_server, website, https_site, ca_file):
    context = ssl.create_default_context(cafile=ca_file)
    async with aiohttp.ClientSession() as session:
        async with session.get(website.url, proxy=socks5_server.http_url) as response:
            assert await response.text() == "hello from /"
        async with session.get(https_site, proxy=socks5_server.http_url, ssl=context) as response:
            assert await response.text() == "hello from /"


# -- websockets ------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_websockets(socks5_server, echo_server):
    async with connect(echo_server, proxy=socks5_server.http_url) as websocket:
        await websocket.send("hello")
        assert await websocket.recv() == "hello"

    socks5_server.assert_connected(protocol="http", http_request="CONNECT *")


# -- curl ------------------------------------------------------------------------------


@pytest.mark.socks5(users={"alice": "s3cret"})
def test_curl(socks5_server, website):
    curl = shutil.which("curl")
    if curl is None:
        pytest.skip("curl is not installed")
    environment = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    command = [curl, "--silent", "--show-error", "--max-time", "5", "--noproxy", ""]
    proxy = socks5_server.url_for("http")

    result = subprocess.run(
        [*command, "-x", proxy, "--proxy-user", "alice:s3cret", f"{website.url}e"],
        capture_output=True, text=True, check=True, env=environment,
    )  # fmt: skip

    assert result.stdout == "hello from /e"
    socks5_server.assert_connected(protocol="http", username="alice")
