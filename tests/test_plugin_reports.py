"""What a user sees when a proxied test fails: assertion messages and the transcript
section, its options, and the JSON record files — through pytester, as users run it."""

from __future__ import annotations

import gc
import json
import re
import shutil
import warnings

import pytest

from pytest_socks5 import ConnectionRecord, Outcome

from .test_plugin import INI

WEBSITE = """
import http.server, threading, pytest

class Hello(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        body = b"hello"
        self.send_response(200)
        self.send_header("Content-Length", "5")
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass

@pytest.fixture
def website():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hello)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.005})
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()
    thread.join(5)

@pytest.fixture
def refused_port():
    import socket
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]

@pytest.fixture(autouse=True)
def no_proxy_environment(monkeypatch):
    for name in ("ALL_PROXY", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
"""


@pytest.fixture
def pytester(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makeini(INI)
    pytester.makeconftest(WEBSITE)
    return pytester


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    # In-process: a subprocess pays pytest's start-up, seconds under coverage, each run
    # (requests is imported by tests/conftest.py, so that it survives such runs).
    try:
        return pytester.runpytest("-p", "no:cacheprovider", "-p", "no:randomly", *args)
    finally:
        # The inner tests' clients fail on purpose, and PySocks leaves the socket of a
        # failed SOCKS negotiation to the garbage collector: collect it now, as the inner
        # run's, not as an unraisable warning in whatever test this worker runs next.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ResourceWarning)
            gc.collect()


# -- the must-shows ----------------------------------------------------------------------


def test_a_failing_assert_connected_shows_the_cause(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import requests

        def test_api_call(socks5_server, website):
            requests.get(f"http://localhost:{website}/v1", proxies={"http": socks5_server.url}, timeout=5)
            socks5_server.assert_connected(host="localhost", port=website)
        """
    )
    result = run(pytester)
    result.assert_outcomes(failed=1)
    # The assertion: what it looked for, then what happened, field by field.
    result.stdout.fnmatch_lines(
        [
            "E*NoMatchingConnection: expected a connection matching host='localhost', port=*",
            "E*1 connection(s) were recorded, closest first:",
            "E*#1 127.0.0.1:* SOCKS5 CONNECT 127.0.0.1:* (ATYP 0x01 (IPV4)) → REP 0x00 (SUCCEEDED) *",
            "E*differs: host='127.0.0.1' (wanted 'localhost')",
        ]
    )
    # The transcript: the request as decoded and as bytes, the reply, how it ended.
    result.stdout.fnmatch_lines(
        [
            "*- socks5 transcript call -*",
            "socks5_server at socks5://127.0.0.1:*: 1 connection(s)",
            "#1 127.0.0.1:* SOCKS5 CONNECT 127.0.0.1:*",
            "    +   0.000 ms  accepted        from 127.0.0.1:*",
            "    + * ms  client → proxy  greeting: VER 5, METHODS 0x00 (NO_AUTHENTICATION_REQUIRED)",
            "                                  05 01 00",
            "    + * ms  proxy → client  method selection: METHOD 0x00 (NO_AUTHENTICATION_REQUIRED)",
            "                                  05 00",
            "    + * ms  client → proxy  request: CONNECT 127.0.0.1:*, ATYP 0x01 (IPV4)",
            "                                  05 01 00 01 7f 00 00 01 *",
            "                  proxy dialled   127.0.0.1:*",
            "                  connected to    127.0.0.1:* from 127.0.0.1:*",
            "    + * ms  proxy → client  reply: REP 0x00 (SUCCEEDED), BND 127.0.0.1:* (ATYP 0x01 (IPV4))",
            "                                  05 00 00 01 7f 00 00 01 *",
            "    + * ms  ended           closed by client (FIN)",
            "    faults:  none",
            "    payload: * bytes client → destination, * bytes destination → client (not captured)",
        ]
    )


def test_a_failing_proxied_httpx_call_shows_the_cause(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import httpx

        def test_fetch(socks5_server, refused_port):
            with httpx.Client(proxy=socks5_server.url) as client:
                client.get(f"http://localhost:{refused_port}/")
        """
    )
    result = run(pytester)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "E*httpx.ProxyError: *",
            "*- socks5 transcript call -*",
            "#1 * SOCKS5 CONNECT localhost:* (ATYP 0x03 (DOMAIN)) → REP 0x05 (CONNECTION_REFUSED) ?rejected by server (fin), 0↑ 0↓ bytes?",
            "*client → proxy  request: CONNECT localhost:*, ATYP 0x03 (DOMAIN)",
            "*05 01 00 03 09 6c 6f 63 61 6c 68 6f 73 74 *",
            "*proxy dialled   *",
            "*connected to    nothing (see error)",
            "*proxy → client  reply: REP 0x05 (CONNECTION_REFUSED), BND 0.0.0.0:0 (ATYP 0x01 (IPV4))",
            "*05 05 00 01 00 00 00 00 00 00",
            "*ended           rejected by server (FIN)",
            "    error:   dialling localhost:* failed: ConnectionRefusedError(*",
        ]
    )


# -- every assertion's failure output ------------------------------------------------------

ASSERTIONS = """
import threading, requests, pytest

def get(server, port, scheme="socks5", path="/"):
    url = server.url if scheme == "socks5" else server.url_remote_dns
    requests.get(f"http://localhost:{port}{path}", proxies={"http": url}, timeout=5)

def test_remote_dns(socks5_server, website):
    get(socks5_server, website)
    socks5_server.assert_remote_dns("localhost")

def test_local_dns(socks5_server, website):
    get(socks5_server, website, "socks5h")
    socks5_server.assert_local_dns("localhost")

@pytest.mark.socks5(users={"alice": "s3cret"})
def test_auth(socks5_server, website):
    requests.get(f"http://127.0.0.1:{website}/", timeout=5,
                 proxies={"http": socks5_server.url_for(username="alice", password="hunter2")})

def test_auth_assertion(socks5_server, website):
    get(socks5_server, website)
    socks5_server.assert_auth("alice", "s3cret")

@pytest.mark.socks5(users={"alice": "s3cret"})
def test_no_auth(socks5_server, website):
    get(socks5_server, website)
    socks5_server.assert_no_auth()

def test_sent_without_capture(socks5_server, website):
    get(socks5_server, website)
    socks5_server.assert_sent(b"GET /v2")

@pytest.mark.socks5(capture_payload=4096)
def test_sent(socks5_server, website):
    get(socks5_server, website, path="/v1")
    socks5_server.assert_sent(b"GET /v1 ")
    socks5_server.assert_received(b"hello")
    socks5_server.assert_sent(b"GET /v2")

def test_not_connected(socks5_server, website):
    get(socks5_server, website)
    socks5_server.assert_not_connected(port=website)

def test_no_connections(socks5_server, website):
    get(socks5_server, website)
    socks5_server.assert_no_connections()

def test_wait(socks5_server, website):
    threading.Thread(target=get, args=(socks5_server, website)).start()
    socks5_server.wait_for_connections(2, timeout=0.5, ended=True)

def test_count(socks5_server, website):
    get(socks5_server, website)
    get(socks5_server, website)
    socks5_server.assert_connected(port=website, count=1)
"""


def test_every_assertion_explains_its_failure(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(ASSERTIONS)
    result = run(pytester, "--tb=short")
    result.assert_outcomes(failed=11)
    for lines in (
        [
            "*_ test_remote_dns _*",
            "E*NoMatchingConnection: expected the client to send the name 'localhost' to the proxy (ATYP 0x03 DOMAIN)",
            "E*differs: host='127.0.0.1' (wanted 'localhost'); address_type=AddressType.IPV4 (wanted AddressType.DOMAIN)",
            "E*hint: #*: the client sent the address 0x01 (IPV4) 127.0.0.1, not a name; if it was 'localhost': socks5:// behaviour*",
        ],
        [
            "*_ test_local_dns _*",
            "E*NoMatchingConnection: expected the client to resolve 'localhost' itself, but it sent the name to the proxy (ATYP 0x03 DOMAIN) in 1 connection(s)",
            "E*#* * CONNECT localhost:* (ATYP 0x03 (DOMAIN))*",
            "E*differs: address_type=AddressType.DOMAIN (wanted IPV4 or IPV6)",
        ],
        [
            "*_ test_auth _*",
            "E*requests.exceptions.ConnectionError: *",
            "*- socks5 transcript call -*",
            "*client → proxy  auth request: VER 1, USERNAME 'alice' (5 bytes), PASSWORD *** (7 bytes)",
            "*01 05 61 6c 69 63 65 07 ** ** ** ** ** ** **",
            "*proxy → client  auth reply: STATUS 0x01 (FAILURE)",
            "*ended           auth-failed by server (FIN)",
            "    error:   wrong username or password",
        ],
        [
            "*_ test_auth_assertion _*",
            "E*NoMatchingConnection: expected a connection that authenticated matching username='alice', raw_password=*** (6 bytes), authenticated=True",
            "E*differs: auth_scheme='none' (wanted 'password' or 'userid'); username=None (wanted 'alice'); *",
            "E*hint: #*: the client offered 0x00, not 0x02 (username/password): it had no credentials to send",
        ],
        [
            "*_ test_no_auth _*",
            "E*NoMatchingConnection: expected a connection without authentication",
            "E*differs: auth_scheme='password' (wanted 'none')",
        ],
        [
            "*_ test_sent_without_capture _*",
            "E*NoMatchingConnection: expected a connection whose client sent b'GET /v2'",
            "E*hint: payload capture is off: use @pytest.mark.socks5(capture_payload=65536)*",
        ],
        [
            "*_ test_sent _*",
            "E*NoMatchingConnection: expected a connection whose client sent b'GET /v2'",
            "E*differs: payload_from_client=b'GET /v1 HTTP/1.1*… (* bytes) (wanted contains b'GET /v2')",
            "*- socks5 transcript call -*",
            "    payload: client → destination * bytes",
            "      0000  47 45 54 20 2f 76 31 20 48 54 54 50 2f 31 2e 31  GET /v1 HTTP/1.1",
            "    payload: destination → client * bytes",
            "      0000  48 54 54 50 2f 31 2e 31 20 32 30 30 20 4f 4b 0d  HTTP/1.1 200 OK.",
        ],
        [
            "*_ test_not_connected _*",
            "E*NoMatchingConnection: expected no connection matching port=*, found 1",
        ],
        [
            "*_ test_no_connections _*",
            "E*NoMatchingConnection: expected no connections",
            "E*1 connection(s) were recorded, closest first:",
        ],
        [
            "*_ test_wait _*",
            "E*NoMatchingConnection: waited 0.5s for 2 closed connection(s)",
        ],
        [
            "*_ test_count _*",
            "E*NoMatchingConnection: expected exactly 1 connection(s) matching port=* (found 2)",
        ],
    ):
        result.stdout.fnmatch_lines(lines)
    assert "hunter2" not in result.stdout.str()


# -- transcript options ----------------------------------------------------------------------

PASS_AND_FAIL = """
import requests, pytest

@pytest.mark.socks5(users={"alice": "s3cret"})
def test_passes(socks5_server, website):
    requests.get(f"http://127.0.0.1:{website}/", proxies={"http": socks5_server.url}, timeout=5)
    socks5_server.assert_auth("alice", "s3cret")

def test_fails(socks5_server, website):
    requests.get(f"http://127.0.0.1:{website}/", proxies={"http": socks5_server.url}, timeout=5)
    assert False, "the client's fault"

def test_without_the_proxy(website):
    assert False, "no proxy here"
"""


def test_transcript_only_for_failing_tests_that_used_the_proxy(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(PASS_AND_FAIL)
    result = run(pytester, "-rP")
    result.assert_outcomes(passed=1, failed=2)
    text = result.stdout.str()
    assert text.count("socks5 transcript call") == 1
    result.stdout.fnmatch_lines(["*_ test_fails _*", "*- socks5 transcript call -*"])


def test_transcript_all_shows_passing_tests_with_rP(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(PASS_AND_FAIL)
    result = run(pytester, "-rP", "--socks5-transcript=all")
    assert result.stdout.str().count("socks5 transcript call") == 2
    result.stdout.fnmatch_lines(
        [
            "*PASSES*",
            "*_ test_passes _*",
            "*- socks5 transcript call -*",
            "*auth request: VER 1, USERNAME 'alice' (5 bytes), PASSWORD *** (6 bytes)",
        ]
    )
    assert "s3cret'" not in result.stdout.str()


def test_transcript_never_and_the_ini_option(pytester: pytest.Pytester) -> None:
    pytester.makeini(INI + "socks5_transcript = never\n")
    pytester.makepyfile(PASS_AND_FAIL)
    result = run(pytester)
    result.assert_outcomes(passed=1, failed=2)
    assert "socks5 transcript" not in result.stdout.str()
    result = run(pytester, "--socks5-transcript=failed")
    assert "socks5 transcript call" in result.stdout.str()


def test_a_bad_transcript_mode_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makeini(INI + "socks5_transcript = sometimes\n")
    pytester.makepyfile("def test_x(): pass")
    result = run(pytester)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            "ERROR: pytest-socks5: ini option socks5_transcript: socks5_transcript must be one "
            "of 'failed', 'all', 'never', got 'sometimes'"
        ]
    )


def test_show_passwords(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(PASS_AND_FAIL)
    result = run(pytester, "-rP", "--socks5-transcript=all", "--socks5-show-passwords")
    result.stdout.fnmatch_lines(
        [
            "*auth request: VER 1, USERNAME 'alice' (5 bytes), PASSWORD 's3cret' (6 bytes)",
            "*01 05 61 6c 69 63 65 06 73 33 63 72 65 74",
        ]
    )


def test_teardown_failures_and_factory_servers_get_a_transcript(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        """
        import socket, pytest
        from pytest_socks5._auth import AuthPolicy

        def boom(self, user, password):
            raise RuntimeError("a bug in the auth check")

        def test_chain(socks5_server_factory, monkeypatch):
            monkeypatch.setattr(AuthPolicy, "check", boom)  # a bug in pytest-socks5
            server = socks5_server_factory(users={"u": "p"})
            sock = socket.create_connection(server.address, timeout=5)
            sock.sendall(b"\\x05\\x01\\x02\\x01\\x01u\\x01p")
            assert sock.recv(16) == b"\\x05\\x02"
            sock.close()
            server.wait_for_connections(1, ended=True)
        """
    )
    result = run(pytester)
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(
        [
            "*ERROR at teardown of test_chain*",
            "*- socks5 transcript teardown -*",
            "socks5_server_factory server 1 at socks5://127.0.0.1:*: 1 connection(s)",
            "#1 * SOCKS5 user='u' method 0x02 (USERNAME_PASSWORD) ?internal-error by server (error)*",
            "    error:   Traceback (most recent call last):",
        ]
    )


# -- JSON record files ---------------------------------------------------------------------


def test_record_dir_writes_reloadable_json_lines(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import requests, pytest

        @pytest.mark.socks5(users={"alice": "s3cret"}, capture_payload=64)
        @pytest.mark.parametrize("path", ["/a", "/b/c"])
        def test_get(socks5_server, website, path):
            proxies = {"http": socks5_server.url_remote_dns}
            requests.get(f"http://localhost:{website}{path}", proxies=proxies, timeout=5)
            requests.get(f"http://localhost:{website}{path}", proxies=proxies, timeout=5)

        def test_unused(socks5_server):
            pass

        def test_not_proxied():
            pass
        """
    )
    result = run(pytester, "--socks5-record-dir=artefacts")
    result.assert_outcomes(passed=4)
    files = sorted(p.name for p in (pytester.path / "artefacts").iterdir())
    stem = "test_record_dir_writes_reloadable_json_lines.py__"
    assert len(files) == 3
    for name, test in zip(files, ["test_get__a", "test_get__b_c", "test_unused"], strict=True):
        assert re.fullmatch(re.escape(stem + test) + "-[0-9a-f]{10}[.]jsonl", name), name
    path = pytester.path / "artefacts" / files[1]
    lines = path.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 2
    for line in lines:
        data = json.loads(line)
        assert data["test"].endswith("::test_get[/b/c]")
        assert data["proxy"].startswith("socks5_server at socks5://127.0.0.1:")
        assert data["password_redacted"] is True
        assert data["raw_password"] is None
        assert b"s3cret".hex() not in line
        record = ConnectionRecord.from_json(line)
        assert record.host == "localhost"
        assert record.remote_dns is True
        assert record.raw_username == b"alice"
        assert record.payload_from_client is not None
        assert record.payload_from_client.startswith(b"GET /b/c HTTP/1.1")
        assert [m.name for m in record.handshake] == [
            "greeting",
            "method selection",
            "auth request",
            "auth reply",
            "request",
            "reply",
        ]
        assert record.timings.replied is not None
    assert (pytester.path / "artefacts" / files[2]).read_text() == ""


def test_record_dir_says_how_a_connection_closed_as_the_test_ended(
    pytester: pytest.Pytester,
) -> None:
    """The shared server outlives the test: a client that closes on the test's last line
    is read before the file is written, so the record is ended, not left open."""
    pytester.makepyfile(
        """
        from pytest_socks5 import ECHO, rawclient

        def test_last_line_closes(socks5_server):
            socks5_server.configure(host_map={"echo.test": ECHO})
            with rawclient.tunnel(socks5_server.address, "echo.test", 7) as (sock, reply):
                sock.sendall(b"bye")
                assert rawclient.recv_exactly(sock, 3) == b"bye"
        """
    )
    run(pytester, "--socks5-record-dir=artefacts").assert_outcomes(passed=1)
    (path,) = (pytester.path / "artefacts").iterdir()
    (line,) = path.read_text(encoding="utf-8").splitlines()
    record = ConnectionRecord.from_json(line)
    assert (record.outcome, record.closed_by) == (Outcome.CLOSED, "client")
    assert (record.bytes_from_client, record.bytes_to_client) == (3, 3)


def test_record_dir_gives_ids_that_sanitize_alike_a_file_each(pytester: pytest.Pytester) -> None:
    """``/``, ``_`` and ``:`` all become ``_`` in a file name: the short hash of the exact
    node id keeps the three tests' records apart."""
    pytester.makepyfile(
        test_ids="""
        import requests, pytest

        @pytest.mark.socks5(capture_payload=64)
        @pytest.mark.parametrize("path", ["/a/b", "/a_b", "/a:b"])
        def test_p(socks5_server, website, path):
            proxies = {"http": socks5_server.url}
            requests.get(f"http://127.0.0.1:{website}{path}", proxies=proxies, timeout=5)
        """
    )
    result = run(pytester, "--socks5-record-dir=artefacts")
    result.assert_outcomes(passed=3)
    files = sorted((pytester.path / "artefacts").iterdir())
    assert len(files) == 3
    seen = {}
    for path in files:
        assert path.name.startswith("test_ids.py__test_p__a")
        assert path.suffix == ".jsonl"
        (line,) = path.read_text(encoding="utf-8").splitlines()
        data = json.loads(line)
        record = ConnectionRecord.from_json(line)
        assert record.payload_from_client is not None
        seen[data["test"]] = record.payload_from_client.split(b" ")[1].decode()
    assert seen == {
        "test_ids.py::test_p[/a/b]": "/a/b",
        "test_ids.py::test_p[/a_b]": "/a_b",
        "test_ids.py::test_p[/a:b]": "/a:b",
    }


def test_record_dir_ini_and_passwords(pytester: pytest.Pytester) -> None:
    pytester.makeini(INI + "socks5_record_dir = out/records\nsocks5_show_passwords = true\n")
    pytester.makepyfile(
        """
        import requests, pytest

        @pytest.mark.socks5(users={"alice": "s3cret"})
        def test_get(socks5_server, website):
            requests.get(f"http://127.0.0.1:{website}/", proxies={"http": socks5_server.url}, timeout=5)
        """
    )
    run(pytester).assert_outcomes(passed=1)
    (path,) = (pytester.path / "out" / "records").iterdir()
    (record,) = [ConnectionRecord.from_json(line) for line in path.read_text().splitlines()]
    assert record.raw_password == b"s3cret"


def test_capture_payload_option(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import requests

        def test_get(socks5_server, socks5_server_factory, website):
            for server in (socks5_server, socks5_server_factory()):
                requests.get(f"http://127.0.0.1:{website}/x", proxies={"http": server.url}, timeout=5)
                record = server.assert_sent(b"GET /x")
                assert len(record.payload_from_client) == 10
        """
    )
    run(pytester, "--socks5-capture-payload=10").assert_outcomes(passed=1)
    pytester.makeini(INI + "socks5_capture_payload = 10\n")
    run(pytester).assert_outcomes(passed=1)


# -- the environment helper ------------------------------------------------------------------


def test_proxy_env_fixture(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import os, requests, httpx

        def test_requests_honours_the_environment(socks5_proxy_env, website):
            assert os.environ["https_proxy"] == socks5_proxy_env.url
            requests.get(f"http://localhost:{website}/", timeout=5)
            socks5_proxy_env.assert_local_dns("localhost", port=website)

        def test_httpx_honours_the_environment(socks5_proxy_env, website):
            with httpx.Client() as client:
                client.get(f"http://localhost:{website}/")
            socks5_proxy_env.assert_remote_dns("localhost", port=website)

        def test_socks5h_from_the_environment(socks5_server, website):
            with socks5_server.proxy_env(remote_dns=True):
                requests.get(f"http://localhost:{website}/", timeout=5)
            socks5_server.assert_remote_dns("localhost", count=1)

        def test_restored():
            assert "ALL_PROXY" not in os.environ
        """
    )
    run(pytester).assert_outcomes(passed=4)


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_curl_honours_all_proxy(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import subprocess

        def test_curl(socks5_proxy_env, website):
            out = subprocess.run(["curl", "-s", "--max-time", "5", f"http://localhost:{website}/"],
                                 capture_output=True, timeout=20)
            assert out.stdout == b"hello"
            socks5_proxy_env.assert_local_dns("localhost", port=website)
        """
    )
    run(pytester).assert_outcomes(passed=1)


def test_a_wait_or_a_misspelt_criterion_points_at_the_test_not_at_our_code(
    pytester: pytest.Pytester,
) -> None:
    """As the ``assert_*`` helpers do: the report's last frame is the test's line."""
    pytester.makepyfile(
        """
        def test_wait(socks5_server):
            socks5_server.wait_for_connections(1, timeout=0.05)

        def test_misspelt(socks5_server):
            socks5_server.find_connections(outcom="closed")
        """
    )
    result = run(pytester)
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(
        [
            "*socks5_server.wait_for_connections(1, timeout=0.05)",
            "E*NoMatchingConnection: waited 0.05s for 1 connection(s)*",
            "*socks5_server.find_connections(outcom=*",
            "E*TypeError: unknown ConnectionRecord field(s): outcom (did you mean outcome?)*",
        ]
    )
    for internal in ("_recorder.py", "_criteria.py", "_assertions.py"):
        assert internal not in result.stdout.str()


def test_a_failing_async_wait_points_at_the_test_as_the_blocking_one_does(
    pytester: pytest.Pytester,
) -> None:
    """``wait_for_connections_async`` fails as ``wait_for_connections`` does: the report
    shows the test's line and the error, no frame of ours."""
    pytester.makepyfile(
        """
        import asyncio

        def test_wait(socks5_server):
            asyncio.run(socks5_server.wait_for_connections_async(1, timeout=0.05))

        def test_misspelt(socks5_server):
            asyncio.run(socks5_server.wait_for_connections_async(outcom="closed"))
        """
    )
    result = run(pytester)
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(
        [
            "*asyncio.run(socks5_server.wait_for_connections_async(1, timeout=0.05))",
            "E*NoMatchingConnection: waited 0.05s for 1 connection(s)*",
            "*asyncio.run(socks5_server.wait_for_connections_async(outcom=*",
            "E*TypeError: unknown ConnectionRecord field(s): outcom (did you mean outcome?)*",
        ]
    )
    for internal in ("_async_wait.py", "_assertions.py", "_recorder.py", "_criteria.py"):
        assert internal not in result.stdout.str()
