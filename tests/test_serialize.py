"""Records as JSON and back."""

from __future__ import annotations

import json

from pytest_socks5 import AddressType, AuthMethod, ConnectionRecord, Outcome, Reply, SOCKS5Server

from .helpers import only_record, socks5_tunnel


def real_record(echo_server, **options) -> ConnectionRecord:
    with SOCKS5Server(users={"alice": "s3cret"}, **options) as server:
        with socks5_tunnel(server.address, *echo_server, auth=(b"alice", b"s3cret")) as (sock, _):
            sock.sendall(b"ping")
            sock.recv(4)
        return only_record(server)


def test_a_record_round_trips_exactly(echo_server) -> None:
    record = real_record(echo_server, capture_payload=64)
    again = ConnectionRecord.from_json(record.to_json(show_password=True))
    assert again == record
    assert again.timings == record.timings
    assert again.handshake == record.handshake
    assert again.payload_from_client == b"ping"
    assert isinstance(again.outcome, Outcome)
    assert again.chosen_method is AuthMethod.USERNAME_PASSWORD
    assert again.address_type is AddressType.IPV4
    assert again.reply is Reply.SUCCEEDED


def test_json_is_plain_values_with_bytes_as_hex(echo_server) -> None:
    data = json.loads(real_record(echo_server).to_json())
    assert data["raw_username"] == b"alice".hex()
    assert data["outcome"] == "closed"
    assert data["closed_how"] == "fin"
    assert data["handshake"][0] == {
        "direction": "from_client",
        "name": "greeting",
        "data": "050102",
        "at": data["handshake"][0]["at"],
    }
    assert set(data["timings"]) == {
        "accepted",
        "negotiated",
        "authenticated",
        "requested",
        "replied",
        "closed",
    }
    assert data["payload_from_client"] is None


def test_the_password_is_redacted_by_default(echo_server) -> None:
    record = real_record(echo_server)
    text = record.to_json()
    assert b"s3cret".hex() not in text
    data = json.loads(text)
    assert data["raw_password"] is None
    assert data["password_redacted"] is True
    auth = next(m for m in data["handshake"] if m["name"] == "auth request")
    assert bytes.fromhex(auth["data"]) == b"\x01\x05alice\x06******"
    again = ConnectionRecord.from_json(text)
    assert again.raw_password is None
    assert again.raw_username == b"alice"


def test_unknown_keys_are_ignored() -> None:
    line = {"test": "t.py::test_x", "proxy": "p", "id": 3, "client_address": ["::1", 5]}
    record = ConnectionRecord.from_json(json.dumps(line))
    assert record.id == 3
    assert record.client_address == ("::1", 5)
    assert ConnectionRecord.from_json(line) == record


def test_socks4_codes_come_back_as_socks4_codes() -> None:
    record = ConnectionRecord(id=1, client_address=("127.0.0.1", 1), version=4, reply=0x5B)
    again = ConnectionRecord.from_json(record.to_json())
    assert again.reply == 0x5B
    assert type(again.reply).__name__ == "Socks4Reply"
