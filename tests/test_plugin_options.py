"""The command-line and ini options a suite sets once: ``socks5_users``/``--socks5-user``
(with ``socks5_host``/``--socks5-host`` and ``socks5_seed`` tested in test_plugin.py)."""

from __future__ import annotations

from importlib.util import find_spec
from pathlib import Path

import pytest

INI = "[pytest]\n" + (
    "asyncio_default_fixture_loop_scope = function\n" if find_spec("pytest_asyncio") else ""
)

TESTS = """
import socket, pytest

def authenticate(server, user, password):
    with socket.create_connection(server.address, timeout=5) as sock:
        sock.sendall(b"\\x05\\x01\\x02")
        assert sock.recv(2) == b"\\x05\\x02"
        user, password = user.encode(), password.encode()
        sock.sendall(b"\\x01" + bytes([len(user)]) + user + bytes([len(password)]) + password)
        return sock.recv(2) == b"\\x01\\x00"

def test_defaults(socks5_server):
    assert socks5_server.users == EXPECTED_USERS
    first, first_password = next(iter(socks5_server.users.items()))
    assert socks5_server.url.startswith(f"socks5://{first}:")
    for user, password in socks5_server.users.items():
        assert authenticate(socks5_server, user, password)
    assert not authenticate(socks5_server, first, first_password + "x")

@pytest.mark.socks5(users={"mallory": "m"})
def test_marker_wins_for_one_test(socks5_server):
    assert socks5_server.users == {"mallory": "m"}

@pytest.mark.socks5(port=0)
def test_a_dedicated_server_gets_them_too(socks5_server):
    assert socks5_server.users and "mallory" not in socks5_server.users

def test_factory_servers_do_not(socks5_server_factory):
    assert socks5_server_factory().users == {}
"""


def project(pytester: pytest.Pytester, expected: dict[str, str]) -> pytest.Pytester:
    pytester.makepyfile(test_users=TESTS.replace("EXPECTED_USERS", repr(expected)))
    return pytester


def test_ini_users(pytester: pytest.Pytester) -> None:
    project(pytester, {"alice": "s3cret", "bob": "p w:x", "carol": ""})
    pytester.makeini(INI + "socks5_users = alice:s3cret 'bob:p w:x' carol:\n")
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=4)
    result.stdout.fnmatch_lines(["pytest-socks5 *: * on 127.0.0.1, 3 user(s) required *"])
    result.stdout.fnmatch_lines(
        ["pytest-socks5 *: socks5_server listens on 127.0.0.1, 3 user(s)*"]
    )


def test_command_line_users_replace_the_ini_ones(pytester: pytest.Pytester) -> None:
    project(pytester, {"dave": "d1", "ünï": "pä@:%"})
    pytester.makeini(INI + "socks5_users = alice:s3cret\n")
    result = pytester.runpytest(
        "-p", "no:cacheprovider", "--socks5-user", "dave:d1", "--socks5-user", "ünï:pä@:%"
    )
    result.assert_outcomes(passed=4)


def test_socks5_server_options_win_over_the_ini(pytester: pytest.Pytester) -> None:
    project(pytester, {"erin": "e"})
    pytester.makeini(INI + "socks5_users = alice:s3cret\n")
    pytester.makeconftest(
        """
        import pytest

        @pytest.fixture(scope="session")
        def socks5_server_options():
            return {"users": {"erin": "e"}}
        """
    )
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=4)


def test_a_marker_validator_keeps_the_suites_users_on_every_server(
    pytester: pytest.Pytester,
) -> None:
    """The audit's case: ``@pytest.mark.socks5(validator=f)`` dropped ``socks5_users`` on
    the session server but not on a dedicated one; now both keep them, and
    ``users=None`` means no users on both."""
    pytester.makeini(INI + "socks5_users = alice:s3cret\n")
    pytester.makepyfile(
        TESTS.split("def test_defaults")[0]
        + """
def svc(user, password):
    return user == "svc"

def check_validator_and_users(server):
    assert server.users == {"alice": "s3cret"}
    assert authenticate(server, "alice", "s3cret")
    assert authenticate(server, "svc", "any")
    assert not authenticate(server, "mallory", "m")

def check_validator_only(server):
    assert server.users == {}
    assert authenticate(server, "svc", "any")
    assert not authenticate(server, "alice", "s3cret")

@pytest.mark.socks5(validator=svc)
def test_validator_session(socks5_server):
    check_validator_and_users(socks5_server)

@pytest.mark.socks5(validator=svc, backlog=5)
def test_validator_dedicated(socks5_server):
    check_validator_and_users(socks5_server)

@pytest.mark.socks5(users=None, validator=svc)
def test_users_none_session(socks5_server):
    check_validator_only(socks5_server)

@pytest.mark.socks5(users=None, validator=svc, backlog=5)
def test_users_none_dedicated(socks5_server):
    check_validator_only(socks5_server)

def test_the_next_test_has_the_users_back(socks5_server):
    assert socks5_server.users == {"alice": "s3cret"}
    assert not authenticate(socks5_server, "svc", "any")
"""
    )
    result = pytester.runpytest("-p", "no:cacheprovider", "-p", "no:randomly")
    result.assert_outcomes(passed=5)


def test_no_users_by_default(pytester: pytest.Pytester) -> None:
    pytester.makeini(INI)
    pytester.makepyfile(
        """
        def test_it(socks5_server):
            assert socks5_server.users == {}
            assert "@" not in socks5_server.url
        """
    )
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    assert "user(s)" not in result.stdout.str()


@pytest.mark.parametrize("bad", ["alice", ":nobody"])
def test_a_malformed_user_is_a_usage_error(pytester: pytest.Pytester, bad: str) -> None:
    pytester.makeini(INI)
    result = pytester.runpytest("-p", "no:cacheprovider", "--socks5-user", bad)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*NAME:PASSWORD*got {bad!r}*"])


def test_the_pyproject_example_in_the_reference(pytester: pytest.Pytester) -> None:
    example = Path(__file__).parent.parent / "docs" / "examples" / "suite_options.toml"
    text = example.read_text(encoding="utf-8")
    if find_spec("pytest_asyncio"):
        text += 'asyncio_default_fixture_loop_scope = "function"\n'
    pytester.makefile(".toml", pyproject=text)
    pytester.makepyfile(
        """
        def test_it(socks5_server):
            assert socks5_server.users == {"ci": "ci-password", "bob": "p w"}
            assert socks5_server.url.startswith("socks5://ci:ci-password@localhost:")
            assert len(socks5_server.listen_addresses) in (1, 2)
        """
    )
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["pytest-socks5 *: * on localhost, 2 user(s) required *"])
    # The reference shows the header this makes, word for word but the version and loop.
    reference = (example.parent.parent / "reference.rst").read_text(encoding="utf-8")
    shown = reference.split("pytest's header shows the choice:", 1)[1].split("\n\n")[2]
    pattern = shown.strip().replace("|release|", "*").replace("event loop uvloop", "event loop *")
    result.stdout.fnmatch_lines([pattern])


# -- boolean ini options: any case, pytest's words, TOML booleans -------------------------------

BOOLEANS = """
import socket

def test_it(socks5_server):
    assert socks5_server._engine.config.hermetic is EXPECTED
    with socket.create_server(("127.0.0.1", 0)) as srv:
        socket.create_connection(srv.getsockname(), timeout=5).close()  # a bypass
"""


@pytest.mark.parametrize(
    ("where", "text", "hermetic", "guarded"),
    [
        ("ini", "socks5_hermetic = OFF\nsocks5_leak_guard = Yes\n", False, True),
        ("ini", "socks5_hermetic = 1\nsocks5_leak_guard = n\n", True, False),
        ("toml", "[tool.pytest.ini_options]\nsocks5_hermetic = false\n", False, False),
        ("native toml", "[tool.pytest]\nsocks5_hermetic = false\n", False, False),
        ("native toml", "[tool.pytest]\nsocks5_leak_guard = true\n", True, True),
        ("native toml", '[tool.pytest]\nsocks5_leak_guard = "on"\n', True, True),
    ],
)  # fmt: skip
def test_boolean_ini_options_take_their_words_and_toml_booleans(
    pytester: pytest.Pytester, where: str, text: str, hermetic: bool, guarded: bool
) -> None:
    """Read as text by the options' own parser (for its message), a boolean ini option
    still takes what it took from pytest: any case, 1/0, y/n, and a TOML boolean."""
    if where == "native toml" and pytest.version_tuple < (9, 2):
        pytest.skip("a [tool.pytest] table of TOML values: pytest 9.2 reads it with bool | str")
    if where == "ini":
        pytester.makeini(INI + text)
    else:
        pytester.makefile(".toml", pyproject=text)
    pytester.makepyfile(BOOLEANS.replace("EXPECTED", repr(hermetic)))
    result = pytester.runpytest("-p", "no:cacheprovider", "-p", "no:asyncio")
    result.assert_outcomes(passed=1, errors=1 if guarded else 0)


# -- socks5_pcap / socks5_record_dir: a directory, checked at the start -------------------------


@pytest.mark.parametrize(
    ("ini", "args", "written"),
    [
        ("socks5_pcap = true", [], "socks5-pcap"),
        ("socks5_pcap = Yes", [], "socks5-pcap"),
        ("", ["--socks5-pcap=on"], "socks5-pcap"),
        ("socks5_pcap = ./true", [], "true"),
        ("socks5_pcap = true", ["--socks5-pcap=off"], None),
    ],
)
def test_a_true_pcap_setting_writes_to_socks5_pcap_as_the_marker_does(
    pytester: pytest.Pytester, ini: str, args: list[str], written: str | None
) -> None:
    pytester.makeini(INI + ini + "\n")
    pytester.makepyfile("def test_it(socks5_server):\n    pass\n")
    pytester.runpytest("-p", "no:cacheprovider", *args).assert_outcomes(passed=1)
    made = sorted(p.name for p in pytester.path.iterdir() if p.is_dir())
    assert made == ([written] if written else [])
    if written:
        (capture,) = (pytester.path / written).iterdir()
        assert capture.name.startswith("test_a_true_pcap_setting") or capture.suffix == ".pcapng"
