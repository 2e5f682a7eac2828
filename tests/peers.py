"""Loopback-only peers for BIND and UDP ASSOCIATE tests: raw clients and a UDP echo."""

from __future__ import annotations

import errno
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from pytest_socks5._protocol import UdpDatagram, parse_udp_datagram
from pytest_socks5.rawclient import (
    TIMEOUT,
    connect,
    greeting,
    read_reply,
    recv_exactly,
    reply_address,
    socks4_reply_address,
    socks5_request,
)

__all__ = [
    "GREETING",
    "UdpClient",
    "read_reply",
    "reply_address",
    "socks4_reply_address",
    "udp_echo",
    "udp_header",
    "udp_port_is_free",
    "udp_socket",
]

GREETING = greeting()


def udp_socket(host: str = "127.0.0.1") -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_DGRAM)
    sock.settimeout(TIMEOUT)
    sock.bind((host, 0))
    return sock


def udp_header(host: str, port: int, *, fragment: int = 0) -> bytes:
    """``RSV FRAG ATYP DST.ADDR DST.PORT`` (the request encoder's address part)."""
    return b"\x00\x00" + bytes((fragment,)) + socks5_request(host, port)[3:]


class UdpClient:
    """A raw UDP ASSOCIATE client: the control connection and a UDP socket."""

    def __init__(self, proxy: tuple[str, int], *, declare: tuple[str, int] | None = None):
        local = proxy[0]
        self.sock = udp_socket(local)
        self.control = connect(proxy)
        declared = declare or self.sock.getsockname()[:2]
        self.control.sendall(GREETING)
        assert recv_exactly(self.control, 2) == b"\x05\x00"
        self.control.sendall(socks5_request(*declared, command=3))
        self.reply = read_reply(self.control)
        assert self.reply[1] == 0, self.reply.hex(" ")
        self.relay = reply_address(self.reply)

    def send(self, host: str, port: int, data: bytes, *, fragment: int = 0) -> None:
        self.sock.sendto(udp_header(host, port, fragment=fragment) + data, self.relay)

    def send_raw(self, data: bytes) -> None:
        self.sock.sendto(data, self.relay)

    def receive(self) -> UdpDatagram:
        data, source = self.sock.recvfrom(65536)
        assert source[:2] == self.relay, "a datagram that is not from the relay"
        return parse_udp_datagram(data)

    def close(self) -> None:
        self.control.close()
        self.sock.close()

    def __enter__(self) -> UdpClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@contextmanager
def udp_echo(
    host: str = "127.0.0.1", transform: Callable[[bytes], bytes] = lambda data: data
) -> Iterator[tuple[str, int]]:
    """A UDP server that answers each datagram with ``transform(datagram)``."""
    sock = udp_socket(host)
    sock.settimeout(0.05)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                data, source = sock.recvfrom(65536)
            except TimeoutError:
                continue
            sock.sendto(transform(data), source)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield sock.getsockname()[:2]
    finally:
        stop.set()
        thread.join(TIMEOUT)
        sock.close()


def udp_port_is_free(address: tuple[str, int]) -> bool:
    """Whether nothing holds this UDP address any more (binding it succeeds)."""
    family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as probe:
        try:
            probe.bind(address)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return False
            raise
    return True
