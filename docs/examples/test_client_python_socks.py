"""Client page: python-socks, a connected socket or stream through the proxy."""

import asyncio

import anyio
import pytest
from python_socks import ProxyError
from python_socks.async_.anyio import Proxy as AnyioProxy
from python_socks.async_.asyncio import Proxy as AsyncioProxy
from python_socks.sync import Proxy

from pytest_socks5 import AddressType, Outcome

REQUEST = b"GET / HTTP/1.0\r\n\r\n"  # the server closes the connection after answering


def read_all(sock):
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


def test_a_socket_through_the_proxy(socks5_server, website):
    proxy = Proxy.from_url(socks5_server.url)

    with proxy.connect("localhost", website.port, timeout=5) as sock:
        sock.sendall(REQUEST)
        assert read_all(sock).endswith(b"hello from /")

    # python-socks leaves names to the proxy unless told rdns=False.
    socks5_server.assert_connected(address_type=AddressType.DOMAIN, host="localhost")


@pytest.mark.asyncio
async def test_asyncio(socks5_server, website):
    proxy = AsyncioProxy.from_url(socks5_server.url, rdns=False)

    sock = await proxy.connect("127.0.0.1", website.port, timeout=5)
    reader, writer = await asyncio.open_connection(sock=sock)
    writer.write(REQUEST)
    assert (await reader.read()).endswith(b"hello from /")
    writer.close()
    await writer.wait_closed()

    socks5_server.assert_connected(address_type=AddressType.IPV4, port=website.port)


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request):
    return request.param


@pytest.mark.anyio
async def test_anyio_on_asyncio_and_trio(socks5_server, website):
    proxy = AnyioProxy.from_url(socks5_server.url)

    async with await proxy.connect("localhost", website.port, timeout=5) as stream:
        await stream.send(REQUEST)
        with anyio.fail_after(5):
            response = b"".join([chunk async for chunk in stream])

    assert response.endswith(b"hello from /")
    socks5_server.assert_connected(host="localhost", port=website.port)


def test_no_socks5h_scheme(socks5_server):
    # python-socks knows socks5://, socks4:// and http://; rdns= chooses who resolves.
    with pytest.raises(ValueError, match="Invalid scheme"):
        Proxy.from_url(socks5_server.url_remote_dns)


@pytest.mark.socks5(users={"alice": "s3cret"})
def test_a_wrong_password(socks5_server, website):
    proxy = Proxy.from_url(socks5_server.url_for(username="alice", password="wrong"))

    with pytest.raises(ProxyError, match="authentication failure"):
        proxy.connect("127.0.0.1", website.port, timeout=5)

    socks5_server.assert_connected(outcome=Outcome.AUTH_FAILED)
