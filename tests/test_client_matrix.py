"""Every client of the matrix through the fixture, the same checks for each.

For every client: an IP literal goes out as an address, a name goes out as a name when the
client is told to leave resolution to the proxy (``socks5h://``, ``rdns=True``), what the
plain ``socks5://`` URL does with a name, RFC 1929 credentials with URL delimiters and
with non-ASCII characters arrive as the exact bytes, and an IPv6 destination goes out as
ATYP 0x04. websockets, which needs a WebSocket server, has its own module.
"""

from __future__ import annotations

import asyncio
import errno
import shutil
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

import aiohttp_socks
import httpx
import pytest
import python_socks
import requests
import socks
import urllib3

from pytest_socks5 import AddressType, Outcome, SOCKS5Server

from .helpers import _Hello, _HTTPServer, _HTTPServer6, http_target, recv_all

TIMEOUT = 5.0
ROOT = Path(__file__).parent.parent
CURL = shutil.which("curl")
CURL_OPTIONS = ("--silent", "--show-error", "--max-time", "10", "--noproxy", "")


def _has_ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as sock:
            sock.bind(("::1", 0))
    except OSError:
        return False
    return True


HAS_IPV6 = _has_ipv6_loopback()


# -- how each client fetches a URL through a proxy ----------------------------------------


def _with_scheme(proxy: str, remote_dns: bool | None) -> str:
    """``socks5h://…`` for remote DNS, ``socks5://…`` otherwise (and by default)."""
    return proxy.replace("socks5://", "socks5h://", 1) if remote_dns else proxy


def _get_request(url: str) -> tuple[str, int, bytes]:
    parts = urlsplit(url)
    assert parts.hostname is not None
    assert parts.port is not None
    head = f"GET {parts.path} HTTP/1.1\r\nHost: {parts.netloc}\r\nConnection: close\r\n\r\n"
    return parts.hostname, parts.port, head.encode()


def _body(response: bytes) -> str:
    head, _, body = response.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200"), head
    return body.decode()


def fetch_requests(proxy: str, url: str, remote_dns: bool | None) -> str:
    proxy = _with_scheme(proxy, remote_dns)
    return requests.get(url, proxies={"http": proxy}, timeout=TIMEOUT).text


def fetch_urllib3(proxy: str, url: str, remote_dns: bool | None) -> str:
    from urllib3.contrib.socks import SOCKSProxyManager

    with SOCKSProxyManager(_with_scheme(proxy, remote_dns), timeout=TIMEOUT) as manager:
        return manager.request("GET", url).data.decode()


def fetch_pysocks(proxy: str, url: str, remote_dns: bool | None) -> str:
    import socks

    parts = urlsplit(proxy)
    host, port, request = _get_request(url)
    family = socket.AF_INET6 if parts.hostname and ":" in parts.hostname else socket.AF_INET
    with socks.socksocket(family) as sock:
        sock.settimeout(TIMEOUT)
        sock.set_proxy(
            socks.SOCKS5,
            parts.hostname,
            parts.port,
            rdns=bool(remote_dns),
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
        )
        sock.connect((host, port))
        sock.sendall(request)
        return _body(recv_all(sock))


def fetch_httpx(proxy: str, url: str, remote_dns: bool | None) -> str:
    with httpx.Client(proxy=_with_scheme(proxy, remote_dns), timeout=TIMEOUT) as client:
        return client.get(url).text


def fetch_httpx_socks(proxy: str, url: str, remote_dns: bool | None) -> str:
    from httpx_socks import SyncProxyTransport

    transport = SyncProxyTransport.from_url(proxy, rdns=remote_dns)
    with httpx.Client(transport=transport, timeout=TIMEOUT) as client:
        return client.get(url).text


def fetch_aiohttp(proxy: str, url: str, remote_dns: bool | None) -> str:
    import aiohttp
    from aiohttp_socks import ProxyConnector

    async def main() -> str:
        connector = ProxyConnector.from_url(proxy, rdns=remote_dns)
        timeout = aiohttp.ClientTimeout(total=TIMEOUT)
        async with (
            aiohttp.ClientSession(connector=connector, timeout=timeout) as session,
            session.get(url) as response,
        ):
            return await response.text()

    return asyncio.run(main())


def fetch_python_socks(proxy: str, url: str, remote_dns: bool | None) -> str:
    from python_socks.sync import Proxy

    host, port, request = _get_request(url)
    with Proxy.from_url(proxy, rdns=remote_dns).connect(host, port, timeout=TIMEOUT) as sock:
        sock.settimeout(TIMEOUT)
        sock.sendall(request)
        return _body(recv_all(sock))


def fetch_python_socks_asyncio(proxy: str, url: str, remote_dns: bool | None) -> str:
    from python_socks.async_.asyncio import Proxy

    host, port, request = _get_request(url)

    async def main() -> str:
        sock = await Proxy.from_url(proxy, rdns=remote_dns).connect(host, port, timeout=TIMEOUT)
        reader, writer = await asyncio.open_connection(sock=sock)
        try:
            writer.write(request)
            return _body(await asyncio.wait_for(reader.read(), TIMEOUT))
        finally:
            writer.close()
            await writer.wait_closed()

    return asyncio.run(main())


def fetch_curl(proxy: str, url: str, remote_dns: bool | None) -> str:
    assert CURL is not None
    result = subprocess.run(
        [CURL, *CURL_OPTIONS, "--proxy", _with_scheme(proxy, remote_dns), url],
        capture_output=True,
        text=True,
        timeout=20,
        env={"PATH": "/usr/bin:/bin"},
    )
    result.check_returncode()
    return result.stdout


@dataclass(frozen=True, kw_only=True)
class Client:
    name: str
    fetch: Callable[[str, str, bool | None], str]
    #: What the plain ``socks5://`` URL (no ``rdns``) sends for a name.
    default_sends_names: bool
    #: What it raises when the proxy rejects the password.
    auth_error: type[BaseException]
    #: Whether it can send RFC 1929 credentials that are not ASCII.
    non_ascii_credentials: bool = True
    #: Whether a failed handshake leaves a socket unclosed (a ResourceWarning): its
    #: failures are then provoked in a child process.
    leaks_on_failure: bool = False


CLIENTS = [
    Client(
        name="requests",
        fetch=fetch_requests,
        default_sends_names=False,
        auth_error=requests.exceptions.ConnectionError,
    ),
    Client(
        name="urllib3",
        fetch=fetch_urllib3,
        default_sends_names=False,
        auth_error=urllib3.exceptions.MaxRetryError,
    ),
    Client(
        name="pysocks",
        fetch=fetch_pysocks,
        default_sends_names=False,
        auth_error=socks.GeneralProxyError,
    ),
    Client(
        name="httpx",
        fetch=fetch_httpx,
        default_sends_names=True,
        auth_error=httpx.ProxyError,
        leaks_on_failure=True,  # httpcore's SOCKS connection is not closed when it fails
    ),
    Client(
        name="httpx-socks",
        fetch=fetch_httpx_socks,
        default_sends_names=True,
        auth_error=python_socks.ProxyError,
        non_ascii_credentials=False,
    ),
    Client(
        name="aiohttp-socks",
        fetch=fetch_aiohttp,
        default_sends_names=True,
        auth_error=aiohttp_socks.ProxyError,
        non_ascii_credentials=False,
    ),
    Client(
        name="python-socks",
        fetch=fetch_python_socks,
        default_sends_names=True,
        auth_error=python_socks.ProxyError,
        non_ascii_credentials=False,
    ),
    Client(
        name="python-socks-asyncio",
        fetch=fetch_python_socks_asyncio,
        default_sends_names=True,
        auth_error=python_socks.ProxyError,
        non_ascii_credentials=False,
    ),
    Client(
        name="curl",
        fetch=fetch_curl,
        default_sends_names=False,
        auth_error=subprocess.CalledProcessError,
    ),
]


def _params() -> list[object]:
    marks = {"curl": pytest.mark.skipif(CURL is None, reason="curl is not installed")}
    return [pytest.param(c, id=c.name, marks=marks.get(c.name, ())) for c in CLIENTS]


clients = pytest.mark.parametrize("client", _params())


# -- destinations ---------------------------------------------------------------------------


@contextmanager
def dual_stack_http() -> Iterator[int]:
    """An HTTP target on 127.0.0.1 and, where there is IPv6, on ::1 with the same port, so
    ``localhost`` works whichever address a client resolves it to."""
    if not HAS_IPV6:
        with http_target() as (_, port):
            yield port
        return
    for _ in range(20):
        v4 = _HTTPServer(("127.0.0.1", 0), _Hello)
        try:
            v6 = _HTTPServer6(("::1", v4.server_address[1]), _Hello)
        except OSError as exc:
            v4.server_close()
            if exc.errno != errno.EADDRINUSE:
                raise
            continue
        break
    else:
        raise RuntimeError("no port free on both 127.0.0.1 and ::1")
    threads = [
        threading.Thread(target=s.serve_forever, kwargs={"poll_interval": 0.005}, daemon=True)
        for s in (v4, v6)
    ]
    for thread in threads:
        thread.start()
    try:
        yield v4.server_address[1]
    finally:
        for server, thread in zip((v4, v6), threads, strict=True):
            server.shutdown()
            server.server_close()
            thread.join(TIMEOUT)


@pytest.fixture
def web_port() -> Iterator[int]:
    with dual_stack_http() as port:
        yield port


# -- the checks ---------------------------------------------------------------------------


@clients
def test_an_ip_literal_goes_out_as_an_address(
    client: Client, socks5_server: SOCKS5Server, web_port: int
) -> None:
    body = client.fetch(socks5_server.url, f"http://127.0.0.1:{web_port}/ip", None)
    assert body == "hello from /ip"
    record = socks5_server.assert_connected(address_type=AddressType.IPV4, port=web_port)
    assert record.raw_address == b"\x7f\x00\x00\x01"


@clients
def test_remote_dns_sends_the_name(
    client: Client, socks5_server: SOCKS5Server, web_port: int
) -> None:
    body = client.fetch(socks5_server.url, f"http://localhost:{web_port}/name", True)
    assert body == "hello from /name"
    record = socks5_server.assert_connected(address_type=AddressType.DOMAIN, port=web_port)
    assert record.raw_address == b"localhost"


@clients
def test_what_a_plain_socks5_url_does_with_a_name(
    client: Client, socks5_server: SOCKS5Server, web_port: int
) -> None:
    body = client.fetch(socks5_server.url, f"http://localhost:{web_port}/default", None)
    assert body == "hello from /default"
    (record,) = socks5_server.connections
    if client.default_sends_names:
        assert record.address_type == AddressType.DOMAIN
        assert record.host == "localhost"
    else:
        assert record.address_type in (AddressType.IPV4, AddressType.IPV6)
        assert record.host in ("127.0.0.1", "::1")


@clients
@pytest.mark.parametrize(
    ("user", "password"),
    [("a@b:c", "p:w%d/#?"), ("ünï", "pässwörd")],
    ids=["url-delimiters", "non-ascii"],
)
def test_credentials_arrive_as_the_exact_bytes(
    client: Client, socks5_server_factory, web_port: int, user: str, password: str
) -> None:
    server = socks5_server_factory(users={user: password})
    url = f"http://127.0.0.1:{web_port}/auth"
    if not user.isascii() and not client.non_ascii_credentials:
        # python-socks encodes RFC 1929 credentials as ASCII (RFC 1929 allows any bytes).
        with pytest.raises(UnicodeEncodeError):
            client.fetch(server.url, url, None)
        server.assert_not_connected(authenticated=True)
        return
    assert client.fetch(server.url, url, None) == "hello from /auth"
    record = server.assert_connected(authenticated=True)
    assert record.raw_username == user.encode()
    assert record.raw_password == password.encode()


@clients
@pytest.mark.socks5(users={"alice": "s3cret"})
def test_a_wrong_password_fails_and_is_recorded(
    client: Client, socks5_server: SOCKS5Server, web_port: int
) -> None:
    proxy = socks5_server.url_for(username="alice", password="wrong")
    url = f"http://127.0.0.1:{web_port}/"
    if client.leaks_on_failure:
        assert _error_in_a_child(client, proxy, url) == _qualified(client.auth_error)
    else:
        with pytest.raises(client.auth_error):
            client.fetch(proxy, url, None)
    record = socks5_server.wait_for_connections(outcome=Outcome.AUTH_FAILED, timeout=TIMEOUT)[0]
    assert record.raw_password == b"wrong"
    socks5_server.assert_not_connected(authenticated=True)


def _qualified(cls: type[BaseException]) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def _error_in_a_child(client: Client, proxy: str, url: str) -> str:
    """What ``client.fetch`` raises, run in a child process that may leak what it likes."""
    code = (
        "import sys\n"
        "from tests.test_client_matrix import CLIENTS\n"
        f"(client,) = [c for c in CLIENTS if c.name == {client.name!r}]\n"
        "try:\n"
        f"    client.fetch({proxy!r}, {url!r}, None)\n"
        "except BaseException as exc:\n"
        "    print(f'{type(exc).__module__}.{type(exc).__qualname__}')\n"
    )
    child = subprocess.run(
        [sys.executable, "-W", "ignore::ResourceWarning", "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert child.returncode == 0, child.stderr
    return child.stdout.strip()


@clients
@pytest.mark.skipif(not HAS_IPV6, reason="no IPv6 loopback")
def test_an_ipv6_destination_goes_out_as_atyp_4(
    client: Client, socks5_server: SOCKS5Server, web_port: int
) -> None:
    body = client.fetch(socks5_server.url, f"http://[::1]:{web_port}/v6", None)
    assert body == "hello from /v6"
    record = socks5_server.assert_connected(address_type=AddressType.IPV6, host="::1")
    assert record.raw_address == socket.inet_pton(socket.AF_INET6, "::1")


@clients
@pytest.mark.skipif(not HAS_IPV6, reason="no IPv6 loopback")
@pytest.mark.socks5(host="::1")
def test_a_proxy_on_ipv6_loopback(
    client: Client, socks5_server: SOCKS5Server, web_port: int
) -> None:
    assert socks5_server.url.startswith("socks5://[::1]:")
    body = client.fetch(socks5_server.url, f"http://127.0.0.1:{web_port}/via6", None)
    assert body == "hello from /via6"
    record = socks5_server.assert_connected(port=web_port)
    assert record.client_address[0] == "::1"
