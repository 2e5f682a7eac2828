"""A tiny blocking SOCKS 5/4 client that sends exact bytes, for testing proxies.

Strategy: every step of the conversation is a separate function over a plain blocking
socket — open, greeting, RFC 1929 auth, request, read a whole reply — so a test can run
the well-behaved sequence with :func:`handshake` or stop anywhere and send bytes of its
own. Messages are built with the sans-I/O core's encoders (:mod:`pytest_socks5._protocol`),
so what this client sends is what the server's parsers read. Nothing here hides a byte:
functions return the proxy's answers as ``bytes``, and an answer the client cannot go on
from raises :exc:`UnexpectedAnswer` (an :exc:`AssertionError`, so in a test it reads as a
failed expectation). Standard library only; no threads, no asyncio.

For example::

    from pytest_socks5 import rawclient

    with rawclient.tunnel(socks5_server.address, "127.0.0.1", 8080) as (sock, reply):
        assert rawclient.reply_code(reply) == 0
        sock.sendall(b"ping")
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterator
from contextlib import contextmanager

from ._protocol import (
    AddressType,
    AuthMethod,
    AuthRequest,
    AuthStatus,
    Command,
    Greeting,
    Socks4Command,
    Socks4Request,
    Version,
    address_type_for,
    encode_address,
)

__all__ = [
    "SOCKS4_REPLY_SIZE",
    "TIMEOUT",
    "UnexpectedAnswer",
    "auth_request",
    "connect",
    "exchange",
    "greeting",
    "handshake",
    "open_tunnel",
    "read_reply",
    "read_socks4_reply",
    "recv_all",
    "recv_exactly",
    "reply_address",
    "reply_code",
    "reply_size",
    "socks4_reply_address",
    "socks4_request",
    "socks5_request",
    "tunnel",
]

#: Seconds any one socket operation may take (the default of :func:`connect`).
TIMEOUT = 5.0

#: Length of a SOCKS 4 reply: ``VN CD DSTPORT DSTIP``.
SOCKS4_REPLY_SIZE = 8

Address = tuple[str, int]


class UnexpectedAnswer(AssertionError):
    """The proxy answered something the client cannot go on from (for example, it refused
    the offered method, or a reply has an ATYP no length can be known for)."""


# -- sockets ------------------------------------------------------------------------------


def connect(address: Address, *, timeout: float = TIMEOUT, nodelay: bool = False) -> socket.socket:
    """A TCP connection to ``(host, port)`` (IPv4 or IPv6 literal) with ``timeout`` set on
    every operation; ``nodelay`` turns Nagle's algorithm off before connecting."""
    family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.settimeout(timeout)
        if nodelay:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.connect(address)
    except BaseException:
        sock.close()
        raise
    return sock


def recv_exactly(sock: socket.socket, n: int) -> bytes:
    """Exactly ``n`` bytes; :exc:`EOFError` (with what did arrive, in hex) on an early EOF."""
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise EOFError(f"expected {n} bytes, got {len(data)} then EOF: {data.hex(' ')}")
        data += chunk
    return data


def recv_all(sock: socket.socket) -> bytes:
    """Everything until EOF."""
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


def exchange(address: Address, *messages: bytes, timeout: float = TIMEOUT) -> bytes:
    """Connect, send each message, half-close (EOF), and return everything the proxy sent
    back until it closed: the whole of a short conversation, in one call."""
    with connect(address, timeout=timeout) as sock:
        for message in messages:
            sock.sendall(message)
        sock.shutdown(socket.SHUT_WR)
        return recv_all(sock)


# -- client messages ----------------------------------------------------------------------


def greeting(*methods: int) -> bytes:
    """``VER NMETHODS METHODS`` offering ``methods`` (default: only "no authentication")."""
    return Greeting(methods=methods or (AuthMethod.NO_AUTHENTICATION_REQUIRED,)).to_bytes()


def auth_request(username: bytes, password: bytes) -> bytes:
    """RFC 1929 ``VER ULEN UNAME PLEN PASSWD``."""
    return AuthRequest(username=username, password=password).to_bytes()


def socks5_request(host: str, port: int, command: int = Command.CONNECT) -> bytes:
    """``VER CMD RSV ATYP DST.ADDR DST.PORT`` for an IPv4 or IPv6 literal, or a domain name
    (IDNA-encoded when it is not ASCII)."""
    address = encode_address(address_type_for(host), host)
    return bytes((Version.SOCKS5, command, 0)) + address + port.to_bytes(2, "big")


def socks4_request(
    host: str, port: int, *, user_id: bytes = b"", command: int = Socks4Command.CONNECT
) -> bytes:
    """A SOCKS 4 request for an IPv4 literal, or a SOCKS 4a one (``DSTIP`` 0.0.0.1 and the
    name after the user id) for anything else."""
    try:
        ip: str | None = str(ipaddress.IPv4Address(host))
    except ValueError:
        ip = None
    if ip is not None:
        message = Socks4Request(command=command, port=port, ip=ip, user_id=user_id)
    else:
        message = Socks4Request(
            command=command, port=port, ip="0.0.0.1", user_id=user_id, domain=host.encode()
        )
    return message.to_bytes()


# -- replies ------------------------------------------------------------------------------


def reply_size(head: bytes) -> int:
    """Length of the whole SOCKS 5 reply that ``head`` (its first 5 bytes or more) opens."""
    if len(head) < 5:
        raise ValueError(f"the length of a reply is known from 5 bytes, not {len(head)}")
    atyp = head[3]
    if atyp == AddressType.IPV4:
        return 10
    if atyp == AddressType.IPV6:
        return 22
    if atyp == AddressType.DOMAIN:
        return 7 + head[4]
    raise UnexpectedAnswer(f"a reply with ATYP 0x{atyp:02x} has no known length: {head.hex(' ')}")


def read_reply(sock: socket.socket) -> bytes:
    """One whole SOCKS 5 reply (``VER REP RSV ATYP BND.ADDR BND.PORT``), exactly as sent."""
    head = recv_exactly(sock, 5)
    return head + recv_exactly(sock, reply_size(head) - 5)


def reply_code(reply: bytes) -> int:
    """``REP`` of a SOCKS 5 reply (0 is success), or ``CD`` of a SOCKS 4 one (0x5A)."""
    return reply[1]


def reply_address(reply: bytes) -> Address:
    """``(BND.ADDR, BND.PORT)`` of a SOCKS 5 reply; a domain is decoded as UTF-8."""
    port = int.from_bytes(reply[-2:], "big")
    atyp = reply[3]
    if atyp == AddressType.IPV4:
        return socket.inet_ntop(socket.AF_INET, reply[4:8]), port
    if atyp == AddressType.IPV6:
        return socket.inet_ntop(socket.AF_INET6, reply[4:20]), port
    return reply[5:-2].decode(errors="replace"), port


def read_socks4_reply(sock: socket.socket) -> bytes:
    """One SOCKS 4 reply (``VN CD DSTPORT DSTIP``, 8 bytes)."""
    return recv_exactly(sock, SOCKS4_REPLY_SIZE)


def socks4_reply_address(reply: bytes) -> Address:
    """``(DSTIP, DSTPORT)`` of a SOCKS 4 reply."""
    return socket.inet_ntoa(reply[4:8]), int.from_bytes(reply[2:4], "big")


# -- the whole conversation ---------------------------------------------------------------


def handshake(
    sock: socket.socket,
    host: str,
    port: int,
    *,
    auth: tuple[bytes, bytes] | None = None,
    command: int = Command.CONNECT,
) -> bytes:
    """Greeting, RFC 1929 auth when ``auth`` is ``(username, password)``, then the request,
    one step at a time as a well-behaved client does; return the reply, whatever its REP.

    Raises :exc:`UnexpectedAnswer` if the proxy does not select the offered method or
    rejects the credentials."""
    method = (
        AuthMethod.NO_AUTHENTICATION_REQUIRED if auth is None else AuthMethod.USERNAME_PASSWORD
    )
    sock.sendall(greeting(method))
    selected = recv_exactly(sock, 2)
    if selected != bytes((Version.SOCKS5, method)):
        raise UnexpectedAnswer(f"offered method 0x{method:02x}, got {selected.hex(' ')}")
    if auth is not None:
        sock.sendall(auth_request(*auth))
        status = recv_exactly(sock, 2)
        if status != bytes((Version.USERNAME_PASSWORD, AuthStatus.SUCCESS)):
            raise UnexpectedAnswer(f"the credentials were refused: {status.hex(' ')}")
    sock.sendall(socks5_request(host, port, command))
    return read_reply(sock)


def open_tunnel(
    proxy: Address,
    host: str,
    port: int,
    *,
    auth: tuple[bytes, bytes] | None = None,
    timeout: float = TIMEOUT,
    nodelay: bool = False,
) -> socket.socket:
    """A socket tunnelled through ``proxy`` to ``(host, port)`` with ``CONNECT``; raises
    :exc:`UnexpectedAnswer` unless the reply says success. The caller closes it."""
    sock = connect(proxy, timeout=timeout, nodelay=nodelay)
    try:
        reply = handshake(sock, host, port, auth=auth)
        if reply_code(reply) != 0:
            raise UnexpectedAnswer(f"the proxy answered REP 0x{reply[1]:02x}: {reply.hex(' ')}")
    except BaseException:
        sock.close()
        raise
    return sock


@contextmanager
def tunnel(
    proxy: Address,
    host: str,
    port: int,
    *,
    auth: tuple[bytes, bytes] | None = None,
    command: int = Command.CONNECT,
    timeout: float = TIMEOUT,
) -> Iterator[tuple[socket.socket, bytes]]:
    """Connect to ``proxy``, run :func:`handshake`, and yield ``(socket, reply)`` whatever
    the reply's REP (check it with :func:`reply_code`); the socket is closed on exit."""
    with connect(proxy, timeout=timeout) as sock:
        yield sock, handshake(sock, host, port, auth=auth, command=command)
