"""How-to: a BIND client (the proxy listens, a peer connects in)."""

import socket

import pytest

from pytest_socks5 import Command, Reply, rawclient


def read_reply(sock):
    """One SOCKS5 reply: ``(REP, (BND.ADDR, BND.PORT))``."""
    reply = rawclient.read_reply(sock)
    return rawclient.reply_code(reply), rawclient.reply_address(reply)


def bind(proxy, expected_peer):
    """Ask ``proxy`` to listen for a connection from ``expected_peer`` (an IPv4 address).

    Returns the control connection and the address the proxy listens on.
    """
    sock = rawclient.connect(proxy.address)
    reply = rawclient.handshake(sock, expected_peer, 0, command=Command.BIND)
    assert rawclient.reply_code(reply) == Reply.SUCCEEDED
    return sock, rawclient.reply_address(reply)


def test_a_peer_connects_to_the_bind_address(socks5_server):
    control, listening = bind(socks5_server, expected_peer="127.0.0.1")

    # The application server (here, the test itself) connects to the advertised address.
    with control, socket.create_connection(listening, timeout=5) as peer:
        reply, peer_address = read_reply(control)  # the second reply
        assert reply == Reply.SUCCEEDED
        assert peer_address == peer.getsockname()

        peer.sendall(b"hello from the peer")
        assert rawclient.recv_exactly(control, 19) == b"hello from the peer"
        control.sendall(b"hello from the client")
        assert rawclient.recv_exactly(peer, 21) == b"hello from the client"

    record = socks5_server.assert_connected(command=Command.BIND)
    assert record.bound_address == listening
    assert record.bind_peer_address == peer_address


@pytest.mark.socks5(bind_timeout=0.5)
def test_nobody_connects(socks5_server):
    control, _ = bind(socks5_server, expected_peer="127.0.0.1")

    with control:
        reply, _ = read_reply(control)

    assert reply == Reply.TTL_EXPIRED
