"""Records, queries and the messages of failing assertions."""

from __future__ import annotations

import dataclasses
import threading

import pytest

from pytest_socks5 import (
    AddressType,
    ConnectionRecord,
    NoMatchingConnection,
    Outcome,
    SOCKS5Server,
)
from pytest_socks5._protocol import Request, Socks4Request
from pytest_socks5._recorder import LiveRecord, Recorder

from .helpers import only_record, socks5_tunnel


def test_freezing_fills_every_field_of_the_frozen_record() -> None:
    live = LiveRecord(id=1, client_address=("127.0.0.1", 1))
    frozen = {f.name for f in dataclasses.fields(ConnectionRecord)}
    shared = {f.name for f in dataclasses.fields(LiveRecord)} & frozen
    # Fields the live record keeps in another shape are converted by freeze().
    assert frozen - shared == {"timings"}
    assert dataclasses.asdict(live.freeze()).keys() == frozen


def test_a_frozen_record_is_what_its_constructor_builds() -> None:
    """freeze() fills the record's fields directly: each one, none left to a default."""
    live = LiveRecord(id=7, client_address=("127.0.0.1", 2))
    live.greeted((0, 2))
    live.chose_method(2)
    live.gave_credentials(b"user", b"pw")
    live.dialling(("127.0.0.1", 9))
    live.connected(("127.0.0.1", 9), ("127.0.0.1", 3))
    live.capture_payload(4)
    live.delivered_from_client(b"abcdef")
    live.received("greeting", b"\x05\x01\x00")
    live.fault_acted("a fault")
    live.end(Outcome.CLOSED, closed_by="client")
    record = live.freeze()
    names = [f.name for f in dataclasses.fields(ConnectionRecord)]
    assert sorted(vars(record)) == sorted(names)
    assert record == ConnectionRecord(**{name: getattr(record, name) for name in names})
    assert record.payload_from_client == b"abcd"
    assert record.payload_to_client == b""
    assert record.dialled == (("127.0.0.1", 9),)
    assert record.faults == ("a fault",)
    assert record.timings.closed == live.ended_at
    assert record.username == "user"


def test_handshake_messages_are_made_once_and_in_order() -> None:
    live = LiveRecord(id=1, client_address=("127.0.0.1", 1))
    live.received("greeting", b"\x05\x01\x00")
    first = live.freeze().handshake
    live.sent("method selection", b"\x05\x00")
    second = live.freeze().handshake
    assert [(m.direction, m.name, m.data) for m in second] == [
        ("from_client", "greeting", b"\x05\x01\x00"),
        ("to_client", "method selection", b"\x05\x00"),
    ]
    assert second[0] is first[0], "a message already frozen is not made again"
    assert live.freeze().handshake is second
    assert second[1].at == live.freeze().timings.negotiated


def test_records_are_frozen() -> None:
    record = LiveRecord(id=1, client_address=("127.0.0.1", 1)).freeze()
    with pytest.raises(dataclasses.FrozenInstanceError):
        record.host = "x"  # type: ignore[misc]


def test_password_is_not_in_the_repr() -> None:
    live = LiveRecord(id=1, client_address=("127.0.0.1", 1))
    live.raw_password = b"hunter2"
    assert "hunter2" not in repr(live.freeze())


def make(recorder: Recorder, **fields: object) -> None:
    live = recorder.new(("127.0.0.1", 40000))
    for name, value in fields.items():
        setattr(live, name, value)


def test_find_with_values_globs_and_predicates() -> None:
    recorder = Recorder()
    make(recorder, host="api.example.test", port=443, address_type=AddressType.DOMAIN)
    make(recorder, host="127.0.0.1", port=80, address_type=AddressType.IPV4)
    assert [r.port for r in recorder.find(host="*.example.test")] == [443]
    assert [r.port for r in recorder.find(port=lambda p: p < 100)] == [80]
    assert [r.port for r in recorder.find(address_type=AddressType.IPV4)] == [80]
    assert recorder.find(host="example.test") == []


def test_misspelt_fields_are_refused() -> None:
    with pytest.raises(TypeError, match=r"unknown ConnectionRecord field.*hots"):
        Recorder().find(hots="x")


def test_failure_message_lists_the_closest_records_with_differences() -> None:
    with SOCKS5Server() as server:
        recorder = server._recorder
        make(
            recorder,
            version=5,
            command=1,
            host="api.example.test",
            port=80,
            address_type=AddressType.DOMAIN,
        )
        make(
            recorder,
            version=5,
            command=1,
            host="other.test",
            port=443,
            address_type=AddressType.DOMAIN,
        )
        with pytest.raises(NoMatchingConnection) as info:
            server.assert_connected(host="api.example.test", port=443)
    message = str(info.value)
    assert (
        message.splitlines()[0]
        == "expected a connection matching host='api.example.test', port=443"
    )
    assert "2 connection(s) were recorded, closest first:" in message
    assert "CONNECT api.example.test:80" in message
    assert "differs: port=80 (wanted 443)" in message
    assert "differs: host='other.test' (wanted 'api.example.test')" in message


def test_assert_connected_with_count() -> None:
    with SOCKS5Server() as server:
        make(server._recorder, host="a", port=1)
        make(server._recorder, host="a", port=2)
        assert server.assert_connected(host="a", count=2).port == 1
        with pytest.raises(
            NoMatchingConnection, match=r"exactly 1 connection\(s\) matching host='a' \(found 2\)"
        ):
            server.assert_connected(host="a", count=1)
        with pytest.raises(
            NoMatchingConnection, match="expected no connection matching host='a', found 2"
        ):
            server.assert_not_connected(host="a")
        with pytest.raises(NoMatchingConnection, match="expected no connections"):
            server.assert_no_connections()
        server.assert_not_connected(host="b")


def test_wait_for_connections_times_out_with_an_explanation() -> None:
    recorder = Recorder()
    recorder.serving(True)  # as a running server's (one not running fails at once)
    with pytest.raises(
        NoMatchingConnection, match=r"waited 0.1s for 1 connection\(s\) matching port=1"
    ):
        recorder.wait_for(1, timeout=0.1, port=1)


def test_wait_for_connections_wakes_when_traffic_arrives(echo_server) -> None:
    with SOCKS5Server() as server:
        started = threading.Event()

        def client() -> None:
            started.wait(5)
            with socks5_tunnel(server.address, *echo_server):
                pass

        thread = threading.Thread(target=client)
        thread.start()
        started.set()
        record = only_record(server, timeout=5)
        thread.join(5)
    assert record.outcome is Outcome.CLOSED
    assert record.duration is not None
    assert record.duration >= 0


def test_snapshot_is_consistent_while_connections_run(echo_server) -> None:
    with SOCKS5Server() as server:
        with socks5_tunnel(server.address, *echo_server) as (sock, _):
            (open_record,) = server.connections
            assert open_record.outcome is Outcome.OPEN
            sock.sendall(b"abc")
            assert sock.recv(3) == b"abc"
        closed = only_record(server)
    assert open_record.outcome is Outcome.OPEN, "a snapshot does not change afterwards"
    assert closed.bytes_from_client == 3


@pytest.mark.parametrize(
    ("request_", "expected"),
    [
        (
            Request(command=1, address_type=3, host="a.test", port=80, raw_address=b"a.test"),
            {"version": 5, "address_type": 3, "raw_address": b"a.test", "user_id": None},
        ),
        (
            Socks4Request(command=1, port=80, ip="127.0.0.1", user_id=b"me", host="127.0.0.1"),
            {
                "version": 4,
                "address_type": 1,
                "raw_address": b"\x7f\x00\x00\x01",
                "username": "me",
            },
        ),
        (
            Socks4Request(
                command=1, port=80, ip="0.0.0.1", user_id=b"", domain=b"b.test", host="b.test"
            ),
            {"version": 4, "address_type": 3, "raw_address": b"b.test", "host": "b.test"},
        ),
    ],
    ids=["socks5-domain", "socks4-ipv4", "socks4a-domain"],
)
def test_note_request_fills_the_record_as_the_wire_said(request_, expected: dict) -> None:
    live = LiveRecord(id=1, client_address=("127.0.0.1", 1))
    live.note_request(request_)
    record = live.freeze()
    assert {name: getattr(record, name) for name in expected} == expected
    assert record.port == 80
