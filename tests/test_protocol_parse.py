"""The incremental parsers and ``to_bytes`` encoders of the sans-I/O core.

Every valid message is parsed whole, byte by byte (each strict prefix must ask for more)
and with trailing garbage (which must not be consumed). Expected bytes and values are
written out from RFC 1928, RFC 1929 and the SOCKS 4/4A documents, not from the code.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from pytest_socks5._protocol import (
    AddressType,
    AuthMethod,
    AuthReply,
    AuthRequest,
    Command,
    Greeting,
    MethodSelection,
    RemoteProtocolError,
    Reply,
    Request,
    ServerReply,
    Socks4Request,
    Socks4Response,
    UdpDatagram,
    address_type_for,
    encode_address,
    failure_reply,
    parse_auth_request,
    parse_greeting,
    parse_request,
    parse_socks4_request,
    parse_udp_datagram,
    validate_domain,
)
from pytest_socks5._protocol._parse import MAX_SOCKS4_FIELD

Parser = Callable[[bytes | bytearray], Any]

GARBAGE = b"\xff\x00GET / HTTP/1.1\r\n\r\n"

#: RFC 1928 §6 reply with an all-zero IPv4 BND.ADDR/BND.PORT: VER REP RSV ATYP(1) 0*4 0*2.
GENERAL_FAILURE = bytes.fromhex("05 01 00 01 00 00 00 00 00 00")
ADDRESS_TYPE_NOT_SUPPORTED = bytes.fromhex("05 08 00 01 00 00 00 00 00 00")
#: SOCKS 4: VN 0, CD 91 ("request rejected or failed"), DSTPORT and DSTIP ignored.
SOCKS4_REJECTED = bytes.fromhex("00 5b 00 00 00 00 00 00")

DOMAIN_255 = b".".join([b"a" * 63, b"b" * 63, b"c" * 63, b"d" * 63])
assert len(DOMAIN_255) == 255


def check_whole_incremental_trailing(parser: Parser, data: bytes, expected: object) -> None:
    """``data`` parses to ``expected`` whole, only once complete, and ignoring what follows."""
    assert parser(data) == (expected, len(data))
    assert parser(bytearray(data)) == (expected, len(data))
    for end in range(len(data)):
        assert parser(data[:end]) is None, f"a {end}-byte prefix parsed: {data[:end].hex(' ')}"
    assert parser(data + GARBAGE) == (expected, len(data))


# -- greeting (RFC 1928 §3) ----------------------------------------------------------------

GREETINGS = [
    pytest.param(b"\x05\x01\x00", (0x00,), id="no-auth"),
    pytest.param(b"\x05\x01\x02", (0x02,), id="user-pass"),
    pytest.param(b"\x05\x03\x00\x01\x02", (0x00, 0x01, 0x02), id="three-methods"),
    pytest.param(b"\x05\x02\x80\xfe", (0x80, 0xFE), id="private-methods"),
    pytest.param(b"\x05\xff" + bytes(range(255)), tuple(range(255)), id="255-methods"),
]


@pytest.mark.parametrize(("data", "methods"), GREETINGS)
def test_parse_greeting(data: bytes, methods: tuple[int, ...]) -> None:
    check_whole_incremental_trailing(parse_greeting, data, Greeting(methods=methods))


def test_greeting_names_known_methods_and_keeps_unknown_ones_as_int() -> None:
    parsed = parse_greeting(b"\x05\x03\x00\x02\x80")
    assert parsed is not None
    no_auth, user_pass, private = parsed[0].methods
    assert no_auth is AuthMethod.NO_AUTHENTICATION_REQUIRED
    assert user_pass is AuthMethod.USERNAME_PASSWORD
    assert type(private) is int
    assert private == 0x80


def test_greeting_with_no_methods_parses() -> None:
    """NMETHODS 0 leaves the server nothing to pick but X'FF'; that is its call, not ours."""
    assert parse_greeting(b"\x05\x00" + GARBAGE) == (Greeting(methods=()), 2)


@pytest.mark.parametrize("version", [0x00, 0x01, 0x04, 0x06, 0xFF], ids=lambda v: f"ver-0x{v:02x}")
def test_greeting_with_wrong_version_closes_without_answer(version: int) -> None:
    with pytest.raises(RemoteProtocolError) as info:
        parse_greeting(bytes((version, 1, 0)))
    assert info.value.response == b""
    assert info.value.request is None
    assert f"0x{version:02x}" in str(info.value)


# -- username/password (RFC 1929) ----------------------------------------------------------

AUTH_REQUESTS = [
    pytest.param(b"\x01\x05alice\x06s3cret", b"alice", b"s3cret", id="ascii"),
    pytest.param(b"\x01\x01u\x01p", b"u", b"p", id="one-byte-each"),
    pytest.param(b"\x01\x02\xff\x00\x02\x80\x7f", b"\xff\x00", b"\x80\x7f", id="raw-bytes"),
    pytest.param(
        b"\x01\xff" + b"u" * 255 + b"\xff" + b"p" * 255, b"u" * 255, b"p" * 255, id="255-bytes"
    ),
]


@pytest.mark.parametrize(("data", "username", "password"), AUTH_REQUESTS)
def test_parse_auth_request(data: bytes, username: bytes, password: bytes) -> None:
    expected = AuthRequest(username=username, password=password)
    check_whole_incremental_trailing(parse_auth_request, data, expected)


@pytest.mark.parametrize("version", [0x00, 0x02, 0x05, 0xFF], ids=lambda v: f"ver-0x{v:02x}")
def test_auth_request_with_wrong_version_fails_the_subnegotiation(version: int) -> None:
    """RFC 1929: a non-X'00' STATUS is a failure, after which the server closes."""
    with pytest.raises(RemoteProtocolError) as info:
        parse_auth_request(bytes((version, 1)) + b"u\x01p")
    assert info.value.response == b"\x01\x01"


def test_auth_request_with_wrong_version_is_rejected_from_the_first_byte() -> None:
    with pytest.raises(RemoteProtocolError):
        parse_auth_request(b"\x05")


# -- request (RFC 1928 §4) -----------------------------------------------------------------


def request(
    command: int, atyp: int, host: str, port: int, raw: bytes, reserved: int = 0
) -> Request:
    return Request(
        command=command,
        address_type=atyp,
        host=host,
        port=port,
        raw_address=raw,
        reserved=reserved,
    )


REQUESTS = [
    pytest.param(
        bytes.fromhex("05 01 00 01 7f 00 00 01 00 50"),
        request(1, 1, "127.0.0.1", 80, b"\x7f\x00\x00\x01"),
        id="connect-ipv4",
    ),
    pytest.param(
        bytes.fromhex("05 01 00 01 c0 00 02 01 00 00"),
        request(1, 1, "192.0.2.1", 0, b"\xc0\x00\x02\x01"),
        id="port-0",
    ),
    pytest.param(
        bytes.fromhex("05 01 00 01 c0 00 02 01 ff ff"),
        request(1, 1, "192.0.2.1", 65535, b"\xc0\x00\x02\x01"),
        id="port-65535",
    ),
    pytest.param(
        bytes.fromhex("05 01 00 04" + "00" * 15 + "01 01 bb"),
        request(1, 4, "::1", 443, bytes(15) + b"\x01"),
        id="connect-ipv6-loopback",
    ),
    pytest.param(
        bytes.fromhex("05 01 00 04 20 01 0d b8" + "00" * 11 + "01 1f 90"),
        request(1, 4, "2001:db8::1", 8080, bytes.fromhex("20010db8" + "00" * 11 + "01")),
        id="connect-ipv6",
    ),
    pytest.param(
        b"\x05\x01\x00\x03\x0bexample.com\x01\xbb",
        request(1, 3, "example.com", 443, b"example.com"),
        id="connect-domain",
    ),
    pytest.param(
        b"\x05\x01\x00\x03\xff" + DOMAIN_255 + b"\x00\x50",
        request(1, 3, DOMAIN_255.decode(), 80, DOMAIN_255),
        id="domain-255-bytes",
    ),
    pytest.param(
        b"\x05\x01\x00\x03\x10xn--bcher-kva.de\x00\x50",
        request(1, 3, "xn--bcher-kva.de", 80, b"xn--bcher-kva.de"),
        id="domain-idn-as-xn--",
    ),
    pytest.param(
        b"\x05\x01\x00\x03\x0ab\xc3\xbccher.de\x00\x50",
        request(1, 3, "bücher.de", 80, "bücher.de".encode()),
        id="domain-raw-utf8",
    ),
    pytest.param(
        bytes.fromhex("05 02 00 01 00 00 00 00 00 00"),
        request(2, 1, "0.0.0.0", 0, bytes(4)),
        id="bind",
    ),
    pytest.param(
        bytes.fromhex("05 03 00 01 00 00 00 00 00 00"),
        request(3, 1, "0.0.0.0", 0, bytes(4)),
        id="udp-associate",
    ),
    pytest.param(
        bytes.fromhex("05 01 2a 01 0a 00 00 01 00 16"),
        request(1, 1, "10.0.0.1", 22, b"\x0a\x00\x00\x01", reserved=0x2A),
        id="nonzero-rsv-kept",
    ),
]


@pytest.mark.parametrize(("data", "expected"), REQUESTS)
def test_parse_request(data: bytes, expected: Request) -> None:
    check_whole_incremental_trailing(parse_request, data, expected)


@pytest.mark.parametrize(
    ("cmd", "named"),
    [(0x01, Command.CONNECT), (0x02, Command.BIND), (0x03, Command.UDP_ASSOCIATE)],
    ids=["connect", "bind", "udp-associate"],
)
def test_request_names_known_commands_and_address_types(cmd: int, named: Command) -> None:
    parsed = parse_request(bytes((5, cmd, 0, 3, 1)) + b"a\x00\x01")
    assert parsed is not None
    assert parsed[0].command is named
    assert parsed[0].address_type is AddressType.DOMAIN


@pytest.mark.parametrize("cmd", [0x00, 0x04, 0xFF], ids=lambda c: f"cmd-0x{c:02x}")
def test_request_with_unknown_command_parses_and_keeps_the_int(cmd: int) -> None:
    """The request is well formed; answering REP 0x07 is the server's job, not the parser's."""
    data = bytes((5, cmd, 0, 1, 198, 51, 100, 7, 0x1F, 0x90))
    check_whole_incremental_trailing(
        parse_request, data, request(cmd, 1, "198.51.100.7", 8080, bytes((198, 51, 100, 7)))
    )
    parsed = parse_request(data)
    assert parsed is not None
    assert type(parsed[0].command) is int


@pytest.mark.parametrize("version", [0x00, 0x04, 0x06, 0xFF], ids=lambda v: f"ver-0x{v:02x}")
def test_request_with_wrong_version_answers_general_failure(version: int) -> None:
    with pytest.raises(RemoteProtocolError) as info:
        parse_request(bytes((version, 1, 0, 1, 127, 0, 0, 1, 0, 80)))
    assert info.value.response == GENERAL_FAILURE
    assert f"0x{version:02x}" in str(info.value)


@pytest.mark.parametrize("atyp", [0x00, 0x02, 0x05, 0xFF], ids=lambda a: f"atyp-0x{a:02x}")
def test_request_with_unknown_address_type_answers_rep_08(atyp: int) -> None:
    """With an unknown ATYP the length of DST.ADDR is unknowable: answer as soon as it shows."""
    with pytest.raises(RemoteProtocolError) as info:
        parse_request(bytes((5, 1, 0, atyp)))
    assert info.value.response == ADDRESS_TYPE_NOT_SUPPORTED
    assert f"0x{atyp:02x}" in str(info.value)


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(b"", id="empty"),
        pytest.param(b"exa\x00mple.com", id="nul"),
        pytest.param(b"example.com\x00", id="trailing-nul"),
        pytest.param(b"b\xfccher.de", id="latin-1-not-utf8"),
        pytest.param(b"\xc3", id="truncated-utf8"),
        pytest.param(b"\xed\xa0\x80.example", id="utf8-surrogate"),
        pytest.param(b"evil\r\nhost", id="crlf"),
        pytest.param(b"tab\there", id="tab"),
        pytest.param(b"\x01example", id="soh"),
        pytest.param(b"\x1fexample", id="unit-separator"),
        pytest.param(b"example\x7f", id="del"),
    ],
)
def test_request_with_unusable_domain_answers_general_failure_and_keeps_the_request(
    raw: bytes,
) -> None:
    data = bytes((5, 1, 0, 3, len(raw))) + raw + b"\x01\xbb"
    with pytest.raises(RemoteProtocolError) as info:
        parse_request(data + GARBAGE)
    error = info.value
    assert error.response == GENERAL_FAILURE
    assert error.request is not None
    assert error.request.raw_address == raw
    assert error.request.address_type == AddressType.DOMAIN
    assert error.request.command == Command.CONNECT
    assert error.request.port == 443
    for end in range(len(data)):
        assert parse_request(data[:end]) is None


def test_request_domain_that_is_not_utf8_still_reports_a_printable_host() -> None:
    with pytest.raises(RemoteProtocolError) as info:
        parse_request(b"\x05\x01\x00\x03\x02\xff\xfe\x00\x50")
    assert info.value.request is not None
    assert info.value.request.host == "\\xff\\xfe"


@pytest.mark.parametrize(
    ("raw", "text"),
    [
        (b"example.com", "example.com"),
        (b"xn--bcher-kva.de", "xn--bcher-kva.de"),
        ("bücher.de".encode(), "bücher.de"),
        ("例え.テスト".encode(), "例え.テスト"),
        (b"localhost", "localhost"),
    ],
    ids=["ascii", "xn--", "utf8-latin", "utf8-cjk", "single-label"],
)
def test_validate_domain_accepts(raw: bytes, text: str) -> None:
    assert validate_domain(raw) == text


# -- SOCKS 4 / 4A --------------------------------------------------------------------------


def socks4(
    command: int, port: int, ip: str, user_id: bytes = b"", domain: bytes | None = None
) -> Socks4Request:
    host = domain.decode() if domain is not None else ip
    return Socks4Request(
        command=command, port=port, ip=ip, user_id=user_id, domain=domain, host=host
    )


SOCKS4_REQUESTS = [
    pytest.param(
        bytes.fromhex("04 01 00 50 7f 00 00 01 00"),
        socks4(1, 80, "127.0.0.1"),
        id="connect-no-userid",
    ),
    pytest.param(
        bytes.fromhex("04 01 01 bb c0 00 02 01") + b"alice\x00",
        socks4(1, 443, "192.0.2.1", b"alice"),
        id="connect-userid",
    ),
    pytest.param(
        bytes.fromhex("04 01 00 00 c0 00 02 01 00"), socks4(1, 0, "192.0.2.1"), id="port-0"
    ),
    pytest.param(
        bytes.fromhex("04 01 ff ff c0 00 02 01 00"),
        socks4(1, 65535, "192.0.2.1"),
        id="port-65535",
    ),
    pytest.param(
        bytes.fromhex("04 02 1f 90 0a 00 00 05 00"), socks4(2, 8080, "10.0.0.5"), id="bind"
    ),
    pytest.param(
        bytes.fromhex("04 01 00 50 00 00 00 00 00"),
        socks4(1, 80, "0.0.0.0"),
        id="dstip-0.0.0.0-is-not-4a",
    ),
    pytest.param(
        bytes.fromhex("04 01 00 50 00 00 00 01 00") + b"example.com\x00",
        socks4(1, 80, "0.0.0.1", domain=b"example.com"),
        id="4a",
    ),
    pytest.param(
        bytes.fromhex("04 01 00 50 00 00 00 ff") + b"bob\x00xn--bcher-kva.de\x00",
        socks4(1, 80, "0.0.0.255", b"bob", b"xn--bcher-kva.de"),
        id="4a-userid-idn",
    ),
    pytest.param(
        bytes.fromhex("04 01 00 50 00 00 00 07") + b"\x00" + "bücher.de".encode() + b"\x00",
        socks4(1, 80, "0.0.0.7", domain="bücher.de".encode()),
        id="4a-raw-utf8",
    ),
    pytest.param(
        bytes.fromhex("04 02 00 50 00 00 00 01") + b"\x00" + DOMAIN_255 + b"\x00",
        socks4(2, 80, "0.0.0.1", domain=DOMAIN_255),
        id="4a-bind-255-byte-domain",
    ),
]


@pytest.mark.parametrize(("data", "expected"), SOCKS4_REQUESTS)
def test_parse_socks4_request(data: bytes, expected: Socks4Request) -> None:
    check_whole_incremental_trailing(parse_socks4_request, data, expected)
    assert expected.is_4a == (expected.domain is not None)


def test_socks4_userid_of_max_length_is_accepted() -> None:
    data = bytes.fromhex("04 01 00 50 7f 00 00 01") + b"u" * MAX_SOCKS4_FIELD + b"\x00"
    expected = socks4(1, 80, "127.0.0.1", b"u" * MAX_SOCKS4_FIELD)
    check_whole_incremental_trailing(parse_socks4_request, data, expected)


@pytest.mark.parametrize(
    "head",
    [
        pytest.param(bytes.fromhex("04 01 00 50 7f 00 00 01"), id="userid"),
        pytest.param(bytes.fromhex("04 01 00 50 00 00 00 01") + b"\x00", id="4a-domain"),
    ],
)
def test_socks4_field_without_nul_is_rejected_once_too_long(head: bytes) -> None:
    assert parse_socks4_request(head + b"x" * MAX_SOCKS4_FIELD) is None
    with pytest.raises(RemoteProtocolError) as info:
        parse_socks4_request(head + b"x" * (MAX_SOCKS4_FIELD + 1))
    assert info.value.response == SOCKS4_REJECTED
    assert str(MAX_SOCKS4_FIELD) in str(info.value)


@pytest.mark.parametrize(
    "head",
    [
        pytest.param(bytes.fromhex("04 01 00 50 7f 00 00 01"), id="userid"),
        pytest.param(bytes.fromhex("04 01 00 50 00 00 00 01") + b"\x00", id="4a-domain"),
    ],
)
def test_socks4_too_long_field_is_rejected_however_it_is_chunked(head: bytes) -> None:
    """The parser docstring promises that any chunking of a stream gives the same result."""
    with pytest.raises(RemoteProtocolError) as info:
        parse_socks4_request(head + b"x" * (MAX_SOCKS4_FIELD + 1) + b"\x00")
    assert info.value.response == SOCKS4_REJECTED


@pytest.mark.parametrize(
    "domain",
    [
        pytest.param(b"", id="empty"),
        pytest.param(b"bad\r\nhost", id="crlf"),
        pytest.param(b"b\xfccher.de", id="not-utf8"),
        pytest.param(b"x\x7f", id="del"),
    ],
)
def test_socks4a_with_unusable_domain_is_rejected(domain: bytes) -> None:
    data = bytes.fromhex("04 01 00 50 00 00 00 01") + b"\x00" + domain + b"\x00"
    with pytest.raises(RemoteProtocolError) as info:
        parse_socks4_request(data)
    assert info.value.response == SOCKS4_REJECTED
    # The request is attached so that the server records what was asked (issue 8).
    assert info.value.request is not None
    assert info.value.request.domain == domain


# -- UDP datagrams (RFC 1928 §7) -------------------------------------------------------------

UDP_DATAGRAMS = [
    pytest.param(
        bytes.fromhex("00 00 00 01 c0 00 02 01 00 35") + b"query",
        UdpDatagram(
            address_type=1,
            host="192.0.2.1",
            port=53,
            data=b"query",
            raw_address=bytes.fromhex("c0000201"),
        ),
        id="ipv4",
    ),
    pytest.param(
        bytes.fromhex("00 00 00 04 20 01 0d b8" + "00" * 11 + "01 ff ff"),
        UdpDatagram(
            address_type=4,
            host="2001:db8::1",
            port=65535,
            data=b"",
            raw_address=bytes.fromhex("20010db8" + "00" * 11 + "01"),
        ),
        id="ipv6-empty-data-port-65535",
    ),
    pytest.param(
        b"\x00\x00\x00\x03\x0bexample.com\x00\x00\x00\xff",
        UdpDatagram(
            address_type=3,
            host="example.com",
            port=0,
            data=b"\x00\xff",
            raw_address=b"example.com",
        ),
        id="domain-port-0",
    ),
    pytest.param(
        b"\x00\x00\x00\x03\x0ab\xc3\xbccher.de\x00\x35x",
        UdpDatagram(
            address_type=3, host="bücher.de", port=53, data=b"x", raw_address="bücher.de".encode()
        ),
        id="domain-raw-utf8",
    ),
    pytest.param(
        bytes.fromhex("00 00 05 01 0a 00 00 01 30 39") + b"frag",
        UdpDatagram(
            address_type=1,
            host="10.0.0.1",
            port=12345,
            data=b"frag",
            raw_address=bytes.fromhex("0a000001"),
            fragment=5,
        ),
        id="fragment-kept",
    ),
]


@pytest.mark.parametrize(("data", "expected"), UDP_DATAGRAMS)
def test_parse_udp_datagram(data: bytes, expected: UdpDatagram) -> None:
    """A datagram arrives whole: what follows the header is DATA, every prefix is truncated."""
    assert parse_udp_datagram(data) == expected
    header = len(data) - len(expected.data)
    for end in range(header):
        with pytest.raises(ValueError, match=r"truncated|at least 4 bytes"):
            parse_udp_datagram(data[:end])
    with_more = parse_udp_datagram(data + GARBAGE)
    assert with_more.data == expected.data + GARBAGE
    assert with_more.host == expected.host


@pytest.mark.parametrize(
    ("data", "match"),
    [
        pytest.param(b"", "at least 4", id="empty"),
        pytest.param(b"\x00\x00\x00", "at least 4", id="three-bytes"),
        pytest.param(bytes.fromhex("00 01 00 01 7f 00 00 01 00 35"), "RSV", id="rsv-low"),
        pytest.param(bytes.fromhex("01 00 00 01 7f 00 00 01 00 35"), "RSV", id="rsv-high"),
        pytest.param(bytes.fromhex("00 00 00 02 7f 00 00 01 00 35"), "ATYP", id="atyp-0x02"),
        pytest.param(bytes.fromhex("00 00 00 00 7f 00 00 01 00 35"), "ATYP", id="atyp-0x00"),
        pytest.param(bytes.fromhex("00 00 00 01 7f 00 00 01 00"), "truncated", id="no-port"),
        pytest.param(b"\x00\x00\x00\x03", "truncated", id="no-domain-length"),
        pytest.param(b"\x00\x00\x00\x03\x00\x00\x35", "empty", id="empty-domain"),
        pytest.param(b"\x00\x00\x00\x03\x02a\x00\x00\x35", "NUL", id="domain-nul"),
        pytest.param(b"\x00\x00\x00\x03\x01\xff\x00\x35", "UTF-8", id="domain-not-utf8"),
    ],
)
def test_parse_udp_datagram_rejects(data: bytes, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        parse_udp_datagram(data)


# -- encoding: to_bytes ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("message", "wire"),
    [
        pytest.param(MethodSelection(method=0x00), b"\x05\x00", id="method-no-auth"),
        pytest.param(MethodSelection(method=0x02), b"\x05\x02", id="method-user-pass"),
        pytest.param(MethodSelection(method=0xFF), b"\x05\xff", id="method-refused"),
        pytest.param(AuthReply(status=0), b"\x01\x00", id="auth-success"),
        pytest.param(AuthReply(status=1), b"\x01\x01", id="auth-failure"),
        pytest.param(ServerReply(reply=0), bytes.fromhex("05 00 00 01 00000000 0000"), id="ok"),
        pytest.param(
            ServerReply(reply=0, host="192.0.2.1", port=1080),
            bytes.fromhex("05 00 00 01 c0000201 0438"),
            id="reply-ipv4",
        ),
        pytest.param(
            ServerReply(reply=0, address_type=AddressType.IPV6, host="2001:db8::1", port=65535),
            bytes.fromhex("05 00 00 04 20010db8" + "00" * 11 + "01 ffff"),
            id="reply-ipv6",
        ),
        pytest.param(
            ServerReply(reply=0, address_type=AddressType.DOMAIN, host="proxy.example", port=0),
            b"\x05\x00\x00\x03\x0dproxy.example\x00\x00",
            id="reply-domain",
        ),
        pytest.param(
            ServerReply(reply=0, address_type=AddressType.DOMAIN, host="bücher.de", port=80),
            b"\x05\x00\x00\x03\x10xn--bcher-kva.de\x00\x50",
            id="reply-idn-domain-as-xn--",
        ),
        pytest.param(
            ServerReply(reply=0, address_type=0x00, raw_address=bytes(4), port=0),
            bytes.fromhex("05 00 00 00 00000000 0000"),
            id="reply-raw-atyp-0x00",
        ),
        pytest.param(
            ServerReply(reply=Reply.CONNECTION_REFUSED),
            bytes.fromhex("05 05 00 01 00000000 0000"),
            id="reply-refused",
        ),
        pytest.param(Socks4Response(), bytes.fromhex("00 5a 0000 00000000"), id="socks4-granted"),
        pytest.param(
            Socks4Response(status=0x5B, port=1080, ip="192.0.2.1"),
            bytes.fromhex("00 5b 0438 c0000201"),
            id="socks4-rejected",
        ),
    ],
)
def test_server_message_to_bytes(message: Any, wire: bytes) -> None:
    assert message.to_bytes() == wire


@pytest.mark.parametrize("reply", list(Reply), ids=[f"rep-0x{r:02x}" for r in Reply])
def test_failure_reply(reply: Reply) -> None:
    assert failure_reply(reply) == bytes((5, reply, 0, 1, 0, 0, 0, 0, 0, 0))


@pytest.mark.parametrize(
    ("method", "refuses"),
    [(0x00, False), (0x01, False), (0x02, False), (0xFE, False), (0xFF, True)],
    ids=["no-auth", "gssapi", "user-pass", "private", "no-acceptable"],
)
def test_method_selection_refuses(method: int, refuses: bool) -> None:
    assert MethodSelection(method=method).refuses is refuses


@pytest.mark.parametrize(
    ("atyp", "host", "match"),
    [
        pytest.param(AddressType.DOMAIN, "", "1 to 255 bytes", id="empty-domain"),
        pytest.param(AddressType.DOMAIN, "a" * 256, "1 to 255 bytes", id="domain-256-bytes"),
        pytest.param(AddressType.IPV4, "::1", "::1", id="ipv6-as-ipv4"),
        pytest.param(AddressType.IPV6, "127.0.0.1", "127.0.0.1", id="ipv4-as-ipv6"),
        pytest.param(0x02, "127.0.0.1", "ATYP 0x02", id="atyp-0x02"),
    ],
)
def test_encode_address_rejects(atyp: int, host: str, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        encode_address(atyp, host)


@pytest.mark.parametrize(
    ("host", "atyp"),
    [
        ("127.0.0.1", AddressType.IPV4),
        ("::1", AddressType.IPV6),
        ("2001:db8::1", AddressType.IPV6),
        ("example.com", AddressType.DOMAIN),
        ("bücher.de", AddressType.DOMAIN),
        ("1.2.3", AddressType.DOMAIN),
    ],
)
def test_address_type_for(host: str, atyp: AddressType) -> None:
    assert address_type_for(host) is atyp


ROUND_TRIPS = [
    pytest.param(parse_greeting, Greeting(methods=(0x00, 0x02, 0x80)), id="greeting"),
    pytest.param(parse_greeting, Greeting(methods=()), id="greeting-empty"),
    pytest.param(
        parse_auth_request, AuthRequest(username=b"alice", password=b"\x00\xff"), id="auth"
    ),
    pytest.param(
        parse_request, request(1, 1, "203.0.113.9", 65535, bytes((203, 0, 113, 9))), id="req-v4"
    ),
    pytest.param(
        parse_request,
        request(2, 4, "2001:db8::2", 0, bytes.fromhex("20010db8" + "00" * 11 + "02")),
        id="req-v6",
    ),
    pytest.param(
        parse_request, request(3, 3, DOMAIN_255.decode(), 53, DOMAIN_255), id="req-domain-255"
    ),
    pytest.param(
        parse_request,
        request(1, 3, "bücher.de", 80, "bücher.de".encode()),
        id="req-domain-utf8",
    ),
    pytest.param(parse_request, request(0xFF, 1, "0.0.0.0", 1, bytes(4)), id="req-cmd-0xff"),
    pytest.param(parse_socks4_request, socks4(1, 80, "10.1.2.3", b"me"), id="socks4"),
    pytest.param(
        parse_socks4_request, socks4(2, 21, "0.0.0.9", b"", b"ftp.example"), id="socks4a"
    ),
]


@pytest.mark.parametrize(("parser", "message"), ROUND_TRIPS)
def test_client_message_round_trips(parser: Parser, message: Any) -> None:
    wire = message.to_bytes()
    assert parser(wire + GARBAGE) == (message, len(wire))


@pytest.mark.parametrize(
    "datagram",
    [
        pytest.param(
            UdpDatagram(
                address_type=AddressType.IPV4,
                host="192.0.2.1",
                port=53,
                data=b"q",
                raw_address=bytes((192, 0, 2, 1)),
            ),
            id="ipv4",
        ),
        pytest.param(
            UdpDatagram(
                address_type=AddressType.IPV6,
                host="::1",
                port=0,
                data=b"",
                raw_address=bytes(15) + b"\x01",
                fragment=3,
            ),
            id="ipv6-fragment",
        ),
        pytest.param(
            UdpDatagram(
                address_type=AddressType.DOMAIN,
                host="example.com",
                port=65535,
                data=b"\x00" * 10,
                raw_address=b"example.com",
            ),
            id="domain",
        ),
    ],
)
def test_udp_datagram_round_trips(datagram: UdpDatagram) -> None:
    assert parse_udp_datagram(datagram.to_bytes()) == datagram


def test_parsed_udp_datagram_encodes_back_to_the_same_bytes() -> None:
    """Messages hold exactly what the wire held (module docstring), so do Request's bytes."""
    wire = b"\x00\x00\x00\x03\x0ab\xc3\xbccher.de\x00\x35data"
    assert parse_udp_datagram(wire).to_bytes() == wire


# -- decoded messages are shared values ------------------------------------------------------

SHARED = [
    pytest.param(parse_greeting, bytes.fromhex("05 02 00 02"), id="greeting"),
    pytest.param(parse_request, bytes.fromhex("05 01 00 01 7f 00 00 01 1f 90"), id="request-v4"),
    pytest.param(parse_request, b"\x05\x01\x00\x03\x09localhost\x00\x50", id="request-domain"),
    pytest.param(parse_socks4_request, bytes.fromhex("04 01 00 50 7f 00 00 01 6d 65 00"), id="4"),
    pytest.param(
        parse_socks4_request, bytes.fromhex("04 01 00 50 00 00 00 01 00") + b"host\x00", id="4a"
    ),
]


@pytest.mark.parametrize(("parser", "data"), SHARED)
def test_the_same_bytes_give_the_same_value_however_they_arrive(
    parser: Parser, data: bytes
) -> None:
    """A suite's clients send the same messages again and again: each connection gets the
    one frozen value those bytes decode to, from a buffer of any type and with anything
    after the message, instead of building its own."""
    first, consumed = parser(bytearray(data) + GARBAGE)
    again, _ = parser(data)
    assert consumed == len(data)
    assert again is first
    assert first.to_bytes() == data


@pytest.mark.parametrize(
    ("parser", "data", "response"),
    [
        pytest.param(
            parse_request, b"\x05\x01\x00\x03\x04a\x00bc\x00\x50", GENERAL_FAILURE, id="request"
        ),
        pytest.param(
            parse_socks4_request,
            bytes.fromhex("04 01 00 50 00 00 00 01 00") + b"a\rb\x00",
            SOCKS4_REJECTED,
            id="4a",
        ),
    ],
)
def test_a_refused_message_is_refused_every_time(
    parser: Parser, data: bytes, response: bytes
) -> None:
    """Only what decodes is kept: the same unusable domain is refused the second time
    too, with the request attached, as it was the first."""
    for _ in range(2):
        with pytest.raises(RemoteProtocolError) as info:
            parser(data)
        assert info.value.response == response
        assert info.value.request is not None
