"""How-to: a UDP client through the proxy (UDP ASSOCIATE)."""

import socket
import threading

import pytest
import socks

from pytest_socks5 import Command, UdpFaults


@pytest.fixture
def udp_echo():
    """A UDP server on 127.0.0.1 that sends every datagram back: ``(host, port)``."""
    server = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    server.bind(("127.0.0.1", 0))
    server.settimeout(0.1)
    stop = threading.Event()

    def serve():
        while not stop.is_set():
            try:
                data, sender = server.recvfrom(65536)
            except TimeoutError:
                continue
            server.sendto(data, sender)

    thread = threading.Thread(target=serve)
    thread.start()
    yield server.getsockname()
    stop.set()
    thread.join(5)
    server.close()


def udp_client(proxy):
    """A PySocks UDP socket that sends through ``proxy``."""
    sock = socks.socksocket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.set_proxy(socks.SOCKS5, proxy.host, proxy.port)
    sock.settimeout(5)
    return sock


def test_pysocks_udp_through_the_proxy(socks5_server, udp_echo):
    with udp_client(socks5_server) as sock:
        sock.sendto(b"ping", udp_echo)
        data, sender = sock.recvfrom(1024)

    assert data == b"ping"
    assert sender == udp_echo
    (record,) = socks5_server.wait_for_connections(1, ended=True)
    assert record.command == Command.UDP_ASSOCIATE
    assert record.datagrams_from_client == record.datagrams_to_client == 1
    assert record.datagram_bytes_from_client == 4


@pytest.mark.socks5(udp_faults=UdpFaults(drop=1.0, limit=1))
def test_the_first_datagram_is_lost(socks5_server, udp_echo):
    with udp_client(socks5_server) as sock:
        sock.sendto(b"lost", udp_echo)
        sock.sendto(b"kept", udp_echo)
        data, _ = sock.recvfrom(1024)

    assert data == b"kept"
    (record,) = socks5_server.wait_for_connections(1, ended=True)
    assert record.datagrams_dropped == 1
    assert record.faults == ("udp-drop",)


@pytest.mark.socks5(udp_faults=UdpFaults(close_control_after=2))
def test_the_proxy_ends_the_association(socks5_server, udp_echo):
    with udp_client(socks5_server) as sock:
        sock.sendto(b"one round trip", udp_echo)
        assert sock.recvfrom(1024)[0] == b"one round trip"

        (record,) = socks5_server.wait_for_connections(1, ended=True)

    assert record.closed_by == "server"
    assert record.faults == ("udp-close-control",)
