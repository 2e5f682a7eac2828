"""BIND (RFC 1928 §4 to §6, and SOCKS 4): listen for one incoming connection, then relay.

Strategy: the proxy opens a listener on the address the client reached it at, answers
with that address (the first reply), and waits ``bind_timeout`` seconds for one
connection. RFC 1928: "The second reply occurs only after the anticipated incoming
connection succeeds or fails." When the peer is the one the request named, the second
reply carries the peer's address and the connection becomes the tunnel's upstream side;
a connection from any other address, or none in time, gets a failure reply. As the SOCKS 4
protocol puts it, the server "checks the IP address of the originating host against the
value of DSTIP": the address, not the port, is checked, and an all-zero address accepts
any peer.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket

from ._connection import ClientConnection
from ._deadline import Deadline
from ._dial_errors import reply_for_dial_error
from ._fault_types import Phase
from ._guard import KeptError, take_over
from ._hosts import Echo, Sink, Unresolvable, describe_target
from ._protocol import AddressType, Reply, Request, Socks4Request, address_type_for
from ._recorder import LiveRecord
from ._records import Outcome
from ._relay import RelaySide
from ._replies import Replies
from ._requests import answer_request
from ._sockets import address_of
from ._tunnel import open_tunnel

__all__ = ["serve_bind"]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def _ip(text: str) -> IPAddress:
    ip = ipaddress.ip_address(text.partition("%")[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


class _KeptUntilTaken(KeptError):
    """A bug in a peer before the BIND connection takes it: the wait for the peer raises
    it, or, once the peer has arrived, :func:`take_over` does."""

    __slots__ = ("arrived",)

    def __init__(self, arrived: asyncio.Future[_Peer]) -> None:
        super().__init__()
        self.arrived = arrived

    def __call__(self, exc: Exception) -> None:
        if self.arrived.done():
            super().__call__(exc)
        else:
            self.arrived.set_exception(exc)


class _Peer(RelaySide):
    """The incoming connection: the upstream side of the tunnel once it is accepted."""

    def __init__(self, record: LiveRecord, arrived: asyncio.Future[_Peer]) -> None:
        super().__init__(record, "upstream")
        self.arrived = arrived
        self.on_error = _KeptUntilTaken(arrived)

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if self.arrived.done():  # only the first connection counts
            assert self.transport is not None
            self.transport.close()
        else:
            self.arrived.set_result(self)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.peer is None:  # not (yet) in a tunnel: the record is not this side's
            self.lost = True
            return
        super().connection_lost(exc)


class BindFailed(Exception):
    """The request cannot be served: ``reply`` (SOCKS5 REP) says why."""

    def __init__(self, reply: int, error: str) -> None:
        super().__init__(error)
        self.reply = reply


async def _expected_peer(conn: ClientConnection, host: str, port: int) -> set[IPAddress] | None:
    """The addresses the peer may come from (``None``: any), after ``host_map``."""
    record = conn.record
    try:
        target = conn.policy.destination(host, port)
    except Unresolvable as exc:
        record.mapped("unresolvable")
        raise BindFailed(Reply.HOST_UNREACHABLE, str(exc)) from None
    if isinstance(target, Echo | Sink):
        record.mapped(describe_target(target))
        raise BindFailed(
            Reply.HOST_UNREACHABLE, f"{host} maps to {target!r}, which cannot connect to anyone"
        )
    if target != (host, port):
        record.mapped(describe_target(target))
    name = target[0]
    if address_type_for(name) is not AddressType.DOMAIN:
        ip = _ip(name)
        return None if ip.is_unspecified else {ip}
    try:
        with Deadline(conn.config.connect_timeout):
            found = await conn.dialler.resolve(name, port, socket.SOCK_STREAM)
    except (OSError, TimeoutError) as exc:
        raise BindFailed(reply_for_dial_error(exc), f"resolving {name} failed: {exc!r}") from None
    return {_ip(address) for _, address in found}


async def _wait_for_peer(conn: ClientConnection, arrived: asyncio.Future[_Peer]) -> _Peer | None:
    """The peer, or ``None`` once the client sends EOF (it has given up)."""
    while not arrived.done():
        if conn.client_eof:
            return None
        woken = conn.wakeup()
        await asyncio.wait((arrived, woken), return_when=asyncio.FIRST_COMPLETED)
    return arrived.result()


def _fail(conn: ClientConnection, replies: Replies, reply: int, error: str) -> None:
    conn.record.replied(replies.code(reply))
    conn.reject(Outcome.REJECTED, replies.failure(reply), error=error)


async def serve_bind(
    conn: ClientConnection, replies: Replies, request: Request | Socks4Request
) -> None:
    """Carry out a BIND that the rules have passed: both replies, then the tunnel."""
    record, config = conn.record, conn.config
    try:
        expected = await _expected_peer(conn, request.host, request.port)
    except BindFailed as exc:
        _fail(conn, replies, exc.reply, str(exc))
        return
    control = conn.transport
    assert control is not None
    loop = asyncio.get_running_loop()
    arrived: asyncio.Future[_Peer] = loop.create_future()

    def close_peer() -> None:
        if arrived.done() and not arrived.cancelled() and arrived.exception() is None:
            peer = arrived.result()
            if peer.transport is not None and conn.relay is None:
                peer.transport.abort()

    try:
        server = await loop.create_server(
            lambda: _Peer(record, arrived), host=conn.local_ip, port=0, backlog=1
        )
    except OSError as exc:
        _fail(conn, replies, reply_for_dial_error(exc), f"BIND could not listen: {exc!r}")
        return
    conn.add_cleanup(close_peer)
    try:
        listening = address_of(server.sockets[0].getsockname())
        assert listening is not None
        record.bound(listening)
        # The reply decision point, as for CONNECT: faults (and gates and hooks) act on
        # the first reply, which names the listening address.
        faults = await conn.faults_at(Phase.REPLY)
        if not await answer_request(
            conn, replies, faults, listening, instead="instead of listening"
        ):
            return
        try:
            with Deadline(config.bind_timeout):
                peer = await _wait_for_peer(conn, arrived)
        except TimeoutError:
            _fail(
                conn,
                replies,
                Reply.TTL_EXPIRED,
                f"BIND: nobody connected to {describe_target(listening)} "
                f"within bind_timeout={config.bind_timeout:g}s",
            )
            return
    finally:
        server.close()
    if peer is None:  # the client closed its side: it is not waiting any more
        record.end(Outcome.CLIENT_CLOSED, closed_by="client")
        control.close()
        return
    take_over(peer, conn.internal_error)  # raises a bug it had before it arrived
    assert peer.transport is not None
    # None if the peer reset at once (uvloop asks the socket each time).
    peer_address = address_of(peer.transport.get_extra_info("peername"))
    if peer_address is not None:
        record.bind_peer(peer_address)
    if peer.lost or peer_address is None:
        _fail(conn, replies, Reply.GENERAL_FAILURE, "BIND: the peer was gone at once")
        return
    if expected is not None and _ip(peer_address[0]) not in expected:
        peer.transport.abort()
        wanted = " or ".join(sorted(str(ip) for ip in expected))
        _fail(
            conn,
            replies,
            Reply.CONNECTION_NOT_ALLOWED,
            f"BIND expected a connection from {wanted}, "
            f"got one from {describe_target(peer_address)}",
        )
        return
    record.replied(replies.granted)
    conn.send(replies.success(peer_address))
    open_tunnel(conn, peer)
