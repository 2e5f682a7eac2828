"""Client page: websockets, through its own proxy= argument or a python-socks socket."""

import pytest
from python_socks.async_.asyncio import Proxy
from websockets.asyncio.client import connect
from websockets.exceptions import ProxyError

from pytest_socks5 import AddressType, Outcome


@pytest.mark.asyncio
async def test_websockets_through_the_proxy(socks5_server, echo_server):
    async with connect(echo_server, proxy=socks5_server.url) as websocket:
        await websocket.send("hello")
        assert await websocket.recv() == "hello"

    socks5_server.assert_connected(address_type=AddressType.IPV4, host="127.0.0.1")


@pytest.mark.asyncio
async def test_a_socket_from_python_socks(socks5_server, echo_server):
    port = int(echo_server.rsplit(":", 1)[1].rstrip("/"))
    sock = await Proxy.from_url(socks5_server.url).connect("127.0.0.1", port, timeout=5)

    async with connect(echo_server, sock=sock) as websocket:
        await websocket.send("hello")
        assert await websocket.recv() == "hello"

    socks5_server.assert_connected(port=port)


@pytest.mark.asyncio
@pytest.mark.socks5(users={"alice": "s3cret"})
async def test_a_wrong_password(socks5_server, echo_server):
    proxy = socks5_server.url_for(username="alice", password="wrong")

    with pytest.raises(ProxyError, match="failed to connect to SOCKS proxy"):
        async with connect(echo_server, proxy=proxy):
            pass

    socks5_server.assert_connected(outcome=Outcome.AUTH_FAILED)
