"""Pure policy for issue 5: destination rules, the hermetic default, virtual destinations
in the host map, and UDP fault decisions."""

from __future__ import annotations

import pytest

from pytest_socks5 import ECHO, Command, Rule, Sink, UdpFaults
from pytest_socks5._hosts import Unresolvable, describe_target, is_mapped, map_destination
from pytest_socks5._rules import check_destination, denial_message, parse_allow
from pytest_socks5.faults import Direction


def decide(host: str | None, port: int | None = 80, **kwargs):
    kwargs.setdefault("command", Command.CONNECT)
    kwargs.setdefault("user", None)
    return check_destination(host=host, port=port, **kwargs)


# -- the hermetic default ---------------------------------------------------------------


@pytest.mark.parametrize(
    "host",
    [
        "127.0.0.1",
        "127.1.2.3",
        "::1",
        "::ffff:127.0.0.1",
        "0.0.0.0",
        "::",
        "localhost",
        "LOCALHOST.",
        "api.localhost",
    ],
)
def test_loopback_is_allowed_by_default(host: str) -> None:
    decision = decide(host)
    assert decision.allowed
    assert decision.reason == "hermetic default: loopback"


@pytest.mark.parametrize(
    "host", ["example.com", "10.0.0.1", "192.0.2.7", "2001:db8::1", "localhost.example.com"]
)
def test_everything_else_is_refused_by_default(host: str) -> None:
    decision = decide(host)
    assert not decision.allowed
    assert decision.rule is None
    assert decision.reason == "hermetic default: not loopback and not in host_map"


def test_the_hermetic_verdicts_are_shared_values() -> None:
    """Every request gets the hermetic default's one verdict of each kind, not a new one."""
    host_map = {"api.example.test": "127.0.0.1:8080", "api.test": "127.0.0.1:8081"}
    for first, second in [
        (decide("127.0.0.1"), decide("::1", port=443)),
        (decide("example.com"), decide("192.0.2.7")),
        (decide("api.example.test", host_map=host_map), decide("API.test", host_map=host_map)),
        (decide("example.com", hermetic=False), decide("192.0.2.7", hermetic=False)),
        (decide(None, None), decide(None, None)),
    ]:
        assert second is first


def test_mapped_names_are_allowed_whatever_they_map_to() -> None:
    host_map = {"api.example.test": "127.0.0.1:8080", "gone.test": None, "echo.test": ECHO}
    for host in ("api.example.test", "gone.test", "echo.test", "API.Example.Test."):
        assert decide(host, host_map=host_map).allowed
    assert not decide("other.example.test", host_map=host_map).allowed


def test_a_name_port_entry_allows_that_port_only() -> None:
    host_map = {"db.example.test:5432": "127.0.0.1"}
    assert decide("db.example.test", 5432, host_map=host_map).allowed
    assert not decide("db.example.test", 80, host_map=host_map).allowed


def test_not_hermetic_allows_everything() -> None:
    decision = decide("example.com", hermetic=False)
    assert decision.allowed
    assert decision.reason == "hermetic=False"


def test_a_request_without_destination_passes_the_default() -> None:
    assert decide(None, None, command=Command.UDP_ASSOCIATE).allowed


# -- rules --------------------------------------------------------------------------------


def test_first_matching_rule_wins() -> None:
    rules = [Rule.deny(port=25), Rule.allow(host="*.example.com"), Rule.deny()]
    assert not decide("mail.example.com", 25, rules=rules).allowed
    assert decide("www.example.com", 443, rules=rules).allowed
    refused = decide("127.0.0.1", 80, rules=rules)
    assert not refused.allowed
    assert refused.reason == "Rule.deny()"


@pytest.mark.parametrize(
    ("rule", "host", "port", "command", "user", "matches"),
    [
        (Rule.allow(host="*.example.com"), "a.example.com", 1, 1, None, True),
        (Rule.allow(host="*.example.com"), "A.EXAMPLE.COM", 1, 1, None, True),
        (Rule.allow(host="*.example.com"), "example.com", 1, 1, None, False),
        (Rule.allow(network="10.0.0.0/8"), "10.1.2.3", 1, 1, None, True),
        (Rule.allow(network="10.0.0.0/8"), "11.0.0.1", 1, 1, None, False),
        (Rule.allow(network="10.0.0.0/8"), "ten.example", 1, 1, None, False),
        (Rule.allow(network="10.0.0.0/8"), "::ffff:10.0.0.1", 1, 1, None, True),
        (Rule.allow(network="2001:db8::/32"), "2001:db8::5", 1, 1, None, True),
        (Rule.allow(network="2001:db8::/32"), "10.0.0.1", 1, 1, None, False),
        (Rule.allow(port=443), "x", 443, 1, None, True),
        (Rule.allow(port=443), "x", 80, 1, None, False),
        (Rule.allow(port=(8000, 8999)), "x", 8080, 1, None, True),
        (Rule.allow(port=(8000, 8999)), "x", 9000, 1, None, False),
        (Rule.allow(command=Command.BIND), "x", 1, 2, None, True),
        (Rule.allow(command="udp"), "x", 1, 3, None, True),
        (Rule.allow(command="connect"), "x", 1, 2, None, False),
        (Rule.allow(user="ali*"), "x", 1, 1, "alice", True),
        (Rule.allow(user="ali*"), "x", 1, 1, "bob", False),
        (Rule.allow(user="ali*"), "x", 1, 1, None, False),
        (Rule.allow(host="x", port=1, command=1, user="u"), "x", 1, 1, "u", True),
        (Rule.allow(host="x", port=1, command=1, user="u"), "x", 2, 1, "u", False),
        (Rule.allow(host="*"), None, None, 3, None, False),
        (Rule.allow(command="udp"), None, None, 3, None, True),
    ],
)
def test_rule_criteria(rule: Rule, host, port, command, user, matches: bool) -> None:
    assert rule.matches(host=host, port=port, command=command, user=user) is matches


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"action": "maybe"}, "action must be one of 'allow', 'deny', got 'maybe'"),
        ({"action": "allow", "network": "10.0.0.300/8"}, "network"),
        ({"action": "allow", "command": "ftp"}, "command"),
        ({"action": "allow", "port": (9, 1)}, "range"),
    ],
)
def test_bad_rules_are_refused_when_written(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Rule(**kwargs)


def test_rules_read_back_as_code() -> None:
    assert str(Rule.deny(port=25)) == "Rule.deny(port=25)"
    assert (
        str(Rule.allow(host="*.example.com", command="bind", user="alice"))
        == "Rule.allow(host='*.example.com', command=Command.BIND, user='alice')"
    )
    assert Rule.allow(network="10.0.0.0/8") == Rule.allow(network="10.0.0.0/8")


# -- allow patterns -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "rule"),
    [
        ("*.example.com", Rule.allow(host="*.example.com")),
        ("example.com:443", Rule.allow(host="example.com", port=443)),
        ("*:8080", Rule.allow(host="*", port=8080)),
        ("10.0.0.0/8", Rule.allow(network="10.0.0.0/8")),
        ("192.0.2.7", Rule.allow(network="192.0.2.7")),
        ("192.0.2.7:53", Rule.allow(network="192.0.2.7", port=53)),
        ("2001:db8::/32", Rule.allow(network="2001:db8::/32")),
        ("[2001:db8::1]:443", Rule.allow(network="2001:db8::1", port=443)),
        ("[*.v6.example]:1", Rule.allow(host="*.v6.example", port=1)),
        ("  spaced.example  ", Rule.allow(host="spaced.example")),
    ],
)
def test_allow_patterns(pattern: str, rule: Rule) -> None:
    assert parse_allow(pattern) == rule


@pytest.mark.parametrize("pattern", ["", "host:http", "[::1]x"])
def test_bad_allow_patterns(pattern: str) -> None:
    with pytest.raises(ValueError, match=r"^allow must be a host glob or a network"):
        parse_allow(pattern)


# -- what a refusal says --------------------------------------------------------------------


def test_a_default_refusal_says_how_to_allow_it() -> None:
    decision = decide("203.0.113.9")
    message = denial_message(decision, command=Command.CONNECT, host="203.0.113.9", port=80)
    assert message.startswith("CONNECT 203.0.113.9:80 denied by the hermetic default")
    assert 'allow=["203.0.113.9"]' in message
    assert "socks5_allow = 203.0.113.9" in message
    assert "socks5_hermetic = false" in message


def test_an_ipv6_refusal_brackets_the_address() -> None:
    decision = decide("2001:db8::1", 443)
    message = denial_message(decision, command=Command.CONNECT, host="2001:db8::1", port=443)
    assert "CONNECT [2001:db8::1]:443" in message
    assert 'allow=["[2001:db8::1]"]' in message


def test_a_domain_in_brackets_is_shown_as_given() -> None:
    # A name "[::1]" (ATYP DOMAIN) is not an IPv6 address: no second pair of brackets.
    decision = decide("[::1]", 7)
    message = denial_message(decision, command=Command.CONNECT, host="[::1]", port=7)
    assert message.startswith("CONNECT [::1]:7 denied by the hermetic default")
    assert "[[" not in message


def test_a_rule_refusal_names_the_rule() -> None:
    decision = decide("127.0.0.1", 25, rules=[Rule.deny(port=25)])
    message = denial_message(decision, command=Command.CONNECT, host="127.0.0.1", port=25)
    assert message == "CONNECT 127.0.0.1:25 denied by Rule.deny(port=25)"


# -- virtual destinations in the host map -----------------------------------------------


def test_virtual_destinations_come_back_as_they_are() -> None:
    sink = Sink(response=b"hello")
    host_map = {"echo.test": ECHO, "sink.test:25": sink, "api.test": "127.0.0.1:8080"}
    assert map_destination(host_map, "echo.test", 7) is ECHO
    assert map_destination(host_map, "sink.test", 25) == sink
    assert map_destination(host_map, "sink.test", 26) == ("sink.test", 26)
    assert map_destination(host_map, "api.test", 80) == ("127.0.0.1", 8080)
    assert is_mapped(host_map, "ECHO.test.", 1)
    assert not is_mapped(host_map, "other.test", 1)
    assert not is_mapped({}, "echo.test", 1)


def test_unresolvable_names_raise() -> None:
    with pytest.raises(Unresolvable, match=r"gone\.test"):
        map_destination({"gone.test": None}, "gone.test", 80)


def test_targets_are_described_for_records() -> None:
    assert describe_target(("127.0.0.1", 80)) == "127.0.0.1:80"
    assert describe_target(("::1", 53)) == "[::1]:53"
    assert describe_target(ECHO) == "ECHO"
    assert describe_target(Sink()) == "Sink()"
    assert describe_target(Sink(response=b"hello")) == "Sink(response=<5 bytes>)"


# -- UDP fault decisions --------------------------------------------------------------------


def outcomes(faults: UdpFaults, n: int, direction="from_client", data=b"payload"):
    state = faults.start()
    return [state.on_datagram(direction, data) for _ in range(n)]


def test_no_faults_pass_everything_untouched() -> None:
    for action in outcomes(UdpFaults(), 5):
        assert not action.drop
        assert action.data == b"payload"
        assert action.delay == 0
        assert action.applied == ()


def test_drop_with_after_and_limit_drops_exactly_the_chosen_datagram() -> None:
    actions = outcomes(UdpFaults(drop=1.0, after=2, limit=1), 5)
    assert [a.drop for a in actions] == [False, False, True, False, False]
    assert actions[2].applied == ("udp-drop",)


def test_seeded_probabilities_repeat_and_differ_by_seed() -> None:
    first = [a.drop for a in outcomes(UdpFaults(drop=0.5, seed=7), 64)]
    again = [a.drop for a in outcomes(UdpFaults(drop=0.5, seed=7), 64)]
    other = [a.drop for a in outcomes(UdpFaults(drop=0.5, seed=8), 64)]
    assert first == again
    assert first != other
    assert 10 < sum(first) < 54


def test_corrupt_flips_one_payload_byte() -> None:
    (action,) = outcomes(UdpFaults(corrupt=1.0), 1, data=b"\x00" * 16)
    assert not action.drop
    assert len(action.data) == 16
    assert sorted(action.data) == [0] * 15 + [0xFF]
    assert action.applied == ("udp-corrupt",)


def test_corrupt_leaves_an_empty_payload_alone() -> None:
    (action,) = outcomes(UdpFaults(corrupt=1.0), 1, data=b"")
    assert action.data == b""
    assert action.applied == ()


def test_delay_and_direction() -> None:
    faults = UdpFaults(delay=0.25, direction="to_client")
    (untouched,) = outcomes(faults, 1, direction="from_client")
    (delayed,) = outcomes(faults, 1, direction="to_client")
    assert untouched.delay == 0
    assert delayed.delay == 0.25
    assert delayed.applied == ("udp-delay",)


@pytest.mark.parametrize(
    "direction", ["to_client", Direction.TO_CLIENT, "downstream", Direction.DOWNSTREAM]
)
def test_udp_direction_takes_the_fault_words_and_their_aliases(direction) -> None:
    faults = UdpFaults(delay=0.25, direction=direction)
    assert faults.direction is Direction.TO_CLIENT
    assert faults == UdpFaults(delay=0.25, direction="to_client")
    (untouched,) = outcomes(faults, 1, direction="from_client")
    (delayed,) = outcomes(faults, 1, direction=Direction.TO_CLIENT)
    assert (untouched.delay, delayed.delay) == (0, 0.25)


def test_close_control_after_fires_once() -> None:
    state = UdpFaults(close_control_after=3).start()
    assert [state.on_relayed() for _ in range(5)] == [False, False, True, False, False]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"drop": 1.5},
        {"corrupt": -0.1},
        {"delay": -1},
        {"direction": "sideways"},
        {"after": -1},
        {"limit": -2},
        {"close_control_after": 0},
    ],
)
def test_bad_udp_faults_are_refused(kwargs: dict) -> None:
    with pytest.raises(ValueError, match="UdpFaults"):
        UdpFaults(**kwargs)
