"""The fixtures and ``async with SOCKS5Server()`` under every test runner a suite may use:
plain sync tests, pytest-asyncio (strict and auto modes, function/module/session loops),
anyio (asyncio and trio backends), pytest-xdist, and without pytest-asyncio at all."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import anyio
import httpx
import pytest
from python_socks.async_.anyio import Proxy as AnyioProxy

from pytest_socks5 import AddressType, SOCKS5Server

from .helpers import PYTESTER_ECHO_CONFTEST, TWO_WORKERS, http_target

ROOT = Path(__file__).parent.parent
SCOPES = ("function", "module", "session")

# -- anyio, in this suite: the same test on asyncio and on trio ---------------------------


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def web() -> Iterator[str]:
    with http_target() as (host, port):
        yield f"http://{host}:{port}"


@pytest.mark.anyio
async def test_anyio_httpx(socks5_server: SOCKS5Server, web: str) -> None:
    async with httpx.AsyncClient(proxy=socks5_server.url) as client:
        response = await client.get(web + "/anyio")
    assert response.text == "hello from /anyio"
    socks5_server.assert_connected(port=int(web.rsplit(":", 1)[1]))


@pytest.mark.anyio
async def test_anyio_python_socks(socks5_server: SOCKS5Server, web: str) -> None:
    port = int(web.rsplit(":", 1)[1])
    stream = await AnyioProxy.from_url(socks5_server.url).connect("localhost", port, timeout=5)
    data = b""
    async with stream:
        await stream.send(b"GET /raw HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        with anyio.fail_after(5):
            async for chunk in stream:
                data += chunk
    assert data.endswith(b"hello from /raw")
    socks5_server.assert_connected(address_type=AddressType.DOMAIN, host="localhost")


@pytest.mark.anyio
async def test_anyio_with_a_server_of_its_own(web: str) -> None:
    # A threaded server works under both backends; starting it blocks for a moment only.
    with SOCKS5Server() as proxy:
        async with httpx.AsyncClient(proxy=proxy.url) as client:
            assert (await client.get(web + "/own")).status_code == 200
    proxy.assert_connected(count=1)


@pytest.mark.anyio
async def test_async_with_needs_an_asyncio_loop(anyio_backend: str, web: str) -> None:
    if anyio_backend == "trio":
        with pytest.raises(RuntimeError, match="there is none"):
            async with SOCKS5Server():
                pass
        return
    async with SOCKS5Server() as proxy, httpx.AsyncClient(proxy=proxy.url) as client:
        assert (await client.get(web + "/loop")).text == "hello from /loop"
    proxy.assert_connected(count=1)


# -- pytest-asyncio, through pytester --------------------------------------------------------

CONFTEST = (
    PYTESTER_ECHO_CONFTEST
    + """
import asyncio

async def roundtrip(proxy, target):
    \"\"\"A SOCKS5 CONNECT to the echo server through the proxy, in the running loop.\"\"\"
    host, port = target
    reader, writer = await asyncio.open_connection(*proxy)
    try:
        writer.write(b"\\x05\\x01\\x00\\x05\\x01\\x00\\x01" + socket.inet_aton(host)
                     + port.to_bytes(2, "big"))
        head = await asyncio.wait_for(reader.readexactly(12), 5)
        assert head[:4] == b"\\x05\\x00\\x05\\x00", head
        writer.write(b"ping")
        assert await asyncio.wait_for(reader.readexactly(4), 5) == b"ping"
    finally:
        writer.close()
        await writer.wait_closed()
"""
)

STRICT_MODULE = """
import pytest, pytest_asyncio
from pytest_socks5 import SOCKS5Server
from conftest import roundtrip

pytestmark = pytest.mark.asyncio(loop_scope="{scope}")

@pytest_asyncio.fixture(scope="{scope}", loop_scope="{scope}")
async def own_proxy():
    async with SOCKS5Server() as proxy:
        yield proxy

async def test_fixture(socks5_server, echo):
    await roundtrip(socks5_server.address, echo)
    socks5_server.assert_connected(port=echo[1], count=1)

async def test_async_with(own_proxy, echo):
    await roundtrip(own_proxy.address, echo)
    own_proxy.assert_connected(port=echo[1])

async def test_async_with_again(own_proxy, echo):
    await roundtrip(own_proxy.address, echo)
    assert len(own_proxy.connections) == (1 if "{scope}" == "function" else 2)
"""

AUTO_MODULE = """
import pytest
from pytest_socks5 import SOCKS5Server
from conftest import roundtrip

@pytest.fixture(scope="{scope}")
async def own_proxy():
    async with SOCKS5Server() as proxy:
        yield proxy

async def test_fixture(socks5_server, echo):
    await roundtrip(socks5_server.address, echo)
    socks5_server.assert_connected(port=echo[1], count=1)

async def test_async_with(own_proxy, echo):
    await roundtrip(own_proxy.address, echo)
    own_proxy.assert_connected(port=echo[1])
"""


def _no_warnings(result: pytest.RunResult) -> None:
    output = result.stdout.str()
    assert "warning" not in output.lower(), output


@pytest.fixture
def asyncio_project(pytester: pytest.Pytester) -> pytest.Pytester:
    pytest.importorskip("pytest_asyncio")
    pytester.makeconftest(CONFTEST)
    return pytester


def test_pytest_asyncio_strict_mode_every_loop_scope(asyncio_project: pytest.Pytester) -> None:
    asyncio_project.makeini(
        "[pytest]\nasyncio_mode = strict\nasyncio_default_fixture_loop_scope = function\n"
    )
    asyncio_project.makepyfile(
        **{f"test_{scope}_loop": STRICT_MODULE.format(scope=scope) for scope in SCOPES}
    )
    result = asyncio_project.runpytest("-p", "no:cacheprovider", "-W", "error")
    result.assert_outcomes(passed=3 * len(SCOPES))
    _no_warnings(result)


@pytest.mark.parametrize("scope", SCOPES)
def test_pytest_asyncio_auto_mode(asyncio_project: pytest.Pytester, scope: str) -> None:
    asyncio_project.makeini(
        "[pytest]\nasyncio_mode = auto\n"
        f"asyncio_default_fixture_loop_scope = {scope}\n"
        f"asyncio_default_test_loop_scope = {scope}\n"
    )
    asyncio_project.makepyfile(test_auto=AUTO_MODULE.format(scope=scope))
    result = asyncio_project.runpytest("-p", "no:cacheprovider", "-W", "error")
    result.assert_outcomes(passed=2)
    _no_warnings(result)


def test_pytest_asyncio_under_xdist(asyncio_project: pytest.Pytester) -> None:
    pytest.importorskip("xdist")
    asyncio_project.makeini(
        "[pytest]\nasyncio_mode = strict\nasyncio_default_fixture_loop_scope = function\n"
    )
    asyncio_project.makepyfile(
        **{f"test_{scope}_loop": STRICT_MODULE.format(scope=scope) for scope in SCOPES}
    )
    # loadfile: each module on one worker, so a module-scoped server serves both its tests.
    # The controller runs in this process; the tests, in two worker processes.
    result = asyncio_project.runpytest(
        "-p", "no:cacheprovider", *TWO_WORKERS, "--dist", "loadfile"
    )
    result.assert_outcomes(passed=3 * len(SCOPES))


# -- without pytest-asyncio -----------------------------------------------------------------

ANYIO_PROJECT = """
import anyio, socket, pytest

@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request):
    return request.param

@pytest.fixture
def echo():
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(5)
    yield listener
    listener.close()

@pytest.mark.anyio
async def test_anyio(socks5_server, echo):
    host, port = echo.getsockname()
    async with await anyio.connect_tcp(*socks5_server.address) as stream:
        await stream.send(b"\\x05\\x01\\x00\\x05\\x01\\x00\\x01" + socket.inet_aton(host)
                          + port.to_bytes(2, "big"))
        reply = b""
        with anyio.fail_after(5):
            while len(reply) < 4:
                reply += await stream.receive()
    assert reply[:4] == b"\\x05\\x00\\x05\\x00"
    socks5_server.assert_connected(port=port)

def test_sync(socks5_server):
    with socket.create_connection(socks5_server.address, timeout=5) as sock:
        sock.sendall(b"\\x05\\x01\\x00")
        assert sock.recv(2) == b"\\x05\\x00"
    socks5_server.wait_for_connections(1, ended=True)
"""


def test_a_project_without_pytest_asyncio(pytester: pytest.Pytester) -> None:
    """No pytest-asyncio: the plugin loads, sync and anyio tests pass, nothing warns."""
    pytester.makepyfile(test_no_asyncio=ANYIO_PROJECT)
    result = pytester.runpytest("-p", "no:asyncio", "-p", "no:cacheprovider", "-W", "error")
    result.assert_outcomes(passed=3)
    _no_warnings(result)
    assert "asyncio" not in result.stdout.str().split("plugins:", 1)[-1].split("\n", 1)[0]


def test_this_suite_without_pytest_asyncio() -> None:
    """A representative part of this project's suite, run without pytest-asyncio: the
    tests that need it are skipped with the reason, the rest pass, and nothing warns."""
    part = [
        "tests/test_async_server.py",
        "tests/test_client_websockets.py",
        "docs/examples/test_tutorial.py",
        "docs/examples/test_servers.py",
        "tests/test_runners.py::test_anyio_httpx",
    ]
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:asyncio", "-p", "no:cacheprovider", *part],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    summary = result.stdout.strip().splitlines()[-1]
    assert re.fullmatch(r"=* \d+ passed, 7 skipped in .*", summary), summary
    assert result.stdout.count("needs pytest-asyncio, which is not installed") == 7
    assert "warning" not in result.stdout.lower(), result.stdout
