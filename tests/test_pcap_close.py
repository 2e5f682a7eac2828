"""A capture's close: the side the record says closed first sends the first FIN or RST,
and the proxy passes it on to the other stream. Read from the pcapng bytes (no tshark)."""

from __future__ import annotations

import dataclasses
import socket
import socketserver
import struct

import pytest

from pytest_socks5 import ConnectionRecord, SOCKS5Server, rawclient
from pytest_socks5._pcap import pcapng_bytes

from .helpers import echo_target, only_record, tcp_target

_FIN, _RST = 0x01, 0x04


def closes(server: SOCKS5Server, record: ConnectionRecord) -> list[str]:
    """The capture's FIN and RST packets in file order, as ``"client>proxy FIN"``: the
    client<->proxy stream's ends are client and proxy, the proxy<->destination stream's
    proxy and upstream."""
    names = {
        (record.client_address, server.address): ("client", "proxy"),
        (server.address, record.client_address): ("proxy", "client"),
        (record.bound_address, record.upstream_address): ("proxy", "upstream"),
        (record.upstream_address, record.bound_address): ("upstream", "proxy"),
    }
    data = pcapng_bytes([(server.address, [record])])
    out = []
    while data:
        kind, length = struct.unpack_from("<II", data)
        if kind == 6:  # an enhanced packet block: its packet, an IPv4 header, then TCP
            packet = data[28 : 28 + struct.unpack_from("<I", data, 20)[0]]
            tcp = packet[(packet[0] & 0x0F) * 4 :]
            src = (socket.inet_ntoa(packet[12:16]), struct.unpack_from("!H", tcp)[0])
            dst = (socket.inet_ntoa(packet[16:20]), struct.unpack_from("!H", tcp, 2)[0])
            for flag, word in ((_FIN, "FIN"), (_RST, "RST")):
                if tcp[13] & flag:
                    out.append("{}>{} {}".format(*names[src, dst], word))
        data = data[length:]
    return out


class _Bye(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        self.request.sendall(b"bye")  # and close first


def test_the_client_closing_first_sends_the_first_fin() -> None:
    with echo_target() as target, SOCKS5Server() as server:
        with rawclient.tunnel(server.address, *target) as (sock, _):
            sock.sendall(b"ping")
            assert rawclient.recv_exactly(sock, 4) == b"ping"
            sock.shutdown(socket.SHUT_WR)
            assert rawclient.recv_all(sock) == b""
        record = only_record(server)
    assert (record.closed_by, record.closed_how) == ("client", "fin")
    assert closes(server, record) == [
        "client>proxy FIN", "proxy>upstream FIN", "upstream>proxy FIN", "proxy>client FIN"
    ]  # fmt: skip


def test_the_destination_closing_first_sends_the_first_fin() -> None:
    with tcp_target(_Bye) as target, SOCKS5Server() as server:
        with rawclient.tunnel(server.address, *target) as (sock, _):
            assert rawclient.recv_all(sock) == b"bye"
        record = only_record(server)
    assert (record.closed_by, record.closed_how) == ("upstream", "fin")
    assert closes(server, record) == [
        "upstream>proxy FIN", "proxy>client FIN", "client>proxy FIN", "proxy>upstream FIN"
    ]  # fmt: skip


def test_a_client_reset_is_passed_on_as_a_reset() -> None:
    with echo_target() as target, SOCKS5Server() as server:
        with rawclient.tunnel(server.address, *target) as (sock, _):
            sock.sendall(b"ping")
            assert rawclient.recv_exactly(sock, 4) == b"ping"
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        record = only_record(server)
    assert (record.closed_by, record.closed_how) == ("client", "rst")
    assert closes(server, record) == ["client>proxy RST", "proxy>upstream RST"]


def test_the_proxy_closing_first_sends_both_first_fins() -> None:
    with echo_target() as target, SOCKS5Server() as server:
        with rawclient.tunnel(server.address, *target) as (sock, _):
            sock.sendall(b"ping")
            assert rawclient.recv_exactly(sock, 4) == b"ping"
            server.stop()
            assert rawclient.recv_all(sock) == b""
        record = only_record(server)
    assert (record.closed_by, record.closed_how) == ("server", "fin")
    assert closes(server, record) == [
        "proxy>client FIN", "client>proxy FIN", "proxy>upstream FIN", "upstream>proxy FIN"
    ]  # fmt: skip


@pytest.fixture(scope="module")
def ended() -> tuple[SOCKS5Server, ConnectionRecord]:
    """A tunnel's record, for every closed_by and closed_how put in it."""
    with echo_target() as target, SOCKS5Server() as server:
        with rawclient.tunnel(server.address, *target) as (sock, _):
            sock.sendall(b"ping")
            assert rawclient.recv_exactly(sock, 4) == b"ping"
        return server, only_record(server)


C_P, P_C, P_U, U_P = "client>proxy", "proxy>client", "proxy>upstream", "upstream>proxy"


@pytest.mark.parametrize(
    ("closed_by", "closed_how", "expected"),
    [
        ("client", "fin", [f"{C_P} FIN", f"{P_U} FIN", f"{U_P} FIN", f"{P_C} FIN"]),
        ("client", "rst", [f"{C_P} RST", f"{P_U} RST"]),
        ("client", "error", [f"{P_U} RST"]),  # the client's socket failed: nothing sent
        ("upstream", "fin", [f"{U_P} FIN", f"{P_C} FIN", f"{C_P} FIN", f"{P_U} FIN"]),
        ("upstream", "rst", [f"{U_P} RST", f"{P_C} RST"]),
        ("upstream", "error", [f"{P_C} RST"]),
        ("server", "fin", [f"{P_C} FIN", f"{C_P} FIN", f"{P_U} FIN", f"{U_P} FIN"]),
        ("server", "rst", [f"{P_C} RST", f"{P_U} RST"]),
        ("server", "error", [f"{P_C} RST", f"{P_U} RST"]),  # the proxy aborts both
        (None, None, [f"{P_C} FIN", f"{C_P} FIN", f"{P_U} FIN", f"{U_P} FIN"]),
    ],
)
def test_every_close_is_in_the_order_the_record_says(
    ended: tuple[SOCKS5Server, ConnectionRecord],
    closed_by: str | None,
    closed_how: str | None,
    expected: list[str],
) -> None:
    server, record = ended
    record = dataclasses.replace(record, closed_by=closed_by, closed_how=closed_how)
    assert closes(server, record) == expected


@pytest.mark.parametrize(
    ("closed_by", "expected"),
    [
        ("client", [f"{C_P} FIN", f"{P_C} FIN"]),
        ("upstream", [f"{P_C} FIN", f"{C_P} FIN"]),  # passed on by the proxy
        ("server", [f"{P_C} FIN", f"{C_P} FIN"]),
    ],
)
def test_without_a_destination_stream_only_the_client_stream_closes(
    ended: tuple[SOCKS5Server, ConnectionRecord], closed_by: str, expected: list[str]
) -> None:
    server, record = ended
    record = dataclasses.replace(record, closed_by=closed_by, closed_how="fin", bound_address=None)
    assert closes(server, record) == expected
