"""The hermetic policy through the plugin: ini options, marker options, every fixture.

The inner test files replace the engine's dialler with a spy, so "allowed" means "the
proxy tried to dial" and nothing ever leaves the machine.
"""

from __future__ import annotations

import pytest

INI = "[pytest]\nasyncio_default_fixture_loop_scope = function\n"

SPY = """
import errno, socket, pytest

def spy(server):
    calls = []
    async def dial(host, port, record):
        calls.append((host, port))
        raise ConnectionRefusedError(errno.ECONNREFUSED, "spy")
    server._engine.dialler.dial = dial
    return calls

def ask(server, host, port=80):
    sock = socket.create_connection(server.address, timeout=5)
    with sock:
        sock.sendall(b"\\x05\\x01\\x00")
        assert sock.recv(2) == b"\\x05\\x00"
        name = host.encode()
        sock.sendall(b"\\x05\\x01\\x00\\x03" + bytes([len(name)]) + name + port.to_bytes(2, "big"))
        reply = b""
        while len(reply) < 10:
            chunk = sock.recv(10 - len(reply))
            assert chunk
            reply += chunk
    return reply[1]
"""


@pytest.fixture
def pytester(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makeini(INI)
    return pytester


def test_the_fixture_is_hermetic_by_default(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        SPY
        + """
def test_outside(socks5_server):
    calls = spy(socks5_server)
    assert ask(socks5_server, "www.example.com") == 0x02
    assert calls == []
    record = socks5_server.assert_connected(host="www.example.com")
    assert "socks5_allow" in record.error
"""
    )
    pytester.runpytest_inprocess("-p", "no:randomly").assert_outcomes(passed=1)


def test_ini_allow_and_hermetic(pytester: pytest.Pytester) -> None:
    pytester.makeini(INI + "socks5_allow =\n    *.example.com:443\n    192.0.2.0/24\n")
    pytester.makepyfile(
        SPY
        + """
def test_allowed(socks5_server):
    calls = spy(socks5_server)
    assert ask(socks5_server, "www.example.com", 443) == 0x05
    assert ask(socks5_server, "192.0.2.9") == 0x05
    assert ask(socks5_server, "www.example.com", 80) == 0x02
    assert calls == [("www.example.com", 443), ("192.0.2.9", 80)]

def test_factory_servers_follow_the_ini(socks5_server_factory):
    server = socks5_server_factory()
    calls = spy(server)
    assert ask(server, "www.example.com", 443) == 0x05
    assert ask(server, "www.example.org", 443) == 0x02
    assert calls == [("www.example.com", 443)]

@pytest.mark.socks5(allow=["www.example.org"])
def test_a_marker_list_replaces_the_ini_list(socks5_server):
    calls = spy(socks5_server)
    assert ask(socks5_server, "www.example.org") == 0x05
    assert ask(socks5_server, "www.example.com", 443) == 0x02
    assert calls == [("www.example.org", 80)]

@pytest.mark.socks5(allow=["www.example.org"], port=0)
def test_a_dedicated_server_gets_marker_options(socks5_server):
    calls = spy(socks5_server)
    assert ask(socks5_server, "www.example.org") == 0x05
    assert calls == [("www.example.org", 80)]
"""
    )
    pytester.runpytest_inprocess("-p", "no:randomly").assert_outcomes(passed=4)


def test_ini_hermetic_false(pytester: pytest.Pytester) -> None:
    pytester.makeini(INI + "socks5_hermetic = false\n")
    pytester.makepyfile(
        SPY
        + """
def test_anything_goes(socks5_server):
    calls = spy(socks5_server)
    assert ask(socks5_server, "www.example.com") == 0x05
    assert calls == [("www.example.com", 80)]

@pytest.mark.socks5(hermetic=True)
def test_a_marker_can_turn_it_back_on(socks5_server):
    calls = spy(socks5_server)
    assert ask(socks5_server, "www.example.com") == 0x02
    assert calls == []
"""
    )
    pytester.runpytest_inprocess("-p", "no:randomly").assert_outcomes(passed=2)


def test_marker_takes_the_rules_bind_udp_and_socks4_options(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
import pytest
from pytest_socks5 import Rule, UdpFaults

@pytest.mark.socks5(
    rules=[Rule.deny(port=25)],
    bind_timeout=1.5,
    udp_faults=UdpFaults(drop=0.5),
    socks4_user_ids=["alice"],
    socks4_user_id_reply=0x5D,
)
def test_configured(socks5_server):
    config = socks5_server._engine.config
    assert config.rules == (Rule.deny(port=25),)
    assert config.bind_timeout == 1.5
    assert config.udp_faults == UdpFaults(drop=0.5)
    assert config.socks4_user_ids == frozenset({b"alice"})
    assert config.socks4_user_id_reply == 0x5D

def test_reset_afterwards(socks5_server):
    config = socks5_server._engine.config
    assert config.rules == ()
    assert config.udp_faults is None
    assert config.hermetic is True
"""
    )
    pytester.runpytest_inprocess("-p", "no:randomly").assert_outcomes(passed=2)


def test_a_bad_ini_allow_pattern_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makeini(INI + "socks5_allow = example.com:https\n")
    pytester.makepyfile("def test_x(socks5_server):\n    pass\n")
    result = pytester.runpytest_inprocess("-p", "no:randomly")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            "ERROR: pytest-socks5: ini option socks5_allow: allow[0] must be a host glob or a "
            "network, optionally with :port, got 'example.com:https': the port 'https' is not "
            "a number"
        ]
    )
