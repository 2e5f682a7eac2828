"""websockets through the proxy: its own ``proxy=`` argument (python-socks underneath) and
a socket from python-socks handed over with ``sock=``, asyncio and sync."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator

import pytest
from python_socks.async_.asyncio import Proxy as AsyncProxy
from python_socks.sync import Proxy as SyncProxy
from websockets.asyncio.client import connect as async_connect
from websockets.exceptions import ProxyError
from websockets.sync.client import connect as sync_connect
from websockets.sync.server import ServerConnection, serve

from pytest_socks5 import AddressType, Outcome, SOCKS5Server

TIMEOUT = 5.0


@pytest.fixture
def ws_port() -> Iterator[int]:
    """A WebSocket echo server on 127.0.0.1."""

    def echo(connection: ServerConnection) -> None:
        for message in connection:
            connection.send(message)

    with serve(echo, "127.0.0.1", 0) as server:
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        yield server.socket.getsockname()[1]
        server.shutdown()
        thread.join(TIMEOUT)


async def _echo_async(uri: str, **options: object) -> str:
    async with async_connect(uri, open_timeout=TIMEOUT, **options) as websocket:
        await websocket.send("ping")
        return str(await asyncio.wait_for(websocket.recv(), TIMEOUT))


@pytest.mark.parametrize(
    ("scheme", "host", "atyp"),
    [("socks5", "127.0.0.1", AddressType.IPV4), ("socks5h", "localhost", AddressType.DOMAIN)],
)
def test_proxy_argument(
    socks5_server: SOCKS5Server, ws_port: int, scheme: str, host: str, atyp: AddressType
) -> None:
    uri = f"ws://{host}:{ws_port}/"
    assert asyncio.run(_echo_async(uri, proxy=socks5_server.url_for(scheme))) == "ping"
    socks5_server.assert_connected(address_type=atyp, host=host, port=ws_port)
    (record,) = socks5_server.wait_for_connections(ended=True, timeout=TIMEOUT)
    assert record.bytes_from_client > len("ping")  # the upgrade request and the frame


def test_sock_from_python_socks(socks5_server: SOCKS5Server, ws_port: int) -> None:
    async def main() -> str:
        proxy = AsyncProxy.from_url(socks5_server.url)  # sends names: rdns defaults to True
        sock = await proxy.connect("localhost", ws_port, timeout=TIMEOUT)
        return await _echo_async(f"ws://localhost:{ws_port}/", sock=sock)

    assert asyncio.run(main()) == "ping"
    socks5_server.assert_connected(address_type=AddressType.DOMAIN, host="localhost")


def test_sync_client(socks5_server: SOCKS5Server, ws_port: int) -> None:
    uri = f"ws://127.0.0.1:{ws_port}/"
    with sync_connect(uri, proxy=socks5_server.url, open_timeout=TIMEOUT) as websocket:
        websocket.send("ping")
        assert websocket.recv(TIMEOUT) == "ping"
    sock = SyncProxy.from_url(socks5_server.url).connect("127.0.0.1", ws_port, timeout=TIMEOUT)
    with sync_connect(uri, sock=sock, open_timeout=TIMEOUT) as websocket:
        websocket.send("pong")
        assert websocket.recv(TIMEOUT) == "pong"
    socks5_server.assert_connected(count=2, port=ws_port, address_type=AddressType.IPV4)


@pytest.mark.parametrize(
    ("user", "password"),
    [("a@b:c", "p:w%d/#?"), ("ünï", "pässwörd")],
    ids=["url-delimiters", "non-ascii"],
)
def test_credentials(socks5_server_factory, ws_port: int, user: str, password: str) -> None:
    server = socks5_server_factory(users={user: password})
    uri = f"ws://127.0.0.1:{ws_port}/"
    if not user.isascii():
        # python-socks encodes credentials as ASCII; websockets wraps what it raises.
        with pytest.raises(ProxyError) as failed:
            asyncio.run(_echo_async(uri, proxy=server.url))
        assert isinstance(failed.value.__cause__, UnicodeEncodeError)
        server.assert_not_connected(authenticated=True)
        return
    assert asyncio.run(_echo_async(uri, proxy=server.url)) == "ping"
    record = server.assert_connected(authenticated=True)
    assert (record.raw_username, record.raw_password) == (user.encode(), password.encode())


@pytest.mark.socks5(users={"alice": "s3cret"})
def test_wrong_password(socks5_server: SOCKS5Server, ws_port: int) -> None:
    proxy = socks5_server.url_for(username="alice", password="wrong")
    with pytest.raises(ProxyError, match="failed to connect to SOCKS proxy"):
        asyncio.run(_echo_async(f"ws://127.0.0.1:{ws_port}/", proxy=proxy))
    socks5_server.wait_for_connections(outcome=Outcome.AUTH_FAILED, timeout=TIMEOUT)
