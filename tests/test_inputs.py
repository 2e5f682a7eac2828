"""Every input is checked where it is given: each option (constructor, ``configure()``,
ini, flags), each fault argument, ``UdpFaults``, ``Rule`` and ``allow`` patterns, with a
message that names the input, shows the bad value and says what is valid. Also the dry
run ``server.permits()`` and ``host_map``'s IDNA keys."""

# ruff: noqa: E501 (the tables below hold whole messages, one a line, to be read as such)

from __future__ import annotations

import contextlib
import dataclasses
import fnmatch
import ipaddress
import re
import socket
from collections.abc import Callable
from importlib.util import find_spec
from types import SimpleNamespace
from typing import Any

import httpx
import pytest

from pytest_socks5 import (
    ECHO,
    Command,
    ConnectionRecord,
    NoMatchingConnection,
    Outcome,
    Permission,
    Rule,
    Sink,
    SOCKS5Server,
    Timings,
    UdpFaults,
    faults,
    proxy_url,
    testing,
)
from pytest_socks5._conversation import MESSAGE_NAMES
from pytest_socks5._environ import ProxyEnvironment
from pytest_socks5._fault_checks import FIELD_CHECKS, OWN_CHECKS
from pytest_socks5._fault_types import Fault
from pytest_socks5._hosts import check_host_map, map_destination
from pytest_socks5._options import OPTIONS, Site, names
from pytest_socks5._records import HANDSHAKE_NAMES
from pytest_socks5._replies import Socks5Replies
from pytest_socks5._rules import parse_allow
from pytest_socks5.faults import every_split
from pytest_socks5.rawclient import recv_exactly, reply_code
from pytest_socks5.rawclient import tunnel as socks5_tunnel

INI = "[pytest]\n" + (
    "asyncio_default_fixture_loop_scope = function\n" if find_spec("pytest_asyncio") else ""
)

# -- options --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "error", "message"),
    [
        ({"connect_timeout": "fast"}, TypeError, "connect_timeout must be a number > 0, got 'fast' (str)"),
        ({"connect_timeout": 0}, ValueError, "connect_timeout must be a number > 0, got 0"),
        ({"handshake_timeout": -1}, ValueError, "handshake_timeout must be None or 0 (no limit), or a number > 0, got -1"),
        ({"idle_timeout": "5"}, TypeError, "idle_timeout must be None or 0 (no limit), or a number > 0, got '5' (str)"),
        ({"bind_timeout": float("nan")}, ValueError, "bind_timeout must be a number > 0, got nan"),
        (
            {"host_map": {"api.test": 8080}},
            TypeError,
            "host_map['api.test'] must be an \"address[:port]\" string, ECHO, a Sink or None, "
            "got 8080 (int) (did you mean '127.0.0.1:8080'?)",
        ),
        (
            {"host_map": {"api.test": "127.0.0.1:99999"}},
            ValueError,
            "host_map['api.test'] port must be a port from 0 to 65535, got 99999",
        ),
        (
            {"users": "alice:s3cret"},
            TypeError,
            "users must be a {name: password} mapping or (name, password) pairs, got the string "
            "'alice:***'; for one user: users={'alice': '…'}",
        ),
        ({"users": {"": "x"}}, ValueError, "users: a user name must be 1 to 255 bytes (RFC 1929), got ''"),
        ({"users": {"alice": 1}}, TypeError, "users['alice']: the password must be a str or bytes, got a value of type int"),
        ({"users": {1: "x"}}, TypeError, "users[1]: the user name must be a str or bytes, got 1 (int)"),
        ({"users": [("alice",)]}, TypeError, "users must be a {name: password} mapping or (name, password) pairs; item 0 is not a pair (a tuple)"),
        (
            {"users": {"alice": "TOPSECRET" + "x" * 300}},
            ValueError,
            "users: the password of 'alice' is 309 bytes; RFC 1929 usernames and passwords are "
            "at most 255 bytes",
        ),
        ({"users": [("alice", "a"), ("alice", "TOPSECRET")]}, ValueError, "users: the user 'alice' is given twice; give each user once"),
        ({"users": {"alice": "a", b"alice": b"b"}}, ValueError, "users: the user 'alice' is given twice; give each user once"),
        ({"capture_payload": -5}, ValueError, "capture_payload must be a whole number >= 0, got -5"),
        ({"capture_payload": True}, TypeError, "capture_payload must be a whole number >= 0, got True (bool)"),
        ({"hermetic": "no"}, TypeError, "hermetic must be True or False, got 'no' (str)"),
        ({"socks4": 1}, TypeError, "socks4 must be True or False, got 1 (int)"),
        ({"splice": None}, TypeError, "splice must be True or False, got None (NoneType)"),
        ({"rules": "deny"}, TypeError, "rules must be a list of Rule values, got 'deny' (str)"),
        ({"faults": "stall"}, TypeError, "faults must be a list of faults, such as [Stall(at='reply')], got 'stall' (str)"),
        ({"faults": ["stall"]}, TypeError, "faults[0] must be a fault from pytest_socks5.faults, got 'stall' (str)"),
        ({"socks4_user_ids": [1]}, TypeError, "socks4_user_ids[0] must be a str or bytes, got 1 (int)"),
        ({"socks4_user_ids": ["a\x00b"]}, ValueError, "socks4_user_ids[0] must be a USERID without a NUL byte, got 'a\\x00b' (the NUL ends it)"),
        ({"socks4_user_ids": ["x", "y" * 1025]}, ValueError, f"socks4_user_ids[1] must be a USERID of at most 1024 bytes, got '{'y' * 76}... (1025 bytes: it could never match)"),
        ({"socks4_user_id_reply": 0x5A}, ValueError, "socks4_user_id_reply must be 0x5B, 0x5C or 0x5D (Socks4Reply.REJECTED, IDENTD_UNREACHABLE or IDENTD_MISMATCH), got 90"),
        ({"socks4_user_id_reply": "x"}, TypeError, "socks4_user_id_reply must be 0x5B, 0x5C or 0x5D (Socks4Reply.REJECTED, IDENTD_UNREACHABLE or IDENTD_MISMATCH), got 'x' (str)"),
        ({"max_connections": -1}, ValueError, "max_connections must be None or a whole number >= 0, got -1"),
        ({"max_records": 1.5}, TypeError, "max_records must be None or a whole number >= 0, got 1.5 (float)"),
        ({"seed": "1"}, TypeError, "seed must be a whole number, got '1' (str)"),
        ({"loop": "uvlop"}, ValueError, "loop must be one of 'auto', 'uvloop', 'asyncio', got 'uvlop' (did you mean uvloop?)"),
        ({"host": ""}, ValueError, "host must be a listen address such as 127.0.0.1, ::1 or localhost (both), got '' (an empty host would listen on every interface: an open proxy)"),
        ({"host": "[::1]"}, ValueError, "host must be a listen address such as 127.0.0.1, ::1 or localhost (both), got '[::1]': write an IPv6 address without brackets (::1)"),
        ({"host": "127.0.0.1 "}, ValueError, "host must be a listen address such as 127.0.0.1, ::1 or localhost (both), got '127.0.0.1 ': without the spaces (127.0.0.1)"),
        ({"host": "127.0.0.1:1080"}, ValueError, "host must be a listen address such as 127.0.0.1, ::1 or localhost (both), got '127.0.0.1:1080': a host without a port (127.0.0.1); the port is given on its own"),
        ({"host": "[::1]:1080"}, ValueError, "host must be a listen address such as 127.0.0.1, ::1 or localhost (both), got '[::1]:1080': a host without a port (::1); the port is given on its own"),
        ({"port": 70000}, ValueError, "port must be a port from 0 to 65535 (0 picks a free one), got 70000"),
        ({"backlog": -1}, ValueError, "backlog must be a whole number from 0 to 2147483647 (a C int, as listen() takes), got -1"),
        ({"backlog": 2**40}, ValueError, "backlog must be a whole number from 0 to 2147483647 (a C int, as listen() takes), got 1099511627776"),
        ({"validator": "yes"}, TypeError, "validator must be None or a callable, got 'yes' (str)"),
        ({"udp_faults": {"drop": 1}}, TypeError, "udp_faults must be None or a UdpFaults, got {'drop': 1} (dict)"),
    ],
)  # fmt: skip
def test_a_bad_option_is_refused_by_the_constructor_with_what_is_valid(
    options: dict[str, Any], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=f"^{re.escape(message)}$"):
        SOCKS5Server(**options)


@pytest.mark.parametrize(
    ("call", "where", "site"),
    [
        (lambda: SOCKS5Server(user={}), "SOCKS5Server()", Site.CONSTRUCTOR),
        (lambda: SOCKS5Server().configure(user={}), "configure()", Site.CONFIGURE),
    ],
)
def test_an_unknown_option_is_a_type_error_naming_where_it_was_given(
    call: Any, where: str, site: Site
) -> None:
    """As Python's unexpected keyword: a TypeError (no private type), with the place, the
    nearest name and the valid ones."""
    with pytest.raises(TypeError) as caught:
        call()
    assert type(caught.value) is TypeError
    known = ", ".join(names(site))
    assert str(caught.value) == (
        f"{where}: unknown option(s): user (did you mean users?); known: {known}"
    )


def test_the_largest_backlog_the_check_takes_is_one_listen_takes(
    make_server: Callable[..., SOCKS5Server],
) -> None:
    """The bound is listen()'s C int on every loop (uvloop raised OverflowError at start
    for a larger one); the kernel caps it at its own limit."""
    server = make_server(backlog=2**31 - 1)
    assert server.is_running


@pytest.mark.parametrize("name", names(Site.CONSTRUCTOR))
def test_every_option_of_the_table_checks_its_type(name: str) -> None:
    """Systematic: no option takes any value at all (``object()`` suits none of them)."""
    with pytest.raises(TypeError, match=rf"^{name}\b.* must be .*got <object object"):
        SOCKS5Server(**{name: object()})


@pytest.mark.parametrize(
    "name", [o.name for o in OPTIONS if Site.CONSTRUCTOR in o.sites and type(o.default) is int]
)
def test_no_whole_number_option_takes_a_bool(name: str) -> None:
    with pytest.raises(TypeError, match=rf"^{name} must be .*got True \(bool\)"):
        SOCKS5Server(**{name: True})


def test_configure_checks_the_same_way_and_changes_nothing_on_a_mistake() -> None:
    server = SOCKS5Server()
    before = server._engine.config
    with pytest.raises(ValueError, match=r"^idle_timeout must be None or 0 .*, got -1$"):
        server.configure(socks4=False, idle_timeout=-1)
    assert server._engine.config is before
    server.configure(idle_timeout=5, handshake_timeout=5)
    server.configure(idle_timeout=0, handshake_timeout=0)  # 0: no limit, as on the CLI
    assert server._engine.config.idle_timeout is None
    assert server._engine.config.handshake_timeout is None


# -- faults, UdpFaults, Rule ------------------------------------------------------------------

FAULT_CLASSES = [
    getattr(faults, name)
    for name in faults.__all__
    if isinstance(getattr(faults, name), type)
    and issubclass(getattr(faults, name), Fault)
    and not getattr(faults, name).__name__.startswith("_")
    and getattr(faults, name) is not Fault
]


def test_every_field_of_every_fault_has_a_check() -> None:
    assert FAULT_CLASSES
    for cls in FAULT_CLASSES:
        for field in dataclasses.fields(cls):
            assert field.name in FIELD_CHECKS or field.name in OWN_CHECKS, (cls, field.name)


@pytest.mark.parametrize(
    ("cls", "field"),
    [(cls, f.name) for cls in FAULT_CLASSES for f in dataclasses.fields(cls)],
    ids=lambda v: v if isinstance(v, str) else v.__name__,
)
def test_every_fault_argument_checks_its_type(cls: type[Fault], field: str) -> None:
    kwargs: dict[str, Any] = {field: object()}
    if cls is faults.ResetAfter and field not in ("after", "seconds"):
        kwargs["after"] = 1
    if cls is faults.FunctionFault and field != "function":
        kwargs["function"] = bytes  # its one required argument
    with pytest.raises(TypeError, match=rf"^{cls.__name__}: {field} must be .*got <object"):
        cls(**kwargs)


BOUND_HINT = "; another bound_type fits other hosts, and raw= sends address bytes as given"


@pytest.mark.parametrize(
    ("make", "error", "message"),
    [
        (lambda: faults.Stall(at="handshake"), ValueError, "Stall: at must be one of 'greeting', 'auth', 'request', 'reply', got 'handshake'"),
        (lambda: faults.ReplyWith(reply=999), ValueError, "ReplyWith: reply must be a byte from 0 to 255, got 999"),
        (lambda: faults.Latency(seconds=-1), ValueError, "Latency: seconds must be a number >= 0, got -1"),
        (lambda: faults.Fragment(size=0), ValueError, "Fragment: size must be None or a whole number >= 1, got 0"),
        (lambda: faults.Fragment(size=1, split=2), ValueError, "Fragment takes size= (slices of N bytes) or split= (two pieces: N bytes, then the rest), not both; got size=1, split=2: choose one"),
        (lambda: faults.Stall(times=1, nth=2), ValueError, "Stall takes times= (the first N matching connections) or nth= (only the Nth), not both; got times=1, nth=2: choose one"),
        (lambda: faults.CloseAfter(times=3, nth=1), ValueError, "CloseAfter takes times= (the first N matching connections) or nth= (only the Nth), not both; got times=3, nth=1: choose one"),
        (lambda: faults.Slicer(size=0), ValueError, "Slicer: size must be a whole number >= 1, got 0"),
        (lambda: faults.Bandwidth(bytes_per_second=0), ValueError, "Bandwidth: bytes_per_second must be a whole number >= 1, got 0"),
        (lambda: faults.Blackhole(after=-1), ValueError, "Blackhole: after must be a whole number >= 0, got -1"),
        (lambda: faults.ForceMethod(method=256), ValueError, "ForceMethod: method must be a byte from 0 to 255, got 256"),
        (lambda: faults.Close(reset="yes"), TypeError, "Close: reset must be True or False, got 'yes' (str)"),
        (lambda: faults.Truncate(then="stal"), ValueError, "Truncate: then must be one of 'close', 'stall', got 'stal' (did you mean stall?)"),
        (lambda: faults.RawAnswer(data="\x05\x00"), TypeError, "RawAnswer: data must be bytes, got '\\x05\\x00' (str)"),
        (lambda: faults.Stall(times=True), TypeError, "Stall: times must be None or a whole number >= 1, got True (bool)"),
        (lambda: faults.Stall(probability=1.5), ValueError, "Stall: probability must be None or a number from 0 to 1, got 1.5"),
        (lambda: faults.Stall(at="reply", port=-1), ValueError, "Stall: port must be None or a port from 0 to 65535, got -1"),
        (lambda: faults.Close(client="10.0.0.0/8"), ValueError, "Close: client must be None or a client address, exact or a glob, got '10.0.0.0/8': a network in CIDR form never matches an address; write the glob '10.*'"),
        (lambda: faults.Latency(direction="upstreem"), ValueError, "Latency: direction must be one of 'from_client', 'to_client', 'both', 'upstream', 'downstream', got 'upstreem' (did you mean upstream?)"),
        (lambda: UdpFaults(drop=2), ValueError, "UdpFaults: drop must be a number from 0 to 1, got 2"),
        (lambda: UdpFaults(after=True), TypeError, "UdpFaults: after must be a whole number >= 0, got True (bool)"),
        (lambda: UdpFaults(direction="in"), ValueError, "UdpFaults: direction must be one of 'from_client', 'to_client', 'both', 'upstream', 'downstream', got 'in'"),
        (lambda: Rule.allow(port=70000), ValueError, "Rule: port must be a port from 0 to 65535, got 70000"),
        (lambda: Rule.allow(port=(1, "2")), TypeError, "Rule: port[1] must be a port from 0 to 65535, got '2' (str)"),
        (lambda: Rule.allow(command="conect"), ValueError, "Rule: command must be one of 'connect', 'bind', 'udp', 'udp_associate' (any case) or a Command, got 'conect' (did you mean connect?)"),
        (lambda: Rule.allow(command="UDP-Associate"), ValueError, "Rule: command must be one of 'connect', 'bind', 'udp', 'udp_associate' (any case) or a Command, got 'UDP-Associate' (did you mean udp_associate?)"),
        (lambda: Rule.allow(command=9), ValueError, "Rule: command must be one of 'connect', 'bind', 'udp', 'udp_associate' (any case) or a Command, got 9"),
        (lambda: Rule.allow(host="[::1]"), ValueError, "Rule: host must be a host name, address or glob, got '[::1]': an IPv6 address is written without brackets (::1)"),
        (lambda: faults.Close(host="[::1]"), ValueError, "Close: host must be None or a host name, address or glob, got '[::1]': an IPv6 address is written without brackets (::1)"),
        (lambda: Rule.allow(host="bad name.test"), ValueError, "Rule: host must be a host name, address or glob without spaces, got 'bad name.test'"),
        (lambda: Rule.allow(host="300.1.1.1"), ValueError, "Rule: host must be an IPv4 address, got '300.1.1.1'"),
        (lambda: Rule.deny(user=7), TypeError, "Rule: user must be a str, got 7 (int)"),
        (lambda: faults.BoundAddress(bound_host="notanip"), ValueError, "BoundAddress: bound_host must be an IPv4 address for bound_type 0x01 (IPV4), got 'notanip'" + BOUND_HINT),
        (lambda: faults.BoundAddress(bound_type=4, bound_host="127.0.0.1"), ValueError, "BoundAddress: bound_host must be an IPv6 address for bound_type 0x04 (IPV6), got '127.0.0.1'" + BOUND_HINT),
        (lambda: faults.BoundAddress(bound_type=4, bound_host="[::1]"), ValueError, "BoundAddress: bound_host must be an IPv6 address for bound_type 0x04 (IPV6), got '[::1]': an IPv6 address is written without brackets (::1)"),
        (lambda: faults.BoundAddress(bound_type=4), ValueError, "BoundAddress: bound_host must be an IPv6 address for bound_type 0x04 (IPV6), got '0.0.0.0'" + BOUND_HINT),
        (lambda: faults.BoundAddress(bound_type=3, bound_host="x" * 256), ValueError, f"BoundAddress: bound_host must be a name of 1 to 255 bytes for bound_type 0x03 (DOMAIN), got '{'x' * 76}..." + BOUND_HINT),
        (lambda: faults.BoundAddress(bound_type=3, bound_host=""), ValueError, "BoundAddress: bound_host must be a name of 1 to 255 bytes for bound_type 0x03 (DOMAIN), got ''" + BOUND_HINT),
    ],
)  # fmt: skip
def test_a_bad_fault_argument_is_refused_when_written(
    make: Any, error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=f"^{re.escape(message)}$"):
        make()


@pytest.mark.parametrize(
    "network",
    ["10.0.0.0/8", "10.1.2.0/24", "127.0.0.0/16", "0.0.0.0/0", "10.16.0.0/12", "fd00::/8"],
)
def test_a_client_network_is_refused_with_what_selects_exactly_its_addresses(
    network: str,
) -> None:
    """The hint is something to paste: the glob or the ``when=`` it names selects the
    network's first and last addresses and not the ones just outside it."""
    with pytest.raises(ValueError, match="never matches an address") as caught:
        faults.Close(client=network)
    net = ipaddress.ip_network(network)
    inside = [net.network_address, net.broadcast_address]
    outside = []
    for step in (lambda: net.network_address - 1, lambda: net.broadcast_address + 1):
        with contextlib.suppress(ipaddress.AddressValueError):  # 0.0.0.0/0 has no outside
            outside.append(step())
    glob = re.search(r"write the glob '([^']*)'", str(caught.value))
    predicate = re.search(r"select with (when=.*)$", str(caught.value))
    assert (glob is None) != (predicate is None), caught.value
    if glob:
        selects = lambda a: fnmatch.fnmatchcase(str(a), glob[1])  # noqa: E731
    else:
        when = eval(predicate[1].removeprefix("when="), {"ipaddress": ipaddress})
        selects = lambda a: when(SimpleNamespace(client_address=(str(a), 1080)))  # noqa: E731
    assert all(selects(a) for a in inside)
    assert not any(selects(a) for a in outside)


def test_a_client_address_with_a_full_prefix_is_refused_with_the_address() -> None:
    with pytest.raises(ValueError, match=re.escape("write the address '127.0.0.1'") + "$"):
        faults.Close(client="127.0.0.1/32")


def test_a_fragment_slices_by_one_byte_unless_it_splits() -> None:
    assert faults.Fragment().size == 1
    assert faults.Fragment(split=2).size is None
    assert faults.Fragment(split=2).describe() == "Fragment(delay=0.01, split=2)"
    assert faults.Fragment() == faults.Fragment(size=1)


def test_good_fault_arguments_are_kept_as_given() -> None:
    assert faults.ReplyWith(reply=0x09).reply == 0x09  # an unassigned code is a test case
    assert faults.Stall(at="auth", port=None).phase is faults.Phase.AUTH
    assert faults.Latency(seconds=0, jitter=0.5).seconds == 0
    assert Rule.allow(port=(80, 443), command=Command.BIND).port == (80, 443)


@pytest.mark.parametrize(
    ("fault", "wire"),
    [
        (faults.BoundAddress(bound_type=0x00), "00"),  # no encoding: no address bytes
        (faults.BoundAddress(bound_type=0x09, bound_host="any"), "09"),
        (faults.BoundAddress(bound_type=0x01, bound_host="not an ip", raw=b"\x01\x02"), "010102"),
        (faults.BoundAddress(bound_type=0x03, bound_host="1.2.3.4"), "0307312e322e332e34"),
        (faults.BoundAddress(bound_type=0x03, bound_host="x" * 255), "03ff" + "78" * 255),
        (faults.BoundAddress(bound_type=0x04, bound_host="::1"), "04" + "00" * 15 + "01"),
    ],
    ids=repr,
)
def test_deliberately_odd_bound_addresses_are_kept_and_encode(
    fault: faults.BoundAddress, wire: str
) -> None:
    reply = Socks5Replies().failure(0x01, [fault]).to_bytes()
    assert reply.hex() == "050100" + wire + "0000"


# -- allow patterns ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "message"),
    [
        ("10.0.0.0/33", "allow must be an IP network such as '10.0.0.0/8', got '10.0.0.0/33': '33' is not a valid netmask"),
        ("example.test:99999", "allow 'example.test:99999': port must be a port from 0 to 65535, got 99999"),
        ("[2001:db8::1", "allow must be a host glob or a network, optionally with :port ([IPv6]:port), got '[2001:db8::1'"),
        ("300.1.1.1", "allow must be an IPv4 address, got '300.1.1.1'"),
        ("bad name.test", "allow must be a host name, address or glob without spaces, got 'bad name.test'"),
        ("2001:db8::1:443", None),  # a valid IPv6 address, not a port
        ("a:b:c", "allow must be a host glob or a network, optionally with :port, got 'a:b:c' (an IPv6 address with a port is written [addr]:port)"),
    ],
)  # fmt: skip
def test_allow_patterns_that_do_not_parse_are_refused(pattern: str, message: str | None) -> None:
    if message is None:
        assert parse_allow(pattern) == Rule.allow(network=pattern)
        return
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        parse_allow(pattern)


def test_one_allow_pattern_is_a_pattern_not_a_sequence_of_letters() -> None:
    server = SOCKS5Server(allow="*.example.test")
    assert server._engine.config.allow == (Rule.allow(host="*.example.test"),)


# -- ini and command line: a usage error naming the setting ----------------------------------


@pytest.mark.parametrize(
    ("ini", "args", "message"),
    [
        ("socks5_capture_payload = -5", [], "*ini option socks5_capture_payload: capture_payload must be a whole number >= 0, got -5"),
        ("socks5_hermetic = no way", [], "*ini option socks5_hermetic: socks5_hermetic must be one of true/false, yes/no, on/off, got 'no way'"),
        ("socks5_show_passwords = Maybe", [], "*ini option socks5_show_passwords: socks5_show_passwords must be one of true/false, yes/no, on/off, got 'Maybe'"),
        ("socks5_leak_guard =", [], "*ini option socks5_leak_guard: socks5_leak_guard must be one of true/false, yes/no, on/off, got ''"),
        ("socks5_transcript = some", [], "*ini option socks5_transcript: socks5_transcript must be one of 'failed', 'all', 'never', got 'some'"),
        ("socks5_transcript = Failed", [], "*ini option socks5_transcript: socks5_transcript must be one of 'failed', 'all', 'never', got 'Failed' (did you mean failed?)"),
        ("socks5_hermetic = OFF", [], None),
        ("socks5_leak_guard = 1", [], None),  # pytest's own words still do
        ("socks5_allow = 10.0.0.0/33", [], "*ini option socks5_allow: allow[[]0] must be an IP network*"),
        ("socks5_users = alice", [], "*ini option socks5_users: *expected NAME:PASSWORD*'alice'*"),
        ("socks5_users = alice:a alice:TOPSECRET", [], "*ini option socks5_users: socks5 users: the user 'alice' is given twice; give each user once"),
        ("", ["--socks5-user=bob:b", "--socks5-user=bob:c"], "*--socks5-user: socks5 users: the user 'bob' is given twice; give each user once"),
        ("", ["--socks5-pcap=tox.ini/caps"], "*--socks5-pcap: cannot write to the directory '*tox.ini/caps': Not a directory"),
        ("socks5_record_dir = tox.ini", [], "*ini option socks5_record_dir: cannot write to the directory '*tox.ini': a file, not a directory"),
        ("", ["--socks5-record-dir=tox.ini/records"], "*--socks5-record-dir: cannot write to the directory '*tox.ini/records': Not a directory"),
        ("socks5_record_dir = true", [], "*ini option socks5_record_dir: socks5_record_dir is a directory (leave it out for none), got 'true'; write ./true for a directory of that name"),
        ("", ["--socks5-capture-payload=-1"], "*--socks5-capture-payload: capture_payload must be a whole number >= 0, got -1"),
        ("", ["--socks5-host=7"], None),
        ("socks5_host = [::1]", [], "*ini option socks5_host: host must be a listen address such as 127.0.0.1, ::1 or localhost (both), got '[[]::1]': write an IPv6 address without brackets (::1)"),
        ("socks5_host =", [], "*ini option socks5_host: host must be a listen address *, got '' (an empty host would listen on every interface: an open proxy)"),
        ("socks5_host = ::1", ["--socks5-host="], "*--socks5-host: host must be a listen address *, got '' (an empty host*"),
        ("", ["--socks5-host=127.0.0.1:80"], "*--socks5-host: host must be a listen address *, got '127.0.0.1:80': a host without a port (127.0.0.1); the port is given on its own"),
    ],
)  # fmt: skip
def test_a_bad_ini_or_flag_value_is_a_usage_error(
    pytester: pytest.Pytester, ini: str, args: list[str], message: str | None
) -> None:
    pytester.makeini(INI + ini + "\n")
    pytester.makepyfile("def test_x():\n    pass\n")
    result = pytester.runpytest_inprocess("-p", "no:randomly", *args)
    if message is None:
        assert result.ret == 0
        return
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: pytest-socks5: " + message])


# -- host_map keys: IDNA ------------------------------------------------------------------------


def test_host_map_keys_are_idna_normalised_both_ways() -> None:
    unicode_key = check_host_map("host_map", {"Bücher.Example.Test.": "127.0.0.1:1"})
    assert unicode_key == {"xn--bcher-kva.example.test": "127.0.0.1:1"}
    assert map_destination(unicode_key, "xn--bcher-kva.example.test", 80) == ("127.0.0.1", 1)
    assert map_destination(unicode_key, "bücher.example.test", 80) == ("127.0.0.1", 1)
    ascii_key = check_host_map("host_map", {"xn--bcher-kva.example.test:80": ECHO})
    assert map_destination(ascii_key, "BÜCHER.example.test", 80) is ECHO
    assert map_destination(ascii_key, "bücher.example.test", 81) == ("bücher.example.test", 81)
    # A key IDNA cannot encode is refused where it is given (a client's request for such a
    # name is still compared as written: see test_security.py).
    with pytest.raises(ValueError, match="IDNA cannot encode it"):
        check_host_map("host_map", {"Evil\u202e.test": None})


@pytest.mark.parametrize(
    ("key", "message"),
    [
        ("a..b.test", "host_map key 'a..b.test' cannot be used: 'a..b.test' is not a domain name: a label is empty or over 63 bytes"),
        ("ü" * 32 + ".test", "host_map key '*' cannot be used: * is not a domain name: a label is empty or over 63 bytes"),
        ("api.test:http", "host_map key 'api.test:http' cannot be used: the port 'http' is not a number"),
        ("api.test:70000", "host_map key 'api.test:70000' cannot be used: its port must be a port from 0 to 65535, got 70000"),
        ("[::1", "host_map key '[::1' cannot be used: an IPv6 key is written [address] or [address]:port"),
        ("two words", "host_map key 'two words' cannot be used: a name cannot be empty or hold spaces"),
    ],
)  # fmt: skip
def test_host_map_keys_that_cannot_be_normalised_are_refused(key: str, message: str) -> None:
    with pytest.raises(ValueError, match=fnmatch.translate(message.replace("[", "[[]"))):
        SOCKS5Server(host_map={key: ECHO})


def test_a_unicode_host_map_key_serves_the_idna_name_a_client_sends() -> None:
    server = SOCKS5Server(host_map={"bücher.example.test": ECHO})
    with server, socks5_tunnel(server.address, "bücher.example.test", 80) as (sock, reply):
        assert reply_code(reply) == 0
        sock.sendall(b"ping")
        assert recv_exactly(sock, 4) == b"ping"
    (record,) = server.connections
    assert record.host == "xn--bcher-kva.example.test"
    assert record.mapped_to == "ECHO"


# -- host_map values and virtual destinations --------------------------------------------------


@pytest.mark.parametrize(
    ("value", "hint"),
    [
        ("nothost", "('nothost' is not an IP address or localhost, the one name a value can be)"),
        ("nothost:8080", "('nothost' is not an IP address or localhost, the one name a value can be)"),
        ("localhost.test:8080", "('localhost.test' is not an IP address or localhost, the one name a value can be)"),
        ("127.0.0.1%eth0:80", "('127.0.0.1%eth0' is not an IP address or localhost, the one name a value can be)"),
        ("[localhost]:8080", "('localhost' is not an IPv6 address; brackets hold one)"),
        ("[127.0.0.1]:80", "('127.0.0.1' is not an IPv6 address; brackets hold one)"),
    ],
)  # fmt: skip
def test_a_host_map_value_that_is_not_an_address_is_refused(value: str, hint: str) -> None:
    message = f"host_map['a.test'] must be an \"address[:port]\" string, ECHO, a Sink or None, got {value!r} {hint}"
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        SOCKS5Server(host_map={"a.test": value})
    server = SOCKS5Server()
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        server.configure(host_map={"a.test": value})


def test_host_map_values_are_addresses_with_an_optional_port() -> None:
    values = ["127.0.0.1", "127.0.0.1:8080", "::1", "[::1]", "[::1]:53", "192.0.2.7:80"]
    checked = check_host_map("host_map", {f"h{i}.test": v for i, v in enumerate(values)})
    assert list(checked.values()) == values


@pytest.mark.parametrize(
    ("make", "error", "message"),
    [
        (lambda: Sink(response="hello"), TypeError, "Sink: response must be bytes, got 'hello' (str) (did you mean b'hello'?)"),
        (lambda: Sink(response=5), TypeError, "Sink: response must be bytes, got 5 (int)"),
        (lambda: Sink(on_connect="yes"), TypeError, "Sink: on_connect must be True or False, got 'yes' (str)"),
        (lambda: Sink(close=None), TypeError, "Sink: close must be True or False, got None (NoneType)"),
    ],
)  # fmt: skip
def test_a_bad_sink_is_refused_when_written(
    make: Any, error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=f"^{re.escape(message)}$"):
        make()


def test_a_sink_keeps_any_bytes_like_response_as_bytes() -> None:
    sink = Sink(response=bytearray(b"hi"))
    assert sink.response == b"hi"
    assert type(sink.response) is bytes
    assert Sink(response=memoryview(b"hi")) == sink
    server = SOCKS5Server(host_map={"sink.test": sink})
    with server, socks5_tunnel(server.address, "sink.test", 80) as (sock, reply):
        assert reply_code(reply) == 0
        sock.sendall(b"x")
        assert recv_exactly(sock, 2) == b"hi"


# -- the API's own arguments ---------------------------------------------------------------------


OUTCOMES = ", ".join(f"Outcome.{o.name}" for o in Outcome)


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (lambda s: s.wait_for_connections("1", timeout=0), TypeError, "wait_for_connections(): count must be a whole number >= 0, got '1' (str)"),
        (lambda s: s.wait_for_connections(-1, timeout=0), ValueError, "wait_for_connections(): count must be a whole number >= 0, got -1"),
        (lambda s: s.wait_for_connections(1, timeout=-1), ValueError, "wait_for_connections(): timeout must be a number >= 0, got -1"),
        (lambda s: s.wait_for_connections(1, timeout=0, ended="yes"), TypeError, "wait_for_connections(): ended must be True or False, got 'yes' (str)"),
        (lambda s: s.assert_connected(count=-1), ValueError, "count must be None or a whole number >= 1, got -1"),
        (lambda s: s.assert_connected(count="2"), TypeError, "count must be None or a whole number >= 1, got '2' (str)"),
        (lambda s: s.assert_connected(count=0), ValueError, "count must be None or a whole number >= 1, got 0: for none, use assert_not_connected()"),
        (lambda s: s.assert_no_auth(count=1.0), TypeError, "count must be None or a whole number >= 1, got 1.0 (float)"),
        (lambda s: s.find_connections(outcome="clossed"), TypeError, f"outcome must be an Outcome ({OUTCOMES}) or a predicate, got 'clossed' (str) (did you mean Outcome.CLOSED?)"),
        (lambda s: s.assert_connected(outcome="closed"), TypeError, f"outcome must be an Outcome ({OUTCOMES}) or a predicate, got 'closed' (str) (did you mean Outcome.CLOSED?)"),
        (lambda s: s.assert_connected(address_type="domian"), TypeError, "address_type must be a number or an AddressType (AddressType.IPV4, AddressType.DOMAIN, AddressType.IPV6) or a predicate, got 'domian' (str) (did you mean AddressType.DOMAIN?)"),
        (lambda s: s.find_connections(command="connect"), TypeError, "command must be a number or a Command (Command.CONNECT, Command.BIND, Command.UDP_ASSOCIATE) or a predicate, got 'connect' (str) (did you mean Command.CONNECT?)"),
        (lambda s: s.assert_not_connected(closed_how="rts"), ValueError, "closed_how must be one of 'fin', 'rst', 'error', a glob or a predicate, got 'rts' (did you mean 'rst'?)"),
        (lambda s: s.wait_for_connections(timeout=0, closed_by="proxy"), ValueError, "closed_by must be one of 'client', 'upstream', 'server', a glob or a predicate, got 'proxy'"),
        (lambda s: s.assert_connected(host=1), TypeError, "host must be None, a str, a glob or a predicate, got 1 (int)"),
        (lambda s: s.find_connections(port="80"), TypeError, "port must be None, a whole number or a predicate, got '80' (str)"),
        (lambda s: s.assert_not_connected(port=True), TypeError, "port must be None, a whole number or a predicate, got True (bool)"),
        (lambda s: s.find_connections(raw_password="s3cret"), TypeError, "raw_password must be None, bytes or a predicate, got a str (not shown)"),
        (lambda s: s.find_connections(succeeded=None), TypeError, "succeeded must be True, False or a predicate, got None (NoneType)"),
        (lambda s: s.find_connections(http_statuses="404"), TypeError, "http_statuses must be a whole number, a tuple or a predicate, got '404' (str)"),
        (lambda s: s.assert_sent("hello"), TypeError, "assert_sent(): data must be bytes, such as b\"hello\", got 'hello' (str) (did you mean b'hello'?)"),
        (lambda s: s.assert_received(5), TypeError, "assert_received(): data must be bytes, such as b\"hello\", got 5 (int)"),
        (lambda s: s.assert_auth("a", 1), TypeError, "assert_auth(): password must be None, a str or bytes, got 1 (int)"),
        (lambda s: s.assert_auth(["alice"]), TypeError, "assert_auth(): username must be None, a str or bytes, got ['alice'] (list)"),
        (lambda s: s.assert_auth(authenticated="yes"), TypeError, "assert_auth(): authenticated must be True, False or None (either), got 'yes' (str)"),
        (lambda s: s.assert_remote_dns(1), TypeError, "assert_remote_dns(): host must be a str, got 1 (int)"),
        (lambda s: s.assert_local_dns(b"a.test"), TypeError, "assert_local_dns(): host must be None or a str, got b'a.test' (bytes)"),
        (lambda s: s.assert_no_local_dns(host=1), TypeError, "assert_no_local_dns(): host must be None or a str, got 1 (int)"),
        (lambda s: s.assert_no_local_dns(host=b"localhost"), TypeError, "assert_no_local_dns(): host must be None or a str, got b'localhost' (bytes)"),
        (lambda s: s.proxy_env(scheme="socks7"), ValueError, "proxy_env(): scheme must be one of 'socks5', 'http', got 'socks7' (did you mean socks5?)"),
        (lambda s: s.url_for("ftp"), ValueError, "url_for(): scheme must be one of 'socks5', 'socks5h', 'socks4', 'socks4a', 'http', got 'ftp'"),
        (lambda s: s.url_for(password="p"), ValueError, "url_for(): password needs a username (a URL holds a password only after a user name, as user:password@host), got username=None"),
        (lambda s: s.url_for(username=b"u"), TypeError, "url_for(): username must be None or a str, got b'u' (bytes)"),
        (lambda s: s.url_for(username="u", password=1234), TypeError, "url_for(): password must be None or a str, got 1234 (int)"),
        (lambda s: s.proxy_env(no_proxy=5), TypeError, "proxy_env(): no_proxy must be None or a str, got 5 (int)"),
        (lambda s: s.proxy_env(no_proxy=["a.test"]), TypeError, "proxy_env(): no_proxy must be None or a str, got ['a.test'] (list)"),
        (lambda s: s.proxy_env(remote_dns="yes"), TypeError, "proxy_env(): remote_dns must be True or False, got 'yes' (str)"),
        (lambda s: s.start(timeout=-1), ValueError, "start(): timeout must be a number > 0, got -1"),
        (lambda s: s.start(timeout=0), ValueError, "start(): timeout must be a number > 0, got 0"),
        (lambda s: s.stop(timeout="1"), TypeError, "stop(): timeout must be a number >= 0, got '1' (str)"),
        (lambda s: s.hold("greeting", host="x"), ValueError, "hold() acts at the greeting, before the client has sent host; select on client= or when= instead"),
        (lambda s: s.hold("reply", times=0), ValueError, "hold(): times must be None or a whole number >= 1, got 0"),
        (lambda s: s.hold("reply", host=5), TypeError, "hold(): host must be None or a str, got 5 (int)"),
        (lambda s: every_split(at="x"), ValueError, "every_split(): at must be one of 'greeting', 'auth', 'reply', got 'x'"),
        (lambda s: every_split(length=1), ValueError, "every_split(): length must be a whole number >= 2, got 1"),
        (lambda s: every_split(delay=-1), ValueError, "every_split(): delay must be a number >= 0, got -1"),
    ],
)  # fmt: skip
def test_a_bad_api_argument_is_refused_saying_what_is_valid(
    call: Any, error: type[Exception], message: str
) -> None:
    server = SOCKS5Server()
    with pytest.raises(error, match=f"^{re.escape(message)}$"):
        call(server)
    assert not server.is_running


@pytest.mark.asyncio
async def test_the_async_wait_checks_its_arguments_as_the_blocking_one_does() -> None:
    server = SOCKS5Server()
    with pytest.raises(
        ValueError, match=r"^wait_for_connections\(\): timeout must be a number >= 0, got -1$"
    ):
        await server.wait_for_connections_async(timeout=-1)
    with pytest.raises(TypeError, match=r"^outcome must be an Outcome \("):
        await server.wait_for_connections_async(timeout=0, outcome="closed")


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (lambda: proxy_url("127.0.0.1", 1080, scheme="sock5"), ValueError, "proxy_url(): scheme must be one of 'socks5', 'socks5h', 'socks4', 'socks4a', 'http', got 'sock5' (did you mean socks5?)"),
        (lambda: proxy_url("127.0.0.1", 70000), ValueError, "proxy_url(): port must be a port from 1 to 65535, got 70000"),
        (lambda: proxy_url("127.0.0.1", 0), ValueError, "proxy_url(): port must be a port from 1 to 65535, got 0"),
        (lambda: proxy_url("127.0.0.1", "1080"), TypeError, "proxy_url(): port must be a port from 1 to 65535, got '1080' (str)"),
        (lambda: proxy_url("127.0.0.1", True), TypeError, "proxy_url(): port must be a port from 1 to 65535, got True (bool)"),
        (lambda: proxy_url(None, 1080), TypeError, "proxy_url(): host must be a str, got None (NoneType)"),
        (lambda: proxy_url("", 1080), ValueError, "proxy_url(): host must be a host name or an IP address, got ''"),
        (lambda: proxy_url("proxy.test/x", 1080), ValueError, "proxy_url(): host must be a host name or an IP address, got 'proxy.test/x'"),
        (lambda: proxy_url("proxy.test:8080", 1080), ValueError, "proxy_url(): host must be a host name or an IP address, got 'proxy.test:8080'"),
        (lambda: proxy_url("127.0.0.1", 1080, password="p"), ValueError, "proxy_url(): password needs a username (a URL holds a password only after a user name, as user:password@host), got username=None"),
        (lambda: proxy_url("127.0.0.1", 1080, username=5), TypeError, "proxy_url(): username must be None or a str, got 5 (int)"),
        (lambda: ProxyEnvironment("socks5://h:1", no_proxy=5), TypeError, "ProxyEnvironment: no_proxy must be None or a str, got 5 (int)"),
        (lambda: ProxyEnvironment(b"socks5://h:1"), TypeError, "ProxyEnvironment: url must be a str, got b'socks5://h:1' (bytes)"),
        (lambda: ProxyEnvironment("socks5://h:1", environ=[]), TypeError, "ProxyEnvironment: environ must be None or a mutable mapping (such as os.environ), got [] (list)"),
    ],
)  # fmt: skip
def test_the_url_and_environment_helpers_check_every_argument(
    call: Callable[[], object], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=f"^{re.escape(message)}$"):
        call()


def test_an_ipv6_zone_is_kept_as_clients_read_it_back() -> None:
    """Not RFC 6874's ``%25``: urllib.parse (python-socks, httpx-socks, aiohttp-socks) and
    httpx do not decode it, and would read the zone as ``25eth0``."""
    from urllib.parse import urlsplit

    url = proxy_url("fe80::1%eth0", 1080)
    assert url == "socks5://[fe80::1%eth0]:1080"
    assert urlsplit(url).hostname == "fe80::1%eth0"
    assert httpx.URL(url).host == "fe80::1%eth0"
    assert urlsplit("socks5://[fe80::1%25eth0]:1080").hostname == "fe80::1%25eth0"


def test_good_urls_and_environments_are_kept() -> None:
    assert proxy_url("[::1]", 1) == "socks5://[::1]:1"
    assert proxy_url("::1", 65535, scheme="http") == "http://[::1]:65535"
    assert proxy_url("a.test", 2, username="", password="") == "socks5://:@a.test:2"
    env: dict[str, str] = {}
    with ProxyEnvironment("socks5://h:1", no_proxy="", environ=env):
        assert env["NO_PROXY"] == ""


def test_good_criteria_and_counts_are_kept() -> None:
    server = SOCKS5Server()
    assert server.find_connections(outcome=Outcome.CLOSED, closed_how="r*", protocol=None) == []
    assert server.find_connections(address_type=3, reply=lambda r: r is None) == []
    assert server.wait_for_connections(0, timeout=0) == []
    assert (
        server.find_connections(
            raw_password=bytearray(b"x"), faults="Delay*", http_statuses=404, port=80
        )
        == []
    )
    assert server.find_connections(client_address=("127.0.0.1", 1), duration=None) == []
    for data in (b"x", bytearray(b"x"), memoryview(b"x")):
        with pytest.raises(
            NoMatchingConnection, match=r"^expected a connection whose client sent b'x'"
        ):
            server.assert_sent(data)
    with server:
        assert server.url_for("socks4a") == f"socks4a://{server.host}:{server.port}"


# -- permits: the dry run -------------------------------------------------------------------------


@pytest.fixture
def no_dns(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"a name was looked up: {args!r}")

    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket, "gethostbyname", refuse)


def test_permits_answers_without_dialling_or_resolving(no_dns: None) -> None:
    server = SOCKS5Server(
        host_map={"api.example.test": "127.0.0.1:8080", "gone.example.test": None},
        rules=[Rule.deny(host="*.corp.test")],
        allow=["*.allowed.test:443"],
    )  # never started: nothing to dial with
    api = server.permits("api.example.test", 443)
    assert api == Permission(
        allowed=True,
        command="CONNECT",
        host="api.example.test",
        port=443,
        reason="hermetic default: in host_map",
        rule=None,
        mapped_to="127.0.0.1:8080",
    )
    assert api
    assert str(api) == (
        "CONNECT api.example.test:443 allowed by hermetic default: in host_map; "
        "host_map sends it to 127.0.0.1:8080"
    )
    corp = server.permits("db.corp.test", 5432)
    assert not corp
    assert corp.rule == Rule.deny(host="*.corp.test")
    assert str(corp) == "CONNECT db.corp.test:5432 refused by Rule.deny(host='*.corp.test')"
    assert (
        server.permits("www.allowed.test", 443).reason
        == "Rule.allow(host='*.allowed.test', port=443)"
    )
    assert not server.permits("www.allowed.test", 80)
    assert str(server.permits("example.com", 443, command="bind")) == (
        "BIND example.com:443 refused by hermetic default: not loopback and not in host_map"
    )
    assert str(server.permits("gone.example.test", 1)).endswith(
        "; host_map makes it unresolvable (REP 0x04)"
    )
    assert server.permits("::1", 22).reason == "hermetic default: loopback"
    server.configure(hermetic=False)
    assert server.permits("example.com", 443).reason == "hermetic=False"
    with pytest.raises(dataclasses.FrozenInstanceError):
        api.allowed = False  # type: ignore[misc]


def test_permits_checks_its_arguments() -> None:
    server = SOCKS5Server()
    with pytest.raises(
        ValueError,
        match=r"^permits\(\): command must be one of .* got 'conect' \(did you mean connect\?\)$",
    ):
        server.permits("example.com", 443, command="conect")
    with pytest.raises(
        ValueError, match=r"^permits\(\): port must be a port from 0 to 65535, got 65536$"
    ):
        server.permits("example.com", 65536)
    with pytest.raises(TypeError, match=r"^permits\(\): host must be a str, got b'x' \(bytes\)$"):
        server.permits(b"x", 1)  # type: ignore[arg-type]
    one = "permits(): host must be one destination, a host name or address, got "
    bracketed = one + "'[::1]': an IPv6 address is written without brackets (::1)"
    with pytest.raises(ValueError, match=f"^{re.escape(bracketed)}$"):
        server.permits("[::1]", 80)
    glob = one + "'*.test' (not a glob: permits() asks about one request; rules take globs)"
    with pytest.raises(ValueError, match=f"^{re.escape(glob)}$"):
        server.permits("*.test", 80)


@pytest.mark.parametrize("command", ["UDP_ASSOCIATE", "udp_associate", "Udp", 3])
def test_the_command_permits_shows_is_taken_as_input(command: object) -> None:
    """Permission.command says UDP_ASSOCIATE: permits() and Rule take it back, any case."""
    server = SOCKS5Server(rules=[Rule.deny(command=command)])  # type: ignore[arg-type]
    answer = server.permits("127.0.0.1", 53, command=command)  # type: ignore[arg-type]
    assert (answer.command, answer.allowed) == ("UDP_ASSOCIATE", False)
    assert server.permits("127.0.0.1", 53, command=answer.command).rule is answer.rule


def test_a_start_that_times_out_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    def never(self: object, coro: Any, timeout: float) -> None:
        coro.close()
        raise TimeoutError

    monkeypatch.setattr("pytest_socks5._server.LoopThread.run", never)
    server = SOCKS5Server()
    with pytest.raises(TimeoutError, match=r"^the server did not start within 0.5s$"):
        server.start(timeout=0.5)
    assert not server.is_running


@pytest.mark.parametrize(
    ("value", "mapped_to"),
    [("localhost", "localhost:80"), ("localhost:8080", "localhost:8080"), ("LocalHost.:8", "LocalHost.:8")],
)  # fmt: skip
def test_a_host_map_value_may_be_the_loopback_name(value: str, mapped_to: str) -> None:
    """pytest-httpserver's ``httpserver.host`` is ``localhost``: a map to it is kept."""
    server = SOCKS5Server(host_map={"a.test": value})
    assert server.permits("a.test", 80).mapped_to == mapped_to


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: faults.Truncate(size=0), "Truncate: unknown argument(s): size; known: length, then, at, host,"),
        (lambda: faults.Latency(seconds=1, jiter=2), "Latency: unknown argument(s): jiter (did you mean jitter?); known: seconds, jitter, direction, host,"),
        (lambda: UdpFaults(dorp=1), "UdpFaults: unknown argument(s): dorp (did you mean drop?); known: drop, corrupt, delay, direction, after, limit, close_control_after, seed"),
        (lambda: Rule(hots="a.test"), "Rule: unknown argument(s): hots (did you mean host?); known: action, host, network, port, command, user"),
        (lambda: Sink(respons=b"x", close=True), "Sink: unknown argument(s): respons (did you mean response?); known: response, on_connect, close"),
    ],
)  # fmt: skip
def test_an_unknown_argument_names_the_nearest_and_lists_the_known(
    make: Callable[[], object], message: str
) -> None:
    """Python's own error says only "unexpected keyword argument"."""
    with pytest.raises(TypeError) as raised:
        make()
    assert str(raised.value).startswith(message)


def test_a_fault_class_of_ones_own_with_its_own_keywords_is_not_second_guessed() -> None:
    class Shouty(faults.CustomFault):
        def __init__(self, **options: object) -> None:
            super().__init__(at="reply")

        def rewrite(self, data: bytes) -> bytes:
            return data.upper()

    assert Shouty(anything=1).rewrite(b"hi") == b"HI"


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: UdpFaults(delay=float("inf")), "UdpFaults: delay must be a finite number, got inf"),
        (lambda: SOCKS5Server(bind_timeout=float("inf")), "bind_timeout must be a finite number, got inf"),
        (lambda: faults.Latency(seconds=float("inf")), "Latency: seconds must be a finite number, got inf"),
        (lambda: SOCKS5Server(idle_timeout=float("inf")), "idle_timeout must be None or 0 (no limit), or a number > 0, got inf"),
    ],
)  # fmt: skip
def test_an_infinite_time_is_refused(make: Callable[[], object], message: str) -> None:
    """A datagram delayed for ever, a BIND that never gives up: no limit is spelled None
    or 0 where an option has one, never as a wait that never ends."""
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        make()


# -- records and their helpers ----------------------------------------------------------------


@pytest.mark.parametrize(
    "criteria",
    [{"prt": 1}, {"outcome": "closed"}, {"command": "connect"}, {"closed_how": "rts"}, {"host": 1, "protcol": "http"}],
)  # fmt: skip
def test_a_record_checks_criteria_as_find_connections_does(criteria: dict[str, Any]) -> None:
    """One rule for criteria: a record's ``matches()`` and ``mismatches()`` refuse what
    ``find_connections`` refuses, with the same message."""
    with pytest.raises((TypeError, ValueError)) as by_server:
        SOCKS5Server().find_connections(**criteria)
    for ask in (testing.record().matches, testing.record().mismatches):
        with pytest.raises(type(by_server.value), match=f"^{re.escape(str(by_server.value))}$"):
            ask(**criteria)


def test_an_unknown_record_field_names_the_nearest_and_lists_the_known() -> None:
    known = sorted(
        [f.name for f in dataclasses.fields(ConnectionRecord)]
        + ["auth_scheme", "duration", "remote_dns", "succeeded", "target"]
    )
    with pytest.raises(TypeError) as raised:
        testing.record(host="a.test").matches(prt=1)
    assert str(raised.value) == (
        f"unknown ConnectionRecord field(s): prt (did you mean port?); known: {', '.join(known)}"
    )
    fields = ", ".join(f.name for f in dataclasses.fields(ConnectionRecord))
    with pytest.raises(TypeError) as raised:
        testing.record(prt=1)
    assert str(raised.value) == (
        f"record(): unknown ConnectionRecord field(s): prt (did you mean port?); known: {fields}"
    )
    assert testing.record(host="a.test").matches(host="*.test", outcome=Outcome.OPEN, port=80)
    assert testing.record().mismatches(port=81) == ["port=80 (wanted 81)"]


def test_a_host_for_the_dns_leak_assertion_is_checked_with_nothing_recorded(
    socks5_server: SOCKS5Server,
) -> None:
    """With no lookup to compare it with, a wrong ``host`` passed silently."""
    assert socks5_server.local_lookups == []
    with pytest.raises(TypeError, match=r"^assert_no_local_dns\(\): host must be None or a str"):
        socks5_server.assert_no_local_dns(host=1)
    socks5_server.assert_no_local_dns(host="localhost")


FROM_JSON = "ConnectionRecord.from_json(): data"
A_RECORD = "a record as to_json() writes it: a JSON object with an 'id'"
PHASES = "'accepted', 'negotiated', 'authenticated', 'requested', 'replied', 'closed'"
NAMES = "'greeting', 'method selection', 'auth request', 'auth reply', 'request', 'reply', 'socks4 request', 'socks4 reply', 'http request', 'http response', 'unparsed'"


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (lambda r: r.timings.elapsed("replyed"), ValueError, f"Timings.elapsed(): phase must be one of {PHASES}, got 'replyed' (did you mean replied?)"),
        (lambda r: r.timings.elapsed("elapsed"), ValueError, f"Timings.elapsed(): phase must be one of {PHASES}, got 'elapsed' (did you mean closed?)"),
        (lambda r: r.timings.elapsed(None), TypeError, f"Timings.elapsed(): phase must be one of {PHASES}, got None (NoneType)"),
        (lambda r: ConnectionRecord.from_json("[]"), ValueError, f"{FROM_JSON} must be {A_RECORD}, got []"),
        (lambda r: ConnectionRecord.from_json("{}"), ValueError, f"{FROM_JSON} must be {A_RECORD}, got {{}} (it has no 'id')"),
        (lambda r: ConnectionRecord.from_json("{"), ValueError, f"{FROM_JSON} must be {A_RECORD}, got '{{' (Expecting property name enclosed in double quotes: line 1 column 2 (char 1))"),
        (lambda r: ConnectionRecord.from_json(5), TypeError, f"{FROM_JSON} must be a str, bytes or a mapping (a record as to_json() or to_dict() writes it), got 5 (int)"),
        (lambda r: ConnectionRecord.from_json({"id": 1, "outcome": "bogus"}), ValueError, f"{FROM_JSON}['outcome'] must be a value as to_json() writes it, got 'bogus' (ValueError: 'bogus' is not a valid Outcome)"),
        (lambda r: ConnectionRecord.from_json({"id": 1, "raw_username": 5}), ValueError, f"{FROM_JSON}['raw_username'] must be a value as to_json() writes it, got 5 (TypeError: fromhex() argument must be str, not int)"),
        (lambda r: testing.record(host=1), TypeError, "record(): host must be None or a str, got 1 (int)"),
        (lambda r: testing.record(port="80"), TypeError, "record(): port must be None or a whole number, got '80' (str)"),
        (lambda r: testing.record(client_address=["127.0.0.1", 1]), TypeError, "record(): client_address must be a tuple, got ['127.0.0.1', 1] (list)"),
        (lambda r: testing.record(faults="Delay"), TypeError, "record(): faults must be a tuple, got 'Delay' (str)"),
        (lambda r: testing.record(authenticated=1), TypeError, "record(): authenticated must be None, True or False, got 1 (int)"),
        (lambda r: testing.record(raw_password="s3cret"), TypeError, "record(): raw_password must be None or bytes, got a str (not shown)"),
        (lambda r: r.message("requets"), ValueError, f"ConnectionRecord.message(): name must be one of {NAMES}, got 'requets' (did you mean request?)"),
        (lambda r: r.message(b"reply"), TypeError, f"ConnectionRecord.message(): name must be one of {NAMES}, got b'reply' (bytes)"),
    ],
)  # fmt: skip
def test_a_bad_record_argument_is_refused_saying_what_is_valid(
    call: Callable[[ConnectionRecord], object], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=f"^{re.escape(message)}$"):
        call(testing.record())


def test_a_known_message_or_phase_not_reached_is_none() -> None:
    record = testing.record(timings=Timings(accepted=10.0, replied=10.5))
    assert record.timings.elapsed("replied") == 0.5
    assert record.timings.elapsed("accepted") == 0.0
    assert record.timings.elapsed("closed") is None
    assert record.message("reply") is None
    assert set(MESSAGE_NAMES.values()) <= set(HANDSHAKE_NAMES)
    assert ConnectionRecord.from_json(record.to_json().encode()) == record
    assert ConnectionRecord.from_json({"id": 7, "test": "t.py::x"}).id == 7  # keys not fields
