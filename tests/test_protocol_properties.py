"""Hypothesis properties of the sans-I/O core.

* Any chunking of a valid client stream gives the same events and trailing data.
* Arbitrary bytes, in arbitrary chunks, then EOF, only ever raise RemoteProtocolError,
  with one of the RFC's answers, and the conversation always ends.
* Arbitrary bytes given to the UDP datagram parser only ever raise ValueError.
"""

from __future__ import annotations

import ipaddress
import itertools
from dataclasses import dataclass

from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_socks5._protocol import (
    AuthRequest,
    Greeting,
    RemoteProtocolError,
    Request,
    ServerConnection,
    Socks4Request,
    State,
    UdpDatagram,
    parse_udp_datagram,
)

from .protocol_driver import Answers, pump

FAST = settings(max_examples=200, deadline=None)

ClientMessage = Greeting | AuthRequest | Request | Socks4Request

#: Every answer the RFCs give a misbehaving client (b"": close without a word).
RFC_ANSWERS = {
    b"",
    b"\x01\x01",
    bytes.fromhex("05 01 00 01 00 00 00 00 00 00"),
    bytes.fromhex("05 08 00 01 00 00 00 00 00 00"),
    bytes.fromhex("00 5b 00 00 00 00 00 00"),
}


@dataclass(frozen=True)
class Stream:
    """A valid client byte stream and the messages it must parse to."""

    data: bytes
    messages: list[ClientMessage]
    auth: bool
    payload: bytes


ports = st.integers(0, 65535)
# Domain text that validate_domain accepts: no control characters (Cc), no surrogates.
domain_text = st.text(
    st.characters(codec="utf-8", exclude_categories=("Cc", "Cs")), min_size=1, max_size=60
)
ascii_domains = st.from_regex(r"\A[a-z0-9-]{1,63}(\.[a-z0-9-]{1,63}){0,3}\Z")
domains = st.one_of(ascii_domains, domain_text).map(str.encode).filter(lambda b: len(b) <= 255)


@st.composite
def socks5_streams(draw: st.DrawFn) -> Stream:
    auth = draw(st.booleans())
    methods = draw(st.lists(st.integers(0, 255), min_size=0, max_size=6))
    methods.insert(draw(st.integers(0, len(methods))), 2 if auth else 0)
    data = bytes((5, len(methods), *methods))
    messages: list[ClientMessage] = [Greeting(methods=tuple(methods))]
    if auth:
        username = draw(st.binary(min_size=1, max_size=255))
        password = draw(st.binary(min_size=1, max_size=255))
        data += bytes((1, len(username))) + username + bytes((len(password),)) + password
        messages.append(AuthRequest(username=username, password=password))
    command = draw(st.one_of(st.sampled_from([1, 2, 3]), st.integers(0, 255)))
    atyp = draw(st.sampled_from([1, 3, 4]))
    if atyp == 1:
        ip4 = draw(st.ip_addresses(v=4))
        raw, host, address = ip4.packed, str(ip4), ip4.packed
    elif atyp == 4:
        ip6 = draw(st.ip_addresses(v=6))
        raw, host, address = ip6.packed, str(ip6), ip6.packed
    else:
        raw = draw(domains)
        host, address = raw.decode(), bytes((len(raw),)) + raw
    port = draw(ports)
    data += bytes((5, command, 0, atyp)) + address + port.to_bytes(2, "big")
    messages.append(
        Request(command=command, address_type=atyp, host=host, port=port, raw_address=raw)
    )
    payload = draw(st.binary(max_size=64))
    return Stream(data + payload, messages, auth, payload)


@st.composite
def socks4_streams(draw: st.DrawFn) -> Stream:
    command = draw(st.sampled_from([1, 2]))
    port = draw(ports)
    user_id = draw(st.binary(max_size=40)).replace(b"\x00", b"")
    domain: bytes | None = None
    ip: ipaddress.IPv4Address
    if draw(st.booleans()):
        ip = ipaddress.IPv4Address(draw(st.integers(1, 255)))
        domain = draw(domains)
        host = domain.decode()
    else:
        # 0.0.0.x with x != 0 announces SOCKS 4A; every other address is plain SOCKS 4.
        ip = ipaddress.IPv4Address(
            draw(st.integers(0, 2**32 - 1).filter(lambda n: n == 0 or n > 255))
        )
        host = str(ip)
    data = bytes((4, command)) + port.to_bytes(2, "big") + ip.packed + user_id + b"\x00"
    if domain is not None:
        data += domain + b"\x00"
    message = Socks4Request(
        command=command, port=port, ip=str(ip), user_id=user_id, domain=domain, host=host
    )
    payload = draw(st.binary(max_size=64))
    return Stream(data + payload, [message], False, payload)


streams = st.one_of(socks5_streams(), socks4_streams())


def chunked(data: bytes, cuts: list[int]) -> list[bytes]:
    """``data`` split at ``cuts``, without empty chunks (``b""`` would mean EOF)."""
    points = [0, *sorted({c for c in cuts if 0 < c < len(data)}), len(data)]
    return [data[a:b] for a, b in itertools.pairwise(points) if a < b]


def feed(
    chunks: list[bytes], *, eof: bool, answers: Answers, socks4: bool = True
) -> tuple[list[ClientMessage], ServerConnection]:
    conn = ServerConnection(socks4=socks4)
    events: list[ClientMessage] = []
    for chunk in chunks:
        conn.receive_data(chunk)
        pump(conn, answers, events.append)
    if eof:
        conn.receive_data(b"")
        pump(conn, answers, events.append)
    return events, conn


@FAST
@given(stream=streams, cuts=st.lists(st.integers(0, 2000), max_size=30), eof=st.booleans())
def test_any_chunking_of_a_valid_stream_parses_the_same(
    stream: Stream, cuts: list[int], eof: bool
) -> None:
    answers = Answers(method=2 if stream.auth else 0)
    whole_events, whole = feed([stream.data], eof=eof, answers=answers)
    assert whole_events == stream.messages
    assert whole.state is State.ESTABLISHED
    assert whole.trailing_data == (stream.payload, eof)

    chunks = chunked(stream.data, cuts)
    assert b"".join(chunks) == stream.data
    events, conn = feed(chunks, eof=eof, answers=answers)
    assert events == whole_events
    assert conn.state is State.ESTABLISHED
    assert conn.request == whole.request
    assert conn.trailing_data == whole.trailing_data


@FAST
@given(stream=streams)
def test_byte_by_byte_parses_the_same(stream: Stream) -> None:
    answers = Answers(method=2 if stream.auth else 0)
    chunks = [stream.data[i : i + 1] for i in range(len(stream.data))]
    events, conn = feed(chunks, eof=False, answers=answers)
    assert events == stream.messages
    assert conn.trailing_data == (stream.payload, False)


@st.composite
def mutated_streams(draw: st.DrawFn) -> bytes:
    """A valid stream with a few bytes overwritten, cut short or extended."""
    data = bytearray(draw(streams).data)
    for _ in range(draw(st.integers(0, 3))):
        if data:
            data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
    cut = draw(st.integers(0, len(data)))
    return bytes(data[:cut]) + draw(st.binary(max_size=8))


noise = st.one_of(
    st.binary(max_size=300),
    st.binary(max_size=300).map(lambda b: b"\x05" + b),
    st.binary(max_size=300).map(lambda b: b"\x04" + b),
    mutated_streams(),
)

answers_strategy = st.builds(
    Answers,
    method=st.sampled_from([0x00, 0x01, 0x02, 0xFF]),
    auth_status=st.sampled_from([0x00, 0x01]),
    reply=st.sampled_from([0x00, 0x01, 0x05, 0x07]),
    socks4_status=st.sampled_from([0x5A, 0x5B]),
)


@FAST
@given(
    data=noise,
    cuts=st.lists(st.integers(0, 400), max_size=20),
    answers=answers_strategy,
    socks4=st.booleans(),
)
def test_arbitrary_bytes_never_crash_the_server(
    data: bytes, cuts: list[int], answers: Answers, socks4: bool
) -> None:
    conn: ServerConnection | None = None
    error: RemoteProtocolError | None = None
    try:
        _, conn = feed(chunked(data, cuts), eof=True, answers=answers, socks4=socks4)
    except RemoteProtocolError as exc:
        error = exc
    if error is not None:
        assert error.response in RFC_ANSWERS
    else:
        # Once the client has closed and every event was answered, nothing is pending.
        assert conn is not None
        assert conn.state in (State.ESTABLISHED, State.CLOSED)


@FAST
@given(data=st.one_of(st.binary(max_size=300), st.binary(max_size=300).map(b"\x00\x00".__add__)))
def test_arbitrary_bytes_to_the_udp_parser_raise_only_value_error(data: bytes) -> None:
    try:
        datagram = parse_udp_datagram(data)
    except ValueError:
        return
    assert isinstance(datagram, UdpDatagram)
    assert data.endswith(datagram.data)
    assert datagram.fragment == data[2]
