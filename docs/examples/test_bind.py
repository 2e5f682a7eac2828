"""How-to: a BIND client (the proxy listens, a peer connects in)."""

import ipaddress
import socket

import pytest

from pytest_socks5 import Command, Reply


def read_exactly(sock, n):
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise EOFError(f"the proxy closed after {data!r}")
        data += chunk
    return data


def read_reply(sock):
    """One SOCKS5 reply with an IPv4 or IPv6 BND: ``(REP, (host, port))``."""
    head = read_exactly(sock, 4)
    size = 4 if head[3] == 1 else 16
    address = ipaddress.ip_address(read_exactly(sock, size))
    port = int.from_bytes(read_exactly(sock, 2), "big")
    return head[1], (str(address), port)


def bind(proxy, expected_peer):
    """Ask ``proxy`` to listen for a connection from ``expected_peer`` (an IPv4 address).

    Returns the control connection and the address the proxy listens on.
    """
    sock = socket.create_connection(proxy.address, timeout=5)
    sock.sendall(b"\x05\x01\x00")
    assert read_exactly(sock, 2) == b"\x05\x00"
    sock.sendall(b"\x05\x02\x00\x01" + socket.inet_aton(expected_peer) + b"\x00\x00")
    reply, listening = read_reply(sock)
    assert reply == Reply.SUCCEEDED
    return sock, listening


def test_a_peer_connects_to_the_bind_address(socks5_server):
    control, listening = bind(socks5_server, expected_peer="127.0.0.1")

    # The application server (here, the test itself) connects to the advertised address.
    with control, socket.create_connection(listening, timeout=5) as peer:
        reply, peer_address = read_reply(control)  # the second reply
        assert reply == Reply.SUCCEEDED
        assert peer_address == peer.getsockname()

        peer.sendall(b"hello from the peer")
        assert read_exactly(control, 19) == b"hello from the peer"
        control.sendall(b"hello from the client")
        assert read_exactly(peer, 21) == b"hello from the client"

    record = socks5_server.assert_connected(command=Command.BIND)
    assert record.bound_address == listening
    assert record.bind_peer_address == peer_address


@pytest.mark.socks5(bind_timeout=0.5)
def test_nobody_connects(socks5_server):
    control, _ = bind(socks5_server, expected_peer="127.0.0.1")

    with control:
        reply, _ = read_reply(control)

    assert reply == Reply.TTL_EXPIRED
