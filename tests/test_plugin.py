"""The plugin as users run it, through pytester."""

from __future__ import annotations

import fnmatch
import shutil
import socket
from importlib.util import find_spec
from typing import Any

import pytest

from .helpers import NO_HYPOTHESIS, PYTESTER_ECHO_CONFTEST, TWO_WORKERS

ECHO = PYTESTER_ECHO_CONFTEST


#: pytest-asyncio warns without a loop scope; without pytest-asyncio the option is unknown.
INI = "[pytest]\n" + (
    "asyncio_default_fixture_loop_scope = function\n" if find_spec("pytest_asyncio") else ""
)


@pytest.fixture
def pytester(pytester: pytest.Pytester) -> pytest.Pytester:
    """Inner runs get the ini a real project has, so pytest-asyncio stays quiet."""
    pytester.makeini(INI)
    return pytester


def test_fixture_routes_and_records(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(ECHO)
    pytester.makepyfile(
        """
        from conftest import tunnel

        def test_it(socks5_server, echo):
            with tunnel(socks5_server.address, echo) as sock:
                sock.sendall(b"hi")
                assert sock.recv(2) == b"hi"
            record = socks5_server.assert_connected(host=echo[0], port=echo[1])
            assert record.succeeded
            assert socks5_server.url == f"socks5://127.0.0.1:{socks5_server.port}"
        """
    )
    pytester.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=1)


def test_records_and_marker_config_are_reset_between_tests(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(ECHO)
    pytester.makepyfile(
        """
        import pytest
        from conftest import tunnel

        ports = []

        @pytest.mark.socks5(users={"alice": "s3cret"})
        def test_first(socks5_server, echo):
            ports.append(socks5_server.port)
            assert socks5_server.users == {"alice": "s3cret"}
            assert "alice:s3cret@" in socks5_server.url
            tunnel(socks5_server.address, echo, auth=(b"alice", b"s3cret")).close()
            socks5_server.wait_for_connections(1)

        def test_second(socks5_server, echo):
            assert socks5_server.port == ports[0], "one server per session"
            assert socks5_server.connections == []
            assert socks5_server.users == {}
            tunnel(socks5_server.address, echo).close()
            assert len(socks5_server.wait_for_connections(1)) == 1
        """
    )
    pytester.runpytest("-p", "no:cacheprovider", "-p", "no:randomly").assert_outcomes(passed=2)


def test_class_marker_is_overridden_by_function_marker(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.socks5(users={"a": "1"}, connect_timeout=3)
        class TestIt:
            def test_class_level(self, socks5_server):
                assert socks5_server.users == {"a": "1"}

            @pytest.mark.socks5(users={"b": "2"})
            def test_function_level(self, socks5_server):
                assert socks5_server.users == {"b": "2"}
        """
    )
    pytester.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=2)


def test_marker_with_host_gets_a_dedicated_server(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.socks5(host="::1")
        def test_v6(socks5_server, socks5_session_server):
            assert socks5_server is not socks5_session_server
            assert socks5_server.url.startswith("socks5://[::1]:")
        """
    )
    pytester.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=1)


def setup_error_text(stdout: str, test: str) -> list[str]:
    """The lines of ``test``'s "ERROR at setup" section of a pytest report."""
    section = stdout.split(f" ERROR at setup of {test} ", 1)[1].split("\n", 1)[1]
    lines = []
    for line in section.splitlines():
        if line.startswith(("___", "===")):
            break
        lines.append(line)
    return [line for line in lines if line.strip()]


@pytest.mark.parametrize(
    ("marker", "message"),
    [
        (
            'user={"a": "1"}',
            "@pytest.mark.socks5: unknown option(s): user (did you mean users?); known: *",
        ),
        (
            'connect_timeout="fast"',
            "@pytest.mark.socks5: connect_timeout must be a number > 0, got 'fast' (str)",
        ),
        (
            "hermetic='no'",
            "@pytest.mark.socks5: hermetic must be True or False, got 'no' (str)",
        ),
        (
            'allow=["10.0.0.0/33"]',
            "@pytest.mark.socks5: allow[0] must be an IP network such as '10.0.0.0/8', "
            "got '10.0.0.0/33': '33' is not a valid netmask",
        ),
        (
            "{'users': {}}",
            "@pytest.mark.socks5 takes keyword arguments only, got ({'users': {}},); known: *",
        ),
        (
            'host=""',
            "@pytest.mark.socks5: host must be a listen address such as 127.0.0.1, ::1 or "
            "localhost (both), got '' (an empty host would listen on every interface: an "
            "open proxy)",
        ),
    ],
)
def test_a_marker_mistake_errors_its_test_at_setup_in_one_line(
    pytester: pytest.Pytester, marker: str, message: str
) -> None:
    """The reference says exactly this: the test errors at setup with one line naming the
    option, the bad value and the valid ones; the run goes on."""
    pytester.makepyfile(
        f"""
        import pytest

        @pytest.mark.socks5({marker})
        def test_mistake(socks5_server):
            pass

        def test_other(socks5_server):
            pass
        """
    )
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, errors=1)
    lines = setup_error_text(result.stdout.str(), "test_mistake")
    assert len(lines) == 1, lines
    if message.endswith("*"):  # the list of known options follows
        assert lines[0].startswith(message[:-1]), lines[0]
    else:
        assert lines[0] == message
    assert "Traceback" not in result.stdout.str()
    assert "plugin.py" not in result.stdout.str()


@pytest.mark.parametrize(
    ("marker", "message"),
    [
        (
            'leak_guard="yes"',
            "leak_guard must be True, False or {'allow': [patterns]}, got 'yes' (str)",
        ),
        ("chaos=7", "chaos must be True, False or a rate from 0 to 1, got 7"),
        ('chaos="off"', "chaos must be True, False or a rate from 0 to 1, got 'off'"),
        ('pcap="dir"', "pcap must be True or False, got 'dir' (str)"),
        (
            "users=5",
            "users must be a {name: password} mapping or (name, password) pairs, got 5 (int)",
        ),
    ],
)
def test_the_marker_is_checked_the_same_for_every_fixture(
    pytester: pytest.Pytester, marker: str, message: str
) -> None:
    """Whichever fixture (or ``getfixturevalue`` in the body) a test gets its proxy from,
    a bad marker is the same one line, never a traceback, never accepted."""
    pytester.makepyfile(
        f"""
        import pytest

        pytestmark = pytest.mark.socks5({marker})

        def test_server(socks5_server):
            pass

        def test_env(socks5_proxy_env):
            pass

        def test_factory(socks5_server_factory):
            socks5_server_factory()

        def test_in_body(request):
            request.getfixturevalue("socks5_server_factory")()
        """
    )
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(errors=3, failed=1)
    out = result.stdout.str()
    for test in ("test_server", "test_env", "test_factory"):
        assert setup_error_text(out, test) == [f"@pytest.mark.socks5: {message}"]
    result.stdout.fnmatch_lines(
        ["*_ test_in_body _*", f"@pytest.mark.socks5: {message}", "*= short test summary *"]
    )
    assert "Traceback" not in out
    assert "plugin.py" not in out


def test_a_port_it_cannot_listen_on_is_one_line_for_every_fixture(
    pytester: pytest.Pytester,
) -> None:
    """A busy port (or an address that is not local) is the user's mistake: the marker's
    and the session server's test errors at setup, the factory's fails, each in one line
    naming the address and where it was given; never a traceback."""
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        tests = pytester.makepyfile(
            f"""
            import pytest

            @pytest.mark.socks5(port={port})
            def test_marker(socks5_server):
                pass

            def test_factory(socks5_server_factory):
                socks5_server_factory(port={port})
            """
        )
        session = pytester.mkpydir("session")
        session.joinpath("conftest.py").write_text(
            "import pytest\n\n@pytest.fixture(scope='session')\n"
            f"def socks5_listen_address():\n    return ('127.0.0.1', {port})\n"
        )
        session.joinpath("test_session.py").write_text(
            "def test_session(socks5_server):\n    pass\n"
        )
        result = pytester.runpytest("-p", "no:cacheprovider", tests)
        # The session server's address, from an overridden socks5_listen_address.
        in_session = pytester.runpytest("-p", "no:cacheprovider", session)
    result.assert_outcomes(failed=1, errors=1)
    out = result.stdout.str()
    taken = f"cannot listen on 127.0.0.1:{port} (host='127.0.0.1', port={port}): Address"
    assert setup_error_text(out, "test_marker") == [f"@pytest.mark.socks5: {taken} already in use"]
    result.stdout.fnmatch_lines(
        ["*_ test_factory _*", f"socks5_server_factory: {taken} already in use", "*= short *"]
    )
    in_session.assert_outcomes(errors=1)
    assert setup_error_text(in_session.stdout.str(), "test_session") == [
        f"pytest-socks5: session server: cannot listen on 127.0.0.1:{port} "
        "(socks5_listen_address): Address already in use"
    ]
    for run in (out, in_session.stdout.str()):
        assert "Traceback" not in run
        assert "plugin.py" not in run


def test_factory_makes_independent_servers_for_a_chain(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(ECHO)
    pytester.makepyfile(
        """
        import socket
        from conftest import tunnel

        def test_chain(socks5_server_factory, echo):
            first = socks5_server_factory()
            second = socks5_server_factory(users={"u": "p"})
            assert first.port != second.port
            # Through `first` to `second`, then ask `second` for the echo server.
            sock = tunnel(first.address, second.address)
            sock.sendall(b"\\x05\\x01\\x02")
            assert sock.recv(2) == b"\\x05\\x02"
            sock.sendall(b"\\x01\\x01u\\x01p")
            assert sock.recv(2) == b"\\x01\\x00"
            sock.sendall(b"\\x05\\x01\\x00\\x01" + socket.inet_aton(echo[0]) + echo[1].to_bytes(2, "big"))
            assert sock.recv(10)[1] == 0
            sock.sendall(b"chained")
            assert sock.recv(7) == b"chained"
            sock.close()
            first.assert_connected(port=second.port)
            second.assert_connected(port=echo[1], username="u")
        """
    )
    pytester.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=1)


def test_config_fixtures_can_be_overridden(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(
        """
        import pytest

        @pytest.fixture(scope="session")
        def socks5_listen_address():
            return ("::1", 0)

        @pytest.fixture(scope="session")
        def socks5_server_options():
            return {"users": {"suite": "wide"}}
        """
    )
    pytester.makepyfile(
        """
        def test_it(socks5_server):
            assert socks5_server.host == "::1"
            assert socks5_server.users == {"suite": "wide"}
        """
    )
    pytester.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=1)


LISTEN_ELSEWHERE = (
    "the listen address comes from the socks5_listen_address fixture (override it in "
    "conftest.py), or --socks5-host / ini socks5_host"
)


@pytest.mark.parametrize(
    ("options", "address", "message"),
    [
        ('{"host": "::1"}', None, f"socks5_server_options cannot set the listen address, got host='::1': {LISTEN_ELSEWHERE}"),
        ('{"port": 1080, "host": "::1"}', None, f"socks5_server_options cannot set the listen address, got host='::1', port=1080: {LISTEN_ELSEWHERE}"),
        ('{"conect_timeout": 1}', None, "socks5_server_options: unknown option(s): conect_timeout (did you mean connect_timeout?); known: backlog, users, *"),
        ('{1: 2, "conect_timeout": 1}', None, "socks5_server_options: option names must be text, got 1 (int); known: backlog, users, *"),
        ('{"connect_timeout": "fast"}', None, "socks5_server_options: connect_timeout must be a number > 0, got 'fast' (str)"),
        ("[('users', {})]", None, "socks5_server_options must be a dict of SOCKS5Server keyword arguments, got [('users', {})] (list)"),
        ("{}", '("127.0.0.1", "1080")', "socks5_listen_address: port must be a port from 0 to 65535 (0 picks a free one), got '1080' (str)"),
        ("{}", '("", 0)', "socks5_listen_address: host must be a listen address such as 127.0.0.1, ::1 or localhost (both), got '' (an empty host would listen on every interface: an open proxy)"),
        ("{}", '"127.0.0.1:0"', "socks5_listen_address must be a (host, port) pair such as ('127.0.0.1', 0), got '127.0.0.1:0' (str)"),
        ("{}", '("127.0.0.1",)', "socks5_listen_address must be a (host, port) pair such as ('127.0.0.1', 0), got ('127.0.0.1',)"),
    ],
)  # fmt: skip
def test_a_bad_fixture_value_is_one_line_naming_the_fixture(
    pytester: pytest.Pytester, options: str, address: str | None, message: str
) -> None:
    """A mistake in an overridden ``socks5_server_options`` or ``socks5_listen_address``
    errors the tests that use the servers in one line that names the fixture (and whose
    server it was for) and keeps the option's own message; no traceback. ``host`` and
    ``port`` are refused in ``socks5_server_options`` for the session and dedicated
    servers alike: the listen address is ``socks5_listen_address``'s."""
    conftest = f"""
        import pytest

        @pytest.fixture(scope="session")
        def socks5_server_options():
            return {options}
        """
    if address is not None:
        conftest += f"""
        @pytest.fixture(scope="session")
        def socks5_listen_address():
            return {address}
        """
    pytester.makeconftest(conftest)
    pytester.makepyfile(
        """
        import pytest

        def test_session(socks5_server):
            pass

        @pytest.mark.socks5(port=0)
        def test_dedicated(socks5_server):
            pass

        def test_factory(socks5_server_factory):
            socks5_server_factory()
        """
    )
    result = pytester.runpytest("-p", "no:cacheprovider")
    out = result.stdout.str()
    errored = ["test_session", "test_dedicated"] + (["test_factory"] if address else [])
    result.assert_outcomes(errors=len(errored), passed=3 - len(errored))
    for test in errored:
        where = "socks5_server_factory" if test == "test_factory" else "session server"
        (line,) = setup_error_text(out, test)
        expected = f"pytest-socks5: {where}: {message}"
        assert fnmatch.fnmatchcase(line, expected.replace("[", "[[]")), (line, expected)
    assert "Traceback" not in out
    assert "plugin.py" not in out


def test_host_option_and_ini(pytester: pytest.Pytester) -> None:
    pytester.makeini(INI + "socks5_host = ::1\n")
    pytester.makepyfile(
        """
        def test_it(socks5_server):
            assert socks5_server.host == "::1"
        """
    )
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["pytest-socks5 *: socks5_server listens on ::1*"])
    result = pytester.runpytest("-p", "no:cacheprovider", "--socks5-host", "localhost")
    result.assert_outcomes(failed=1)


def test_a_validators_exception_fails_the_test_as_the_users(pytester: pytest.Pytester) -> None:
    """The user's code raised: the test fails at its call with that exception (not an
    ERROR at teardown, not pytest-socks5's internal error), and the next test is clean."""
    pytester.makeconftest(ECHO)
    pytester.makepyfile(
        """
        import pytest

        def boom(user, password):
            raise RuntimeError("validator exploded")

        @pytest.mark.socks5(validator=boom)
        def test_bad(socks5_server):
            import socket
            sock = socket.create_connection(socks5_server.address, timeout=5)
            sock.sendall(b"\\x05\\x01\\x02\\x01\\x01u\\x01p")
            assert sock.recv(16) == b"\\x05\\x02"
            sock.close()
            socks5_server.wait_for_connections(1, ended=True)

        def test_next_is_clean(socks5_server):
            assert socks5_server.errors == []
        """
    )
    result = pytester.runpytest("-p", "no:cacheprovider", "-p", "no:randomly")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*_ test_bad _*",
            "E *RuntimeError: validator exploded",
            "E *pytest-socks5: raised by your validator boom for connection #* from 127.0.0.1:*"
            " (an error in your code, not in pytest-socks5)",
            "*user-code-error by server (error)*",
        ]
    )
    result.stdout.no_fnmatch_line("*internal error*")
    result.stdout.no_fnmatch_line("*ServerError*")


def test_a_hooks_exception_fails_the_test_at_its_call(pytester: pytest.Pytester) -> None:
    """The audit's case: a hook raising in a test whose body passes fails the test with the
    hook's exception; when the body fails too, both are reported (the hook's at teardown)."""
    pytester.makepyfile(
        """
        import socket

        def connect(server):
            sock = socket.create_connection(server.address, timeout=5)
            sock.sendall(b"CONNECT 127.0.0.1:9 HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n")
            sock.recv(100)
            sock.close()
            server.wait_for_connections(1, ended=True)

        def test_hook_raises(socks5_server):
            socks5_server.on("request", lambda rec: {}["x"])
            connect(socks5_server)

        def test_body_fails_too(socks5_server):
            socks5_server.on("request", lambda rec: {}["y"])
            connect(socks5_server)
            assert False, "the body's own failure"
        """
    )
    result = pytester.runpytest("-p", "no:cacheprovider", "-p", "no:randomly")
    result.assert_outcomes(failed=2, errors=1)
    result.stdout.fnmatch_lines(
        [
            "*_ test_hook_raises _*",
            "E *KeyError: 'x'",
            "E *pytest-socks5: raised by your on('request') hook"
            " test_hook_raises.<locals>.<lambda> for connection #* from 127.0.0.1:*"
            " to 127.0.0.1:9 (an error in your code, not in pytest-socks5)",
        ]
    )
    result.stdout.fnmatch_lines(
        [
            "*ERROR at teardown of test_body_fails_too*",
            "E *KeyError: 'y'",
        ]
    )
    result.stdout.fnmatch_lines(
        ["*_ test_body_fails_too _*", "E *AssertionError: the body's own failure*"]
    )
    result.stdout.no_fnmatch_line("*internal error*")


def test_pytest_fail_or_skip_in_a_hook_is_the_tests_outcome(pytester: pytest.Pytester) -> None:
    """``pytest.fail()`` in a hook fails the test with its message, ``pytest.skip()``
    skips it: pytest's outcome exceptions are no ``Exception``, and the test passed while
    the connection hung open."""
    pytester.makepyfile(
        """
        import pytest
        from pytest_socks5 import Outcome, rawclient

        def connect(server):
            with rawclient.connect(server.address) as sock:
                sock.sendall(b"\\x05\\x01\\x00" + rawclient.socks5_request("127.0.0.1", 9))
                rawclient.recv_all(sock)
            (record,) = server.wait_for_connections(1, ended=True)
            assert record.outcome is Outcome.USER_CODE_ERROR

        def test_fails(socks5_server):
            socks5_server.on("request", lambda rec: pytest.fail("nope from hook"))
            connect(socks5_server)

        def test_skips(socks5_server):
            socks5_server.on("request", lambda rec: pytest.skip("skipped by the hook"))
            connect(socks5_server)
        """
    )
    result = pytester.runpytest("-p", "no:cacheprovider", "-p", "no:randomly", "-rs")
    result.assert_outcomes(failed=1, skipped=1)
    result.stdout.fnmatch_lines(
        [
            "*_ test_fails _*",
            "E *Failed: nope from hook",
            "E *pytest-socks5: raised by your on('request') hook*",
            "SKIPPED * skipped by the hook",
        ]
    )
    result.stdout.no_fnmatch_line("*internal error*")


@pytest.mark.parametrize("variant", ["asyncio", "uvloop+splice"], indirect=True)
def test_a_bug_in_a_callback_fails_the_test_with_the_original_exception(
    pytester: pytest.Pytester, variant: dict[str, Any]
) -> None:
    """The report shows the original exception's type and traceback, then the
    :class:`ServerError` raised from it (see test_callback_errors.py for every path)."""
    pytester.makeconftest(ECHO)
    pytester.makepyfile(
        f"""
        import os
        from pytest_socks5._recorder import LiveRecord
        from pytest_socks5.rawclient import open_tunnel

        def explode(*args, **kwargs):
            raise ZeroDivisionError("a bug in a callback")

        def test_bug(socks5_server_factory, echo, monkeypatch):
            server = socks5_server_factory(loop={variant["loop"]!r}, splice={variant["splice"]!r})
            monkeypatch.setattr(LiveRecord, "delivered_from_client", explode)
            monkeypatch.setattr(os, "splice", explode)
            with open_tunnel(server.address, *echo) as sock:
                sock.sendall(b"ping")
                server.wait_for_connections(1, ended=True)
        """
    )
    result = pytester.runpytest("-p", "no:cacheprovider", "-p", "no:randomly")
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(
        [
            "*ERROR at teardown of test_bug*",
            "E *ZeroDivisionError: a bug in a callback",
            "*direct cause*",
            "E *ServerError: pytest-socks5 had an internal error: ZeroDivisionError: a bug*",
        ]
    )


def test_plugin_changes_nothing_for_tests_that_do_not_use_it(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import threading

        def test_plain():
            names = [t.name for t in threading.enumerate()]
            assert not any(n.startswith("pytest-socks5") for n in names)
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", *NO_HYPOTHESIS, "-W", "error")
    result.assert_outcomes(passed=1)


def test_plugin_registers_its_marker(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--markers")
    result.stdout.fnmatch_lines(["@pytest.mark.socks5(**options)*"])


def test_runs_under_xdist(pytester: pytest.Pytester) -> None:
    pytest.importorskip("xdist")
    pytester.makeconftest(ECHO)
    pytester.makepyfile(
        """
        import os, pytest
        from conftest import tunnel

        @pytest.mark.parametrize("i", range(8))
        def test_it(socks5_server, echo, i):
            with tunnel(socks5_server.address, echo) as sock:
                sock.sendall(b"x")
                assert sock.recv(1) == b"x"
            assert len(socks5_server.connections) == 1
            print("worker", os.environ.get("PYTEST_XDIST_WORKER"), socks5_server.port)
        """
    )
    # The controller runs in-process; the tests run in two worker processes.
    result = pytester.runpytest(*TWO_WORKERS, "-p", "no:cacheprovider")
    result.assert_outcomes(passed=8)


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_socks5h_vs_socks5_in_one_assertion(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import subprocess
        from pytest_socks5 import AddressType

        def test_remote_dns(socks5_server):
            subprocess.run(["curl", "-s", "--max-time", "5", "--proxy", socks5_server.url_remote_dns,
                            "http://localhost:9/"], timeout=20)
            socks5_server.assert_connected(host="localhost", address_type=AddressType.DOMAIN)
        """
    )
    pytester.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=1)


def test_faults_from_the_marker_and_cleared_between_tests(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import socket, pytest
        from pytest_socks5.faults import ReplyWith, Stall

        def recv4(sock):
            data = b""
            while len(data) < 4 and (chunk := sock.recv(4 - len(data))):
                data += chunk
            return data

        def ask(server):
            with socket.create_connection(server.address, timeout=5) as sock:
                sock.sendall(b"\\x05\\x01\\x00\\x05\\x01\\x00\\x01\\x7f\\x00\\x00\\x01\\x00\\x09")
                return recv4(sock)[3]

        @pytest.mark.socks5(faults=[ReplyWith(reply=0x03)])
        def test_marker(socks5_server):
            assert ask(socks5_server) == 0x03

        def test_added(socks5_server):
            assert socks5_server.faults == ()
            socks5_server.add_fault(ReplyWith(reply=0x04))
            assert ask(socks5_server) == 0x04
            socks5_server.down()

        def test_next_is_clean(socks5_server):
            assert socks5_server.faults == ()
            assert not socks5_server.is_down
            assert ask(socks5_server) in (0x05, 0x00)  # a real dial to 127.0.0.1:9
        """
    )
    pytester.runpytest("-p", "no:cacheprovider", "-p", "no:randomly").assert_outcomes(passed=3)


def test_seed_option_replays_a_probabilistic_fault(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import socket
        from pytest_socks5.faults import ReplyWith

        def recv4(sock):
            data = b""
            while len(data) < 4 and (chunk := sock.recv(4 - len(data))):
                data += chunk
            return data

        def test_pattern(socks5_server):
            socks5_server.add_fault(ReplyWith(reply=0x01, probability=0.5))
            replies = []
            for _ in range(16):
                with socket.create_connection(socks5_server.address, timeout=5) as sock:
                    sock.sendall(b"\\x05\\x01\\x00\\x05\\x01\\x00\\x01\\x7f\\x00\\x00\\x01\\x00\\x09")
                    replies.append(recv4(sock)[3] == 0x01)
            print("PATTERN", "".join("x" if r else "." for r in replies))
        """
    )
    # The first run in a fresh interpreter, the replay and the other seed in this one: the
    # pattern replays across processes (a subprocess each would pay pytest's start-up).
    runs = [
        pytester.runpytest_subprocess(
            "-p", "no:cacheprovider", *NO_HYPOTHESIS, "-s", "--socks5-seed", "1"
        ),
        pytester.runpytest("-p", "no:cacheprovider", "-s", "--socks5-seed", "1"),
        pytester.runpytest("-p", "no:cacheprovider", "-s", "--socks5-seed", "2"),
    ]
    patterns = [next(line for line in r.outlines if "PATTERN" in line) for r in runs]
    assert patterns[0] == patterns[1]
    assert patterns[0] != patterns[2]


def test_a_session_server_a_test_stopped_is_running_for_the_next(
    pytester: pytest.Pytester,
) -> None:
    """Stopping the proxy mid-test ("the proxy went away") works, and the next test that
    asks gets it running again: on its port when that is free, its URLs and environment
    true; a direct socks5_session_server user too."""
    pytester.makepyfile(
        """
        import os, socket
        import pytest

        seen = []

        def test_stops(socks5_server):
            seen.append(socks5_server.port)
            socks5_server.stop()
            with pytest.raises(ConnectionRefusedError):
                socket.create_connection(socks5_server.address, timeout=5)

        def test_next(socks5_server):
            assert socks5_server.is_running
            assert socks5_server.port == seen[0]
            assert socks5_server.listen_addresses == [("127.0.0.1", seen[0])]
            socket.create_connection(socks5_server.address, timeout=5).close()
            socks5_server.stop()

        def test_env(socks5_proxy_env):
            assert os.environ["ALL_PROXY"] == f"socks5://127.0.0.1:{socks5_proxy_env.port}"
            socket.create_connection(socks5_proxy_env.address, timeout=5).close()
            socks5_proxy_env.stop()

        def test_session(socks5_session_server):
            socket.create_connection(socks5_session_server.address, timeout=5).close()
        """
    )
    pytester.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=4)


def test_a_stopped_session_server_whose_port_is_taken_gets_a_new_one(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        """
        import socket

        taken = []

        def test_stops(socks5_server):
            socks5_server.stop()
            holder = socket.socket()
            holder.bind(socks5_server.address)
            holder.listen()
            taken.append(holder)

        def test_next(socks5_server):
            assert socks5_server.port != taken[0].getsockname()[1]
            assert len(socks5_server.listen_addresses) == 1
            socket.create_connection(socks5_server.address, timeout=5).close()
            assert socks5_server.url == f"socks5://127.0.0.1:{socks5_server.port}"
            taken[0].close()
        """
    )
    pytester.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=2)


def test_a_factory_mistake_is_a_public_error_naming_the_factory_at_the_tests_line(
    pytester: pytest.Pytester,
) -> None:
    """``socks5_server_factory(user=…)``: a TypeError (as Python's unexpected keyword) that
    names the factory, the nearest name and the valid ones; a bad value a ValueError. The
    traceback ends at the test's call, none inside the package."""
    from pytest_socks5._options import Site, names

    pytester.makepyfile(
        """
        def test_name(socks5_server_factory):
            socks5_server_factory(user={"a": "b"})

        def test_value(socks5_server_factory):
            socks5_server_factory(connect_timeout=-1)

        def test_configure(socks5_server):
            socks5_server.configure(user={})
        """
    )
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(failed=3)
    known = ", ".join(names(Site.CONSTRUCTOR))
    out = result.stdout.str()
    assert (
        "E       TypeError: socks5_server_factory(): unknown option(s): user (did you mean "
        f"users?); known: {known}\n" in out
    )
    assert (
        "E       ValueError: socks5_server_factory(): connect_timeout must be a number > 0, "
        "got -1\n" in out
    )
    assert "E       TypeError: configure(): unknown option(s): user (did you mean users?)" in out
    assert "_option_model" not in out
    assert "pytest_socks5/" not in out
