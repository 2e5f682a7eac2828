"""The same port as an HTTP proxy: real clients (requests, httpx, aiohttp, curl) through
``http_url`` to loopback origins — forwarded for http://, CONNECT for https:// (a trustme
certificate) — with the same auth, rules, faults and records as SOCKS.

Every client here is told its proxy explicitly and ignores the environment (``trust_env``
off, curl with ``--noproxy ''`` and no proxy variables), so nothing leaves loopback."""

from __future__ import annotations

import http.server
import os
import shutil
import socket
import ssl
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import httpx
import pytest
import requests
import trustme

from pytest_socks5 import ConnectionRecord, Outcome, Reply, Sink, SOCKS5Server, faults
from pytest_socks5.rawclient import open_tunnel

CURL = shutil.which("curl")
needs_curl = pytest.mark.skipif(
    CURL is None and not os.environ.get("CI"), reason="curl is not installed"
)


class _Origin(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def _answer(self, body: bytes) -> None:
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        self._answer(f"hello from {self.path}".encode())

    def do_POST(self) -> None:
        if self.headers.get("Transfer-Encoding") == "chunked":
            body = b""
            while size := int(self.rfile.readline().strip(), 16):
                body += self.rfile.read(size)
                self.rfile.readline()
            self.rfile.readline()
        else:
            body = self.rfile.read(int(self.headers["Content-Length"]))
        self._answer(b"got " + body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="module")
def ca_file(ca: trustme.CA, tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("ca") / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return str(path)


def _serve(tls: ssl.SSLContext | None) -> Iterator[tuple[str, int]]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Origin)
    server.daemon_threads = True
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.005})
    thread.start()
    yield ("127.0.0.1", server.server_address[1])
    server.shutdown()
    server.server_close()
    thread.join(5)


@pytest.fixture
def origin() -> Iterator[tuple[str, int]]:
    yield from _serve(None)


@pytest.fixture
def tls_origin(ca: trustme.CA) -> Iterator[tuple[str, int]]:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
    yield from _serve(context)


def ended(server: SOCKS5Server, **criteria: object) -> ConnectionRecord:
    """The first closed connection matching ``criteria`` (waiting for it to close)."""
    return server.wait_for_connections(ended=True, **criteria)[0]


def session() -> requests.Session:
    s = requests.Session()
    s.trust_env = False  # only the proxy given here, whatever the environment says
    return s


# -- requests ------------------------------------------------------------------------


def test_requests_forwards_an_http_url(socks5_server: SOCKS5Server, origin) -> None:
    proxies = {"http": socks5_server.http_url}
    with session() as s:
        first = s.get(f"http://127.0.0.1:{origin[1]}/a", proxies=proxies, timeout=5)
        second = s.post(f"http://127.0.0.1:{origin[1]}/b", data=b"x" * 5000, proxies=proxies)
    assert first.text == "hello from /a"
    assert second.text == "got " + "x" * 5000
    record = socks5_server.assert_connected(protocol="http", port=origin[1], count=1)
    assert record.http_request == f"GET http://127.0.0.1:{origin[1]}/a HTTP/1.1"
    assert record.http_status == 200
    # both requests on one kept-alive connection, heads and body, as written to the origin
    assert record.bytes_from_client > 5000


def test_requests_tunnels_an_https_url(socks5_server: SOCKS5Server, tls_origin, ca_file) -> None:
    proxies = {"https": socks5_server.http_url}
    with session() as s:
        response = s.get(f"https://127.0.0.1:{tls_origin[1]}/s", proxies=proxies, verify=ca_file)
    assert response.text == "hello from /s"
    record = socks5_server.assert_connected(protocol="http", host="127.0.0.1", port=tls_origin[1])
    # as sent: http.client tunnels with HTTP/1.0 before Python 3.12, HTTP/1.1 from then on
    line = f"CONNECT 127.0.0.1:{tls_origin[1]} HTTP/1."
    assert record.http_request in (line + "0", line + "1")
    assert record.http_status == 200
    assert record.reply == Reply.SUCCEEDED
    assert "HTTP" in str(record)


def test_chunked_request_body_is_forwarded(socks5_server: SOCKS5Server, origin) -> None:
    def chunks() -> Iterator[bytes]:
        yield b"one,"
        yield b"two"

    with session() as s:
        response = s.post(
            f"http://127.0.0.1:{origin[1]}/c",
            data=chunks(),
            proxies={"http": socks5_server.http_url},
        )
    assert response.text == "got one,two"
    record = socks5_server.assert_connected(protocol="http")
    assert ("Transfer-Encoding", "chunked") in record.http_headers


@pytest.mark.socks5(users={"alice": "s3cret"})
def test_requests_with_credentials_and_407(
    socks5_server: SOCKS5Server, tls_origin, ca_file
) -> None:
    target = f"https://127.0.0.1:{tls_origin[1]}/"
    assert socks5_server.http_url.startswith("http://alice:s3cret@")
    with session() as s:
        assert s.get(target, proxies={"https": socks5_server.http_url}, verify=ca_file).ok
        wrong = socks5_server.url_for("http", username="alice", password="nope")
        with pytest.raises(requests.exceptions.ProxyError, match="407"):
            s.get(target, proxies={"https": wrong}, verify=ca_file)
    ok = socks5_server.assert_connected(authenticated=True, username="alice")
    assert ("Proxy-Authorization", "***") in ok.http_headers
    refused = ended(socks5_server, outcome=Outcome.AUTH_FAILED)
    assert refused.http_status == 407
    assert b"s3cret" not in refused.to_json().encode()


def test_http_answer_to_a_missing_password(socks5_server_factory, origin) -> None:
    server = socks5_server_factory(users={"alice": "s3cret"})
    with session() as s:
        response = s.get(
            f"http://127.0.0.1:{origin[1]}/", proxies={"http": server.url_for("http")}
        )
    assert response.status_code == 407
    assert response.headers["Proxy-Authenticate"] == 'Basic realm="pytest-socks5"'


# -- the same rules and faults ---------------------------------------------------------


def test_reply_with_connection_refused_is_502(socks5_server: SOCKS5Server, origin) -> None:
    socks5_server.add_fault(faults.ReplyWith(reply=Reply.CONNECTION_REFUSED))
    with session() as s:
        response = s.get(
            f"http://127.0.0.1:{origin[1]}/", proxies={"http": socks5_server.http_url}
        )
    assert response.status_code == 502
    record = ended(socks5_server, reply=Reply.CONNECTION_REFUSED)
    assert record.http_status == 502
    socks5_server.assert_not_connected(upstream_address=lambda a: a is not None)


def test_reply_with_an_http_status(socks5_server: SOCKS5Server, tls_origin, ca_file) -> None:
    socks5_server.add_fault(faults.ReplyWith(reply=Reply.TTL_EXPIRED, http_status=503))
    with session() as s, pytest.raises(requests.exceptions.ProxyError, match="503"):
        s.get(
            f"https://127.0.0.1:{tls_origin[1]}/",
            proxies={"https": socks5_server.http_url},
            verify=ca_file,
        )
    record = ended(socks5_server, reply=Reply.TTL_EXPIRED)
    assert record.http_status == 503
    assert record.error == "ReplyWith fault: HTTP 503 without dialling"  # what was sent


@pytest.mark.parametrize(
    ("reply", "status"),
    [
        (Reply.CONNECTION_REFUSED, 502),
        (Reply.HOST_UNREACHABLE, 502),
        (Reply.CONNECTION_NOT_ALLOWED, 403),
        (Reply.TTL_EXPIRED, 504),
    ],
)
def test_status_mapping(socks5_server: SOCKS5Server, origin, reply: int, status: int) -> None:
    socks5_server.add_fault(faults.ReplyWith(reply=reply))
    with session() as s:
        response = s.get(
            f"http://127.0.0.1:{origin[1]}/", proxies={"http": socks5_server.http_url}
        )
    assert response.status_code == status


def test_a_real_refusal_is_502_and_a_rule_403(socks5_server_factory) -> None:
    server = socks5_server_factory(hermetic=True, allow=["127.0.0.1"])
    with session() as s:
        proxies = {"http": server.http_url}
        with socket.socket() as bound:
            bound.bind(("127.0.0.1", 0))
            port = bound.getsockname()[1]
            refused = s.get(f"http://127.0.0.1:{port}/", proxies=proxies)
        denied = s.get("http://example.invalid/", proxies=proxies)
    assert (refused.status_code, denied.status_code) == (502, 403)
    ended(server, reply=Reply.CONNECTION_REFUSED, port=port)
    assert ended(server, host="example.invalid").denied_by is not None


def test_truncated_response_head(socks5_server: SOCKS5Server, tls_origin, ca_file) -> None:
    socks5_server.add_fault(faults.Truncate(length=12, at="reply"))
    # urllib3 reads the cut head as a broken tunnel: ProxyError or SSLError, by version.
    with session() as s, pytest.raises(requests.exceptions.ConnectionError):
        s.get(
            f"https://127.0.0.1:{tls_origin[1]}/",
            proxies={"https": socks5_server.http_url},
            verify=ca_file,
        )
    record = ended(socks5_server, protocol="http")
    assert record.message("http response") == b"HTTP/1.1 200"


def test_request_bytes_sent_with_connect_are_kept_in_order(socks5_server, echo_server) -> None:
    with socket.create_connection(socks5_server.address, timeout=5) as sock:
        authority = f"127.0.0.1:{echo_server[1]}"
        request = f"CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n\r\nearly"
        sock.sendall(request.encode())  # one write: the tunnel's first bytes ride along
        head = b""
        while b"\r\n\r\n" not in head:
            head += sock.recv(1024)
        answer, _, rest = head.partition(b"\r\n\r\n")
        assert answer == b"HTTP/1.1 200 Connection established"
        while len(rest) < 5:
            rest += sock.recv(1024)
    assert rest == b"early"


# -- httpx and aiohttp -----------------------------------------------------------------


def test_httpx_both_ways(socks5_server: SOCKS5Server, origin, tls_origin, ca_file) -> None:
    ctx = ssl.create_default_context(cafile=ca_file)
    with httpx.Client(proxy=socks5_server.http_url, trust_env=False, verify=ctx) as client:
        assert client.get(f"http://127.0.0.1:{origin[1]}/h").text == "hello from /h"
        assert client.get(f"https://127.0.0.1:{tls_origin[1]}/t").text == "hello from /t"
    socks5_server.assert_connected(protocol="http", port=origin[1])
    socks5_server.assert_connected(protocol="http", port=tls_origin[1])


@pytest.mark.socks5(users={"alice": "s3cret"})
def test_httpx_407_is_a_proxy_error(socks5_server: SOCKS5Server, tls_origin, ca_file) -> None:
    ctx = ssl.create_default_context(cafile=ca_file)
    proxy = socks5_server.url_for("http")
    with (
        httpx.Client(proxy=proxy, trust_env=False, verify=ctx) as client,
        pytest.raises(httpx.ProxyError, match="407"),
    ):
        client.get(f"https://127.0.0.1:{tls_origin[1]}/")


@pytest.mark.asyncio
async def test_aiohttp_proxy(socks5_server: SOCKS5Server, origin, tls_origin, ca_file) -> None:
    ctx = ssl.create_default_context(cafile=ca_file)
    async with aiohttp.ClientSession(trust_env=False) as client:
        async with client.get(
            f"http://127.0.0.1:{origin[1]}/x", proxy=socks5_server.http_url
        ) as response:
            assert await response.text() == "hello from /x"
        async with client.get(
            f"https://127.0.0.1:{tls_origin[1]}/y", proxy=socks5_server.http_url, ssl=ctx
        ) as response:
            assert await response.text() == "hello from /y"
    socks5_server.assert_connected(protocol="http", port=tls_origin[1])


@pytest.mark.asyncio
@pytest.mark.socks5(users={"alice": "s3cret"})
async def test_aiohttp_407(socks5_server: SOCKS5Server, tls_origin) -> None:
    async with aiohttp.ClientSession(trust_env=False) as client:
        with pytest.raises(aiohttp.ClientHttpProxyError) as raised:
            await client.get(
                f"https://127.0.0.1:{tls_origin[1]}/", proxy=socks5_server.url_for("http")
            )
    assert raised.value.status == 407


# -- curl --------------------------------------------------------------------------------


def curl(*args: str) -> subprocess.CompletedProcess[str]:
    assert CURL is not None
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    return subprocess.run(
        [CURL, "-sS", "--max-time", "10", "--noproxy", "", *args],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )


@needs_curl
@pytest.mark.socks5(users={"alice": "s3cret"})
def test_curl_proxy_user(
    socks5_server: SOCKS5Server, origin, tls_origin, ca_file: str, tmp_path: Path
) -> None:
    proxy = socks5_server.url_for("http")
    plain = curl("-x", proxy, "--proxy-user", "alice:s3cret", f"http://127.0.0.1:{origin[1]}/c")
    assert plain.stdout == "hello from /c"
    tls = curl(
        "-x", proxy, "--proxy-user", "alice:s3cret", "--cacert", ca_file,
        f"https://127.0.0.1:{tls_origin[1]}/d",
    )  # fmt: skip
    assert tls.stdout == "hello from /d"
    refused = curl("-x", proxy, "--cacert", ca_file, f"https://127.0.0.1:{tls_origin[1]}/")
    assert refused.returncode == 56
    assert "407" in refused.stderr
    socks5_server.assert_connected(protocol="http", username="alice", count=2)


# -- one port, two protocols -----------------------------------------------------------


def test_socks5_and_http_on_one_port(socks5_server: SOCKS5Server, origin, echo_server) -> None:
    with session() as s:
        response = s.get(
            f"http://127.0.0.1:{origin[1]}/", proxies={"http": socks5_server.http_url}
        )
    assert response.ok
    with open_tunnel(socks5_server.address, *echo_server) as sock:
        sock.sendall(b"ping")
        assert sock.recv(4) == b"ping"
    socks5_server.assert_connected(protocol="http", port=origin[1])
    socks5_server.assert_connected(protocol="socks5", port=echo_server[1])


def test_proxy_env_http(socks5_server: SOCKS5Server) -> None:
    with socks5_server.proxy_env(scheme="http") as url:
        assert url == socks5_server.http_url
        assert os.environ["HTTPS_PROXY"] == url
    assert socks5_server.http_url == f"http://127.0.0.1:{socks5_server.port}"


@pytest.mark.asyncio
@pytest.mark.socks5(users={"alice": "s3cret"})
async def test_websockets_407_is_its_proxy_error(socks5_server: SOCKS5Server, echo_server) -> None:
    from websockets.asyncio.client import connect
    from websockets.exceptions import InvalidMessage, ProxyError

    uri = f"ws://127.0.0.1:{echo_server[1]}/"
    with pytest.raises(ProxyError, match="407"):
        async with connect(uri, proxy=socks5_server.url_for("http")):
            pass
    # With credentials the tunnel opens; the echo server sends the handshake back, which
    # websockets refuses as a response: proof that its bytes went through.
    with pytest.raises(InvalidMessage):
        async with connect(uri, proxy=socks5_server.http_url):
            pass
    socks5_server.assert_connected(protocol="http", authenticated=True, reply=Reply.SUCCEEDED)


@pytest.mark.parametrize(
    ("fault", "error"),
    [
        (faults.Close(at="reply"), httpx.RemoteProtocolError),
        (faults.Truncate(at="reply", length=5), httpx.RemoteProtocolError),
        (faults.Stall(at="reply"), httpx.ReadTimeout),
    ],
)
def test_httpx_sees_a_cut_or_stalled_connect_head_as_the_docs_say(
    fault: faults.Fault, error: type[Exception]
) -> None:
    """docs/http-proxy.rst: a head closed or cut short is httpx's RemoteProtocolError, a
    stalled one its ReadTimeout."""
    sink = Sink(response=b"x")  # never reached: the CONNECT's head is the fault's
    with SOCKS5Server(host_map={"api.example.test": sink}, faults=[fault]) as server:
        url = server.http_url
        with pytest.raises(error):
            httpx.get("https://api.example.test/", proxy=url, timeout=0.5)
