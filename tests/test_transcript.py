"""The transcript renderer: pure functions from records to text."""

from __future__ import annotations

import dataclasses

import pytest

from pytest_socks5 import ConnectionRecord, Outcome, SOCKS5Server
from pytest_socks5._recorder import Recorder
from pytest_socks5._records import HandshakeMessage, Timings
from pytest_socks5._transcript import (
    decode_message,
    describe_record,
    hex_dump,
    render_record,
    render_transcript,
)

from .helpers import socks5_tunnel


def message(name: str, data: bytes, direction: str = "to_client") -> HandshakeMessage:
    return HandshakeMessage(direction=direction, name=name, data=data, at=0.0)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("name", "data", "text"),
    [
        ("greeting", b"\x05\x02\x00\x02", "VER 5, METHODS 0x00 (NO_AUTHENTICATION_REQUIRED), "),
        ("method selection", b"\x05\xff", "METHOD 0xff (NO_ACCEPTABLE_METHODS)"),
        ("auth reply", b"\x01\x01", "STATUS 0x01 (FAILURE)"),
        (
            "request",
            b"\x05\x01\x00\x03\x09localhost\x1f\x90",
            "CONNECT localhost:8080, ATYP 0x03 (DOMAIN)",
        ),
        (
            "request",
            b"\x05\x01\x00\x04" + b"\x00" * 15 + b"\x01\x00\x50",
            "CONNECT [::1]:80, ATYP 0x04 (IPV6)",
        ),
        (
            "reply",
            b"\x05\x05\x00\x01\x00\x00\x00\x00\x00\x00",
            "REP 0x05 (CONNECTION_REFUSED), BND 0.0.0.0:0 (ATYP 0x01 (IPV4))",
        ),
        ("reply", b"\x05\x00\x00\x01\x7f", "REP 0x00 (SUCCEEDED), truncated (5 bytes)"),
        ("reply", b"\x05\x01\x00\x00\x00", "REP 0x01 (GENERAL_FAILURE), BND with unknown ATYP"),
        ("reply", b"\x05", "truncated (1 bytes)"),
        ("socks4 request", b"\x04\x01\x00\x50\x00\x00\x00\x01bob\x00x.test\x00", "SOCKS4a "),
        ("socks4 reply", b"\x00\x5a\x00\x00\x00\x00\x00\x00", "CD 0x5a (GRANTED), 0.0.0.0:0"),
        ("unparsed", b"GET / HTTP/1.1\r\n", "b'GET / HTTP/1.1\\r\\n'"),
        ("something a fault sent", b"\xde\xad", "b'\\xde\\xad'"),
    ],
)
def test_messages_decode_in_the_rfcs_words(name: str, data: bytes, text: str) -> None:
    assert decode_message(message(name, data)).startswith(text)


def test_a_message_that_does_not_decode_never_raises() -> None:
    assert decode_message(message("request", b"\x04\x01\x00")).startswith("does not decode")


def test_passwords_are_masked_unless_asked_for() -> None:
    auth = message("auth request", b"\x01\x05alice\x06s3cret", "from_client")
    assert "PASSWORD *** (6 bytes)" in decode_message(auth)
    assert "'s3cret'" in decode_message(auth, show_password=True)
    record = ConnectionRecord(id=1, client_address=("127.0.0.1", 1), handshake=(auth,))
    masked = render_record(record)
    assert "s3cret" not in masked
    assert "73 33 63 72 65 74" not in masked  # the password's bytes, in hex
    assert "06 ** ** ** ** ** **" in masked
    shown = render_record(record, show_password=True)
    assert "73 33 63 72 65 74" in shown


def test_hex_dump_shows_printable_text() -> None:
    assert hex_dump(b"GET /\r\n") == ["0000  47 45 54 20 2f 0d 0a" + " " * 27 + "  GET /.."]


def test_a_transcript_of_nothing_says_the_proxy_was_not_used() -> None:
    text = render_transcript([], title="socks5_server at socks5://127.0.0.1:1080")
    assert text.startswith("socks5_server at socks5://127.0.0.1:1080: no connections")
    assert "NO_PROXY" in text


def test_a_transcript_shows_faults_error_payload_and_ending() -> None:
    record = ConnectionRecord(
        id=7,
        client_address=("127.0.0.1", 5000),
        version=5,
        command=1,
        address_type=3,
        host="api.test",
        port=443,
        reply=0,
        handshake=(
            message("greeting", b"\x05\x01\x00", "from_client"),
            message("method selection", b"\x05\x00"),
        ),
        dialled=(("::1", 443), ("127.0.0.1", 443)),
        upstream_address=("127.0.0.1", 443),
        bound_address=("127.0.0.1", 6000),
        bytes_from_client=300,
        bytes_to_client=0,
        payload_from_client=b"x" * 300,
        payload_to_client=b"",
        timings=Timings(accepted=100.0, closed=100.25),
        started_at=100.0,
        ended_at=100.25,
        outcome=Outcome.RESET,
        closed_by="upstream",
        closed_how="rst",
        error="upstream: ConnectionResetError(104, 'Connection reset by peer')",
        faults=("reset after 300 bytes",),
    )
    text = render_record(record)
    lines = text.splitlines()
    assert lines[0].startswith("#7 127.0.0.1:5000 SOCKS5 CONNECT api.test:443")
    assert "error:" not in lines[0], "the summary line leaves the details to the lines below"
    for expected in (
        "proxy dialled   [::1]:443, then 127.0.0.1:443",
        "connected to    127.0.0.1:443 from 127.0.0.1:6000",
        "+ 250.000 ms  ended           reset by upstream (RST)",
        "error:   upstream: ConnectionResetError(104, 'Connection reset by peer')",
        "faults:  reset after 300 bytes",
        "payload: client → destination 300 bytes",
        "… 44 more captured bytes not shown",
        "payload: destination → client 0 bytes",
    ):
        assert expected in text, expected


def test_an_open_connection_says_so() -> None:
    record = ConnectionRecord(id=1, client_address=("127.0.0.1", 1), closed_by="client")
    assert "still open      client closed its side first" in render_record(record)


def test_real_records_render(echo_server) -> None:
    with SOCKS5Server() as server:
        with socks5_tunnel(server.address, *echo_server):
            pass
        server.wait_for_connections(1, ended=True)
        text = render_transcript(server.connections, title="proxy")
    assert text.startswith("proxy: 1 connection(s)")
    assert "client → proxy  greeting: VER 5, METHODS 0x00" in text
    assert "proxy → client  reply: REP 0x00 (SUCCEEDED)" in text
    assert "ended           closed by client (FIN)" in text


def test_unfinished_live_records_render() -> None:
    recorder = Recorder()
    recorder.new(("127.0.0.1", 1))
    (record,) = recorder.snapshot()
    assert "still open      when the transcript was taken" in render_record(record)


def test_host_map_rules_bind_and_udp_are_shown() -> None:
    record = ConnectionRecord(
        id=2,
        client_address=("127.0.0.1", 1),
        version=5,
        command=3,
        address_type=1,
        host="0.0.0.0",
        port=0,
        mapped_to="ECHO",
        denied_by="Rule.deny(port=25)",
        udp_client_address=("127.0.0.1", 5353),
        datagrams_from_client=3,
        datagram_bytes_from_client=30,
        datagrams_dropped=1,
        drop_reasons=("from another source",),
    )
    text = render_record(record)
    assert "host_map        → ECHO" in text
    assert "refused by      Rule.deny(port=25)" in text
    assert "datagrams: 3 client → destination (30 bytes), 0 destination → client" in text
    assert "1 dropped; client's UDP address 127.0.0.1:5353" in text
    assert "dropped: from another source" in text


def test_codes_are_named_by_the_rfc_or_shown_as_unassigned() -> None:
    """The one-line description names every code the RFC names, and shows any other."""
    named = ConnectionRecord(
        id=1,
        client_address=("127.0.0.1", 1),
        version=5,
        command=1,
        address_type=1,
        host="127.0.0.1",
        port=80,
        reply=0x05,
        outcome=Outcome.CLOSED,
    )
    assert "CONNECT 127.0.0.1:80 (ATYP 0x01 (IPV4))" in str(named)
    assert "→ REP 0x05 (CONNECTION_REFUSED)" in str(named)
    odd = dataclasses.replace(named, command=0x09, address_type=0x07, reply=0x2A)
    assert "CMD 0x09 127.0.0.1:80 (ATYP 0x07 (unassigned))" in str(odd)
    assert "→ REP 0x2a (unassigned)" in str(odd)
    socks4 = dataclasses.replace(named, version=4, reply=0x5B)
    assert "→ REP 0x5b (REJECTED)" in str(socks4)


def test_ipv6_addresses_are_bracketed_in_the_transcript_and_the_summary() -> None:
    """``::1:60934`` reads as an address with a port of 60934 or as ``::1:6093`` and 4;
    every address with a port is written ``[v6]:port``, the client's and a BIND peer's
    as the others'."""
    record = ConnectionRecord(
        id=3,
        client_address=("::1", 60934),
        version=5,
        command=2,
        address_type=4,
        host="::1",
        port=21,
        bind_peer_address=("::1", 40000),
        closed_by="client",
    )
    text = render_record(record)
    assert "#3 [::1]:60934 SOCKS5 BIND [::1]:21" in text
    assert "accepted        from [::1]:60934" in text
    assert "BIND peer       [::1]:40000" in text
    assert "[::1]:60934" in describe_record(record)
    assert "peer [::1]:40000" in describe_record(record)
    assert "::1:" not in text.replace("[::1]:", "")
