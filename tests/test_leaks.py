"""DNS leaks and proxy bypasses seen from the client side: the audit hook, the lists and
assertions on ``socks5_server``, and the leak guard failing a test at teardown (through
pytester, as users run it). Every name here is ``localhost`` or a loopback literal."""

from __future__ import annotations

import asyncio
import socket

import httpx
import pytest
import requests

from pytest_socks5 import Command, SOCKS5Server, _leak_hook
from pytest_socks5._leaks import LeakError, LeakLog

from .helpers import TIMEOUT, connect, http_target, recv_exactly, socks5_request
from .peers import GREETING, read_reply, reply_address
from .test_plugin import INI

#: A loopback HTTP server on 127.0.0.1 and ::1 with one port, so that ``localhost``
#: works whichever address a client resolves it to.
WEBSITE = """
import errno, http.server, socket, threading, pytest

class Hello(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", "5")
        self.end_headers()
        self.wfile.write(b"hello")
    def log_message(self, *args):
        pass

class V4(http.server.ThreadingHTTPServer):
    daemon_threads = True

class V6(V4):
    address_family = socket.AF_INET6

def bind_both():
    for _ in range(20):
        v4 = V4(("127.0.0.1", 0), Hello)
        try:
            return [v4, V6(("::1", v4.server_address[1]), Hello)]
        except OSError as exc:
            v4.server_close()
            if exc.errno != errno.EADDRINUSE:
                return [V4(("127.0.0.1", 0), Hello)]
    raise RuntimeError("no port free on both loopback addresses")

@pytest.fixture
def website():
    servers = bind_both()
    threads = [threading.Thread(target=s.serve_forever, kwargs={"poll_interval": 0.005})
               for s in servers]
    for t in threads:
        t.start()
    yield servers[0].server_address[1]
    for s, t in zip(servers, threads):
        s.shutdown()
        s.server_close()
        t.join(5)
"""


@pytest.fixture
def pytester(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makeini(INI)
    pytester.makeconftest(WEBSITE)
    return pytester


def _run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest("-p", "no:cacheprovider", "-p", "no:randomly", *args)


# -- the guard, as users run it ---------------------------------------------------------------

GUARDED = """
import pytest, requests

@pytest.mark.socks5(leak_guard=True)
def test_socks5(socks5_server, website):
    proxies = {"http": socks5_server.url}
    requests.get(f"http://localhost:{website}/", proxies=proxies, timeout=5)

@pytest.mark.socks5(leak_guard=True)
def test_socks5h(socks5_server, website):
    proxies = {"http": socks5_server.url_remote_dns}
    assert requests.get(f"http://localhost:{website}/", proxies=proxies, timeout=5).ok

@pytest.mark.socks5(leak_guard=True)
def test_without_the_proxy(socks5_server, website):
    session = requests.Session()
    session.trust_env = False
    assert session.get(f"http://127.0.0.1:{website}/", timeout=5).ok
"""


def test_the_guard_fails_a_dns_leak_and_a_bypass_at_teardown_and_passes_socks5h(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(test_guarded=GUARDED)
    result = _run(pytester)
    result.assert_outcomes(passed=3, errors=2)
    out = result.stdout.str()
    result.stdout.fnmatch_lines(
        [
            "*ERROR at teardown of test_socks5 *",
            "*pytest-socks5 leak guard: DNS leak: 1 name lookup(s)*",
            "*socket.getaddrinfo('localhost', *) at *test_guarded.py:6 in test_socks5 *",
            "*cause: *use socks5h://*",
        ]
    )
    result.stdout.fnmatch_lines(
        [
            "*ERROR at teardown of test_without_the_proxy *",
            "*proxy bypass: 1 connect(s) to somewhere other than a proxy of the test:*",
            "*socket.connect(('127.0.0.1', *)) at *test_guarded.py:17 in test_without_the_proxy*",
            "*cause: *NO_PROXY*",
        ]
    )
    assert "ERROR at teardown of test_socks5h" not in out


def test_the_transcript_of_a_guarded_failure_lists_the_leaks(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_guarded=GUARDED)
    result = _run(pytester, "-k", "test_socks5 and not socks5h")
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(
        [
            "*socks5 transcript teardown*",
            "socks5_server at socks5://127.0.0.1:*: 1 connection(s)",
            "*",
            "client leaks (seen by the audit hook):",
            "DNS leak: 1 name lookup(s)*",
            "  socket.getaddrinfo('localhost', *",
        ],
        consecutive=False,
    )


UNGUARDED = """
import socket, requests

def test_a_leak_and_a_bypass(socks5_server, website):
    proxies = {"http": socks5_server.url}
    assert requests.get(f"http://localhost:{website}/", proxies=proxies, timeout=5).ok
    with socket.create_connection(("127.0.0.1", website), timeout=5):
        pass

def test_no_proxy_at_all(website):
    with socket.create_connection(("localhost", website), timeout=5):
        pass
"""


def test_an_unguarded_suite_behaves_as_before(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_unguarded=UNGUARDED)
    result = _run(pytester, "-rA")
    result.assert_outcomes(passed=2)
    assert "leak guard" not in result.stdout.str()
    assert "client leaks" not in result.stdout.str()


@pytest.mark.parametrize(
    ("how", "args"),
    [("flag", ["--socks5-leak-guard"]), ("ini", [])],
)
def test_the_flag_and_the_ini_option_guard_every_proxy_using_test(
    pytester: pytest.Pytester, how: str, args: list[str]
) -> None:
    if how == "ini":
        pytester.makeini(INI + "socks5_leak_guard = true\n")
    pytester.makepyfile(test_unguarded=UNGUARDED)
    result = _run(pytester, *args)
    # Only the test that uses a proxy fixture is watched.
    result.assert_outcomes(passed=2, errors=1)
    result.stdout.fnmatch_lines(["*ERROR at teardown of test_a_leak_and_a_bypass*"])


def test_a_marker_turns_the_guard_off_or_allows_what_the_test_expects(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        test_allowed="""
        import pytest, socket

        @pytest.mark.socks5(leak_guard=False)
        def test_off(socks5_server, website):
            socket.create_connection(("127.0.0.1", website), timeout=5).close()

        @pytest.mark.socks5(leak_guard={"allow": ["127.0.0.1", "localhost"]})
        def test_allowed(socks5_server, website):
            socket.create_connection(("localhost", website), timeout=5).close()
            socket.getaddrinfo("localhost", website)
            assert len(socks5_server.direct_connections) == 1
            socks5_server.assert_no_bypass()
            socks5_server.assert_no_local_dns()
        """
    )
    result = _run(pytester, "--socks5-leak-guard")
    result.assert_outcomes(passed=2)


def test_a_proxy_made_in_the_test_body_is_watched_from_then_on(pytester: pytest.Pytester) -> None:
    """The guard does not wait for a server a fixture made before the body: one made in it
    (``socks5_server_factory()``, ``request.getfixturevalue``) starts the recording, and
    the guard gives its verdict at teardown as for any other."""
    pytester.makepyfile(
        test_in_body="""
        import pytest, requests, socket

        @pytest.mark.socks5(leak_guard=True)
        def test_factory(socks5_server_factory, website):
            socks5_server_factory()
            socket.create_connection(("127.0.0.1", website), timeout=5).close()

        @pytest.mark.socks5(leak_guard=True)
        def test_getfixturevalue(request, website):
            request.getfixturevalue("socks5_server")
            socket.create_connection(("127.0.0.1", website), timeout=5).close()

        @pytest.mark.socks5(leak_guard=True)
        def test_through_the_proxy(socks5_server_factory, website):
            proxy = socks5_server_factory()
            proxies = {"http": proxy.url_remote_dns}
            assert requests.get(f"http://localhost:{website}/", proxies=proxies, timeout=5).ok
            assert proxy.direct_connections == []

        def test_unguarded_lists_it(request, website):
            server = request.getfixturevalue("socks5_server")
            socket.create_connection(("127.0.0.1", website), timeout=5).close()
            assert [leak.port for leak in server.direct_connections] == [website]
        """
    )
    result = _run(pytester)
    result.assert_outcomes(passed=4, errors=2)
    for test, line in (("test_factory", 6), ("test_getfixturevalue", 11)):
        result.stdout.fnmatch_lines(
            [
                f"*ERROR at teardown of {test} *",
                "*pytest-socks5 leak guard: proxy bypass: 1 connect(s)*",
                f"*socket.connect(('127.0.0.1', *)) at *test_in_body.py:{line} in {test} *",
            ]
        )
    assert "ERROR at teardown of test_through_the_proxy" not in result.stdout.str()


def test_a_bad_leak_guard_errors_the_test_at_setup(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.socks5(leak_guard="yes")
        def test_kind(socks5_server):
            pass

        @pytest.mark.socks5(leak_guard={"allow": ["a:b:c:d/9"], "deny": []})
        def test_key(socks5_server):
            pass
        """
    )
    result = _run(pytester)
    result.assert_outcomes(errors=2)
    lines = result.stdout.lines
    expected = "@pytest.mark.socks5: leak_guard must be True, False or {'allow': [patterns]}"
    assert f"{expected}, got 'yes' (str)" in lines
    assert f"{expected}, got {{'allow': ['a:b:c:d/9'], 'deny': []}}: unknown key(s) deny" in lines


# -- on demand, in this process ---------------------------------------------------------------


def test_socks5_lookups_are_listed_and_asserted_with_the_test_frame(
    socks5_server: SOCKS5Server,
) -> None:
    with http_target() as (_, port):
        proxies = {"http": socks5_server.url}
        assert requests.get(f"http://localhost:{port}/", proxies=proxies, timeout=5).ok

    (lookup,) = socks5_server.local_lookups
    assert (lookup.call, lookup.host, lookup.port) == ("socket.getaddrinfo", "localhost", port)
    assert lookup.where is not None
    assert lookup.where.startswith(f"{__file__}:")
    assert lookup.where.endswith(
        " in test_socks5_lookups_are_listed_and_asserted_with_the_test_frame"
    )
    assert socks5_server.direct_connections == []
    with pytest.raises(LeakError, match=r"socket.getaddrinfo\('localhost', \d+, "):
        socks5_server.assert_no_local_dns()
    with pytest.raises(LeakError, match="localhost"):
        socks5_server.assert_no_local_dns(host="LOCALHOST.")
    socks5_server.assert_no_local_dns(host="example.test")
    socks5_server.assert_no_bypass()


@pytest.mark.socks5(leak_guard=True)
def test_socks5h_leaves_the_name_to_the_proxy(socks5_server: SOCKS5Server) -> None:
    with http_target() as (_, port):
        proxies = {"http": socks5_server.url_remote_dns}
        assert requests.get(f"http://localhost:{port}/", proxies=proxies, timeout=5).ok

    socks5_server.assert_connected(host="localhost", port=port)
    # The proxy looked localhost up on its own threads; none of that is the client's.
    assert socks5_server.local_lookups == []
    assert socks5_server.direct_connections == []


def test_an_async_httpx_client_is_covered(socks5_server: SOCKS5Server) -> None:
    async def fetch(port: int) -> None:
        async with httpx.AsyncClient(proxy=socks5_server.url) as proxied:
            assert (await proxied.get(f"http://localhost:{port}/")).text == "hello from /"
        socks5_server.assert_no_local_dns()
        socks5_server.assert_no_bypass()
        async with httpx.AsyncClient(trust_env=False) as direct:
            assert (await direct.get(f"http://127.0.0.1:{port}/")).text == "hello from /"

    with http_target() as (_, port):
        asyncio.run(fetch(port))

    (connect,) = socks5_server.direct_connections
    assert (connect.call, connect.host, connect.port) == ("socket.connect", "127.0.0.1", port)
    assert connect.where is not None
    # anyio connects in a task of its own: the nearest frame of ours is asyncio.run(...).
    assert connect.where.endswith(" in test_an_async_httpx_client_is_covered")
    with pytest.raises(LeakError, match=rf"socket.connect\(\('127.0.0.1', {port}\)\)"):
        socks5_server.assert_no_bypass()


@pytest.mark.socks5(leak_guard={"allow": ["127.0.0.1"]})
def test_a_guarded_test_with_an_allowed_connect_passes(socks5_server: SOCKS5Server) -> None:
    with http_target() as (_, port), socket.create_connection(("127.0.0.1", port), timeout=5):
        pass
    assert [c.port for c in socks5_server.direct_connections] == [port]
    socks5_server.assert_no_bypass()


def test_connects_to_the_proxy_and_its_own_name_are_not_leaks(
    socks5_server: SOCKS5Server,
) -> None:
    with socket.create_connection(socks5_server.address, timeout=5):
        pass
    socket.getaddrinfo(socks5_server.host, socks5_server.port)
    assert socks5_server.local_lookups == []
    assert socks5_server.direct_connections == []


def test_the_hook_records_nothing_for_a_test_without_a_proxy_fixture() -> None:
    assert _leak_hook.current() is None
    with http_target() as (_, port), socket.create_connection(("localhost", port), timeout=5):
        pass
    assert _leak_hook.current() is None


def test_outside_a_proxy_using_test_asking_is_an_error() -> None:
    server = SOCKS5Server()
    with pytest.raises(RuntimeError, match="socks5_server, socks5_proxy_env"):
        _ = server.local_lookups
    with pytest.raises(RuntimeError, match="no leak record"):
        server.assert_no_bypass()


def test_a_name_passed_to_connect_is_a_lookup_and_a_connect() -> None:
    log = LeakLog()
    _leak_hook.start(log)
    try:
        with http_target() as (_, port):
            socket.create_connection(("127.0.0.1", port), timeout=5).close()
            with socket.socket() as plain:
                plain.settimeout(5)
                plain.connect(("localhost", port))
    finally:
        _leak_hook.stop()
    detail = [(one.kind, one.call, one.host) for one in log.lookups + log.connections]
    assert detail == [
        ("lookup", "socket.connect", "localhost"),
        ("connect", "socket.connect", "127.0.0.1"),
        ("connect", "socket.connect", "localhost"),
    ]


def _udp_associate(proxy: tuple[str, int]) -> tuple[socket.socket, tuple[str, int]]:
    control = connect(proxy)
    control.sendall(GREETING + socks5_request("0.0.0.0", 0, command=Command.UDP_ASSOCIATE))
    assert recv_exactly(control, 2) == b"\x05\x00"
    return control, reply_address(read_reply(control))


@pytest.mark.socks5(leak_guard=True, bind_timeout=5)
def test_connects_to_an_open_bind_or_udp_address_of_the_proxy_are_not_bypasses(
    socks5_server: SOCKS5Server,
) -> None:
    """The proxy tells a UDP client where to send its datagrams and a BIND client where
    its peer must connect: both are the proxy's own addresses, so a UDP socket connected
    to the relay, or a peer the test plays, goes through the proxy."""
    control, relay = _udp_associate(socks5_server.address)
    with control, socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        udp.connect(relay)  # as a client that sends with send() does
    with connect(socks5_server.address) as bind_control:
        bind_control.sendall(GREETING + socks5_request("127.0.0.1", 0, command=Command.BIND))
        assert recv_exactly(bind_control, 2) == b"\x05\x00"
        listening = reply_address(read_reply(bind_control))
        socket.create_connection(listening, timeout=TIMEOUT).close()  # the peer
        read_reply(bind_control)
    assert socks5_server.direct_connections == []


def test_an_ended_associations_address_is_no_proxys(socks5_server: SOCKS5Server) -> None:
    control, relay = _udp_associate(socks5_server.address)
    control.close()
    socks5_server.wait_for_connections(1, ended=True)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        udp.connect(relay)
    assert [c.port for c in socks5_server.direct_connections] == [relay[1]]
