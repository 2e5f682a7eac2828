"""Hostile names are displayed safely: one printable line, unambiguous, password never shown."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_socks5 import AddressType, ConnectionRecord, Outcome
from pytest_socks5._escape import escape_bytes, escape_text, quote_bytes, quote_text
from pytest_socks5._recorder import LiveRecord
from pytest_socks5._transcript import describe_record

_ESCAPE = re.compile(r"\\(\\|t|n|r|x[0-9a-f]{2}|u[0-9a-f]{4}|U[0-9a-f]{8})")
_NAMED = {"\\": "\\", "t": "\t", "n": "\n", "r": "\r"}


def unescape_text(shown: str) -> str:
    def one(match: re.Match[str]) -> str:
        body = match.group(1)
        return _NAMED.get(body) or chr(int(body[1:], 16))

    return _ESCAPE.sub(one, shown)


def unescape_bytes(shown: str) -> bytes:
    """The inverse of escape_bytes: ``\\xNN`` with NN >= 80 is a raw byte."""
    out, pos = bytearray(), 0
    for match in _ESCAPE.finditer(shown):
        out += shown[pos : match.start()].encode("utf-8")
        body = match.group(1)
        if body[0] == "x" and int(body[1:], 16) >= 0x80:
            out.append(int(body[1:], 16))
        else:
            out += unescape_text(match.group(0)).encode("utf-8", "surrogatepass")
        pos = match.end()
    out += shown[pos:].encode("utf-8")
    return bytes(out)


def is_one_printable_line(text: str) -> bool:
    return text.isprintable()


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        (b"alice", "alice"),
        (b"a\x00b", "a\\x00b"),
        (b"\x1b[31mred", "\\x1b[31mred"),
        (b"line\nbreak\r\t", "line\\nbreak\\r\\t"),
        (b"back\\slash", "back\\\\slash"),
        (b"\xff\xfe", "\\xff\\xfe"),
        ("evil\u202etxt.exe".encode(), "evil\\u202etxt.exe"),
        ("a\u2028b\u0085c".encode(), "a\\u2028b\\u0085c"),
        ("caf\u00e9 \U0001f600".encode(), "caf\u00e9 \U0001f600"),
        ("nb\u00a0sp".encode(), "nb\\u00a0sp"),
        (b"\xed\xa0\x80", "\\xed\\xa0\\x80"),  # an encoded surrogate is not UTF-8
    ],
)
def test_escape_bytes(raw: bytes, shown: str) -> None:
    assert escape_bytes(raw) == shown
    assert unescape_bytes(shown) == raw


def test_raw_bytes_and_c1_characters_stay_distinct() -> None:
    # The byte 0x85 (not UTF-8) and the character U+0085 (NEL, 2 bytes in UTF-8).
    assert escape_bytes(b"\x85") == "\\x85"
    assert escape_bytes("\u0085".encode()) == "\\u0085"
    assert escape_text("\udc85") == "\\udc85"  # a lone surrogate in text is not a byte


def test_quotes() -> None:
    assert quote_text("o'brien") == "'o\\'brien'"
    assert quote_bytes(b"it's\n") == "'it\\'s\\n'"


@settings(max_examples=300, deadline=None)
@given(raw=st.binary(max_size=64))
def test_any_bytes_escape_to_one_line_that_maps_back(raw: bytes) -> None:
    shown = escape_bytes(raw)
    assert is_one_printable_line(shown)
    assert unescape_bytes(shown) == raw


@settings(max_examples=300, deadline=None)
@given(text=st.text(max_size=64))
def test_any_text_escapes_to_one_line_that_maps_back(text: str) -> None:
    shown = escape_text(text)
    assert is_one_printable_line(shown)
    assert unescape_text(shown) == text


hostile_bytes = st.one_of(
    st.binary(max_size=40),
    st.sampled_from([b"\x00", b"\x1b[2J\x1b[H", "\u202e".encode(), "\u2028".encode(), b"\xff"]),
)


@settings(max_examples=300, deadline=None)
@given(
    username=hostile_bytes,
    password=st.binary(min_size=8, max_size=40),
    domain=hostile_bytes,
    error=st.text(max_size=40),
    fault=st.text(max_size=10),
)
def test_describe_record_is_one_printable_line_without_the_password(
    username: bytes, password: bytes, domain: bytes, error: str, fault: str
) -> None:
    live = LiveRecord(id=1, client_address=("127.0.0.1", 40000))
    live.version = 5
    live.raw_username, live.raw_password = username, password
    live.username = username.decode("utf-8", "backslashreplace")
    live.command, live.address_type, live.port = 1, AddressType.DOMAIN, 80
    live.raw_address, live.host = domain, domain.decode("utf-8", "backslashreplace")
    live.fault_acted(fault)
    live.end(Outcome.PROTOCOL_ERROR, closed_by="server", error=error or None)
    record = live.freeze()
    line = describe_record(record)
    assert is_one_printable_line(line)
    assert str(record) == line
    assert f"user={quote_bytes(username)}" in line
    assert f"CONNECT {escape_bytes(domain)}:80" in line
    shown_password = escape_bytes(password)
    if shown_password not in escape_bytes(username) + escape_bytes(domain) + escape_text(error):
        assert shown_password not in line
    assert "raw_password" not in repr(record)
    assert is_one_printable_line(repr(record))


def test_socks4_user_id_is_shown_from_its_bytes() -> None:
    record = ConnectionRecord(
        id=2,
        client_address=("127.0.0.1", 1),
        version=4,
        username="\\xff",  # what a backslashreplace decode makes of the byte 0xff
        user_id=b"\xff\\xff",
    )
    assert "user='\\xff\\\\xff'" in describe_record(record)


def test_username_without_raw_bytes_is_escaped_text() -> None:
    record = ConnectionRecord(id=3, client_address=("127.0.0.1", 1), username="a\nb")
    assert "user='a\\nb'" in describe_record(record)


def test_ipv6_target_and_a_multiline_error_show_one_line() -> None:
    record = ConnectionRecord(
        id=4,
        client_address=("::1", 5),
        command=1,
        address_type=AddressType.IPV6,
        host="::1",
        port=443,
        error="Traceback (most recent call last):\n  ...\nValueError: bad\u2028thing\n",
    )
    line = describe_record(record)
    assert "CONNECT [::1]:443" in line
    assert line.endswith("error: ValueError: bad\\u2028thing")
