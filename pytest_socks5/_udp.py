"""UDP ASSOCIATE (RFC 1928 §7): a real UDP relay for one client, alive as long as its TCP
control connection.

Strategy: the relay listens on a UDP socket at the address the client reached the proxy
at; the success reply names it. Datagrams from the client carry the RFC's header
(``RSV FRAG ATYP DST.ADDR DST.PORT DATA``); they are taken in order by one task, checked
against the destination rules, mapped (``host_map``: an address, a virtual destination,
or unresolvable), resolved if they name a host, and sent from an upstream socket. Replies
from a destination the client has sent to go back with the header addressed the way the
client addressed that destination (so a mapped name stays a name). Everything else is
dropped and counted, with the reason:

* "It MUST drop any datagrams arriving from any source IP address other than the one
  recorded for the particular association" — the address in the request, or the control
  connection's when the request says all zeros (the port is learnt from the first
  datagram when the request gives none);
* "An implementation that does not support fragmentation MUST drop any datagram whose
  FRAG field is other than X'00'";
* a malformed header, a refused or unresolvable destination, a reply from a source the
  client never sent to, what :class:`~pytest_socks5.UdpFaults` drops, and a datagram a
  socket refused to send (too large with the header): none is counted as relayed.

"A UDP association terminates when the TCP connection that the UDP ASSOCIATE request
arrived on terminates": the control connection's end (or its EOF) closes every socket.
"""

from __future__ import annotations

import asyncio
import dataclasses
import ipaddress
import socket
from collections.abc import Callable

from ._connection import ClientConnection
from ._deadline import Deadline
from ._dialler import literal_address
from ._fault_types import Phase
from ._guard import GuardedProtocol, OnError, guarded, watch_task
from ._hosts import Echo, Sink, Unresolvable
from ._policy import no_tunnel_for
from ._protocol import (
    AddressType,
    Command,
    Reply,
    Request,
    ServerReply,
    UdpDatagram,
    parse_udp_datagram,
)
from ._read_buffer import BufferedReads
from ._records import CloseHow, Outcome
from ._replies import Socks5Replies
from ._requests import answer_request
from ._udp_endpoint import UdpEndpoint
from ._udp_faults import DatagramDirection as Direction
from ._udp_faults import UdpFaultState
from ._user_code import UserCodeError

__all__ = ["MAX_DROP_REASONS", "UdpAssociation", "serve_udp_associate"]

REPLIES = Socks5Replies()

#: A record keeps this many distinct reasons for dropped datagrams (the count is exact).
MAX_DROP_REASONS = 20
#: Client datagrams waiting to be relayed; beyond this they are dropped.
QUEUE_LIMIT = 1024

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Endpoint = tuple[IPAddress, int]


def _ip(text: str) -> IPAddress:
    ip = ipaddress.ip_address(text.partition("%")[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def _show(address: tuple[str, int]) -> str:
    host, port = address
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


class _Control(GuardedProtocol, asyncio.Protocol, BufferedReads):
    """The TCP connection the request came on, once the association is open."""

    def __init__(self, association: UdpAssociation) -> None:
        self.association = association
        self.on_error = association.conn.internal_error

    def data_received(self, data: bytes) -> None:
        """RFC 1928 gives the control connection nothing more to carry; bytes are ignored."""

    def eof_received(self) -> bool:
        self.association.end(Outcome.CLOSED, closed_by="client")
        return False  # close our side too: the association is over

    def connection_lost(self, exc: Exception | None) -> None:
        self.association.control_lost(exc)


class UdpAssociation:
    """One UDP ASSOCIATE: the relay socket, upstream sockets, and the bookkeeping."""

    def __init__(self, conn: ClientConnection, request: Request) -> None:
        self.conn = conn
        self.config = conn.config
        self.record = conn.record
        self.request = request
        self.control: asyncio.Transport | None = None
        self.relay: asyncio.DatagramTransport | None = None
        self.relay_socket: socket.socket | None = None
        #: Every UDP socket of the association, with its transport.
        self.endpoints: list[tuple[asyncio.DatagramTransport, socket.socket]] = []
        self.client_ip: IPAddress | None = None
        self.client_port: int | None = None
        self.client_address: tuple[str, int] | None = None
        self.upstreams: dict[tuple[str, int], socket.socket] = {}
        #: Where each destination's replies come from → how the client addressed it.
        self.addressed: dict[Endpoint, UdpDatagram] = {}
        self.resolved: dict[tuple[str, int], tuple[int, str]] = {}
        self.faults: UdpFaultState | None = (
            self.config.udp_faults.start() if self.config.udp_faults is not None else None
        )
        self.queue: asyncio.Queue[tuple[bytes, tuple[str, int]]] = asyncio.Queue(QUEUE_LIMIT)
        self.pump: asyncio.Task[None] | None = None
        self.timers: set[asyncio.TimerHandle] = set()
        self.closed = False
        #: Where a bug in a callback, a timer or the pump goes.
        self.on_error: OnError = conn.internal_error

    # -- opening -------------------------------------------------------------------

    async def start(self) -> None:
        """Open the relay socket, send the success reply naming it, and take over the
        control connection."""
        conn, record, request = self.conn, self.record, self.request
        control = conn.transport
        assert control is not None
        self.control = control
        local_ip = conn.local_ip
        declared = request.address_type in (AddressType.IPV4, AddressType.IPV6)
        if declared and not _ip(request.host).is_unspecified:
            self.client_ip = _ip(request.host)
        elif conn.peer_address is not None:
            self.client_ip = _ip(conn.peer_address[0])
        else:  # reset before it was accepted: no address to relay for, and no one to tell
            record.end(Outcome.RESET, closed_by="client", how="rst", error="the client was gone")
            control.close()
            return
        self.client_port = request.port or None
        loop = asyncio.get_running_loop()
        conn.add_cleanup(self.close_sockets)
        try:
            relay, self.relay_socket = await self._endpoint((local_ip, 0), self.from_client)
        except OSError as exc:
            record.replied(Reply.GENERAL_FAILURE)
            error = f"UDP ASSOCIATE could not open the relay socket: {exc!r}"
            conn.reject(Outcome.REJECTED, ServerReply(reply=Reply.GENERAL_FAILURE), error=error)
            return
        self.relay = relay
        sockname = relay.get_extra_info("sockname")
        bound = (str(sockname[0]), int(sockname[1]))
        record.bound(bound)
        faults = await conn.faults_at(Phase.REPLY)  # the reply decision point
        if conn.policy.given_transfer:  # given before the request named UDP ASSOCIATE
            given = no_tunnel_for(conn.policy.given_transfer[0], "a gate or hook gave")
            raise UserCodeError("gate or hook", ValueError(given))
        instead = "instead of opening the association"
        if not await answer_request(conn, REPLIES, faults, bound, instead=instead):
            return
        self.pump = loop.create_task(self._pump())
        watch_task(self.pump, self)
        conn.hand_over(self)
        control.set_protocol(_Control(self))
        if conn.lost:
            self.control_lost(None)
        elif conn.client_eof:
            self.end(Outcome.CLOSED, closed_by="client")
            control.close()

    async def _endpoint(
        self, local: tuple[str, int], receive: Callable[[bytes, tuple[str, int]], None]
    ) -> tuple[asyncio.DatagramTransport, socket.socket]:
        """A UDP socket bound to ``local`` whose datagrams go to ``receive``. The socket is
        kept so that closing the association frees its port at once."""
        family = socket.AF_INET6 if ":" in local[0] else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_DGRAM)
        protocol = UdpEndpoint(receive, self.conn.internal_error)
        try:
            sock.setblocking(False)
            sock.bind(local)
            transport, _ = await asyncio.get_running_loop().create_datagram_endpoint(
                lambda: protocol, sock=sock
            )
        except BaseException:  # a cancel too: the association closed while it was made
            protocol.abandon()
            sock.close()
            raise
        self.endpoints.append((transport, sock))
        if self.closed:
            self.close_sockets()
        return transport, sock

    # -- closing -------------------------------------------------------------------

    def end(
        self,
        outcome: Outcome,
        *,
        closed_by: str,
        how: CloseHow = "fin",
        error: str | None = None,
    ) -> None:
        """Close the UDP sockets, then settle the record: once a record says the
        association ended, its ports are free."""
        self.close_sockets()
        self.record.end(outcome, closed_by=closed_by, how=how, error=error)

    def control_lost(self, exc: Exception | None) -> None:
        """The control connection is gone: the association ends."""
        if exc is not None:
            how: CloseHow = "rst" if isinstance(exc, ConnectionError) else "error"
            self.end(Outcome.RESET, closed_by="client", how=how, error=f"client: {exc!r}")
        else:
            self.end(Outcome.CLOSED, closed_by="client")
        self.conn.tunnel_done()

    def close_tunnel(self, *, abort: bool) -> None:
        """End the association from the server side (shutdown, or a fault)."""
        if self.control is not None and not self.control.is_closing():
            if abort:
                self.control.abort()
            else:
                self.control.close()

    def close_sockets(self) -> None:
        """Stop relaying and close every UDP socket (idempotent; a handshake cleanup)."""
        self.closed = True
        if self.pump is not None:
            self.pump.cancel()
        for timer in self.timers:
            timer.cancel()
        self.timers.clear()
        for transport, sock in self.endpoints:
            transport.close()  # unregisters the socket at once...
            sock.close()  # ...so that it can be closed now, not on the next loop turn

    # -- bookkeeping -----------------------------------------------------------------

    def drop(self, reason: str) -> None:
        """Count a dropped datagram and keep the reason (distinct ones, up to a limit)."""
        self.record.datagram_dropped(reason, keep=MAX_DROP_REASONS)

    def _note_faults(self, names: tuple[str, ...]) -> None:
        for name in names:
            if name not in self.record.faults:
                self.record.fault_acted(name)

    def _relayed(self) -> None:
        if self.faults is not None and self.faults.on_relayed():
            self._note_faults(("udp-close-control",))
            self.end(
                Outcome.CLOSED,
                closed_by="server",
                error=f"UdpFaults closed the control connection after {self.faults.relayed} "
                "datagram(s)",
            )
            self.close_tunnel(abort=False)

    def _with_faults(
        self, direction: Direction, data: bytes, send: Callable[[bytes], None]
    ) -> None:
        """Send ``data`` one way, through the configured faults."""
        if self.faults is None:
            send(data)
            return
        action = self.faults.on_datagram(direction, data)
        self._note_faults(action.applied)
        if action.drop:
            self.drop(f"dropped by UdpFaults ({direction.replace('_', ' ')})")
            return
        if action.delay <= 0:
            send(action.data)
            return
        loop = asyncio.get_running_loop()

        def later() -> None:
            self.timers.discard(timer)
            self._send_later(send, action.data)

        timer = loop.call_later(action.delay, later)
        self.timers.add(timer)

    @guarded
    def _send_later(self, send: Callable[[bytes], None], data: bytes) -> None:
        if not self.closed:
            send(data)

    # -- client → destination ----------------------------------------------------------

    def from_client(self, data: bytes, addr: tuple[str, int]) -> None:
        if self.closed:
            return
        source = (_ip(addr[0]), addr[1])
        if source[0] != self.client_ip or self.client_port not in (None, addr[1]):
            expected = f"{self.client_ip}:{self.client_port or '*'}"
            self.drop(f"from {_show(addr)}, not the association's client {expected}")
            return
        if self.client_address is None:
            self.client_port = addr[1]
            self.client_address = addr
            self.record.udp_client(addr)
        try:
            self.queue.put_nowait((data, addr))
        except asyncio.QueueFull:
            self.drop(f"more than {QUEUE_LIMIT} datagrams waiting to be relayed")

    async def _pump(self) -> None:
        while True:
            data, _ = await self.queue.get()
            await self._relay_out(data)  # a bug ends the task: see watch_task

    async def _relay_out(self, data: bytes) -> None:
        record = self.record
        try:
            datagram = parse_udp_datagram(data)
        except ValueError as exc:
            self.drop(f"malformed header: {exc}")
            return
        if datagram.fragment != 0:
            self.drop(f"FRAG=0x{datagram.fragment:02x}: fragmentation is not supported")
            return
        host, port = datagram.host, datagram.port
        denial = self.conn.policy.denial(record, Command.UDP_ASSOCIATE, host, port)
        if denial is not None:
            record.denied(denial.reason)
            self.drop(denial.error)
            return
        try:
            target = self.conn.policy.destination(host, port)
        except Unresolvable as exc:
            self.drop(str(exc))
            return
        payload = datagram.data
        if isinstance(target, Echo | Sink):
            virtual = target

            def deliver(payload: bytes) -> None:
                self._count_out(payload)
                if isinstance(virtual, Echo):
                    self.to_client(datagram, payload)
                elif virtual.response:
                    self.to_client(datagram, virtual.response)

            self._with_faults("from_client", payload, deliver)
            return
        resolved = self.resolved.get(target) or literal_address(target[0])
        if resolved is None:
            try:
                with Deadline(self.config.connect_timeout):
                    found = await self.conn.dialler.resolve(*target, socket.SOCK_DGRAM)
            except (OSError, TimeoutError) as exc:
                self.drop(f"resolving {target[0]} failed: {exc!r}")
                return
            resolved = self.resolved[target] = found[0]
        family, ip = resolved
        upstream = await self._upstream(family, ip)
        destination = (ip, target[1])
        self.addressed[(_ip(ip), target[1])] = dataclasses.replace(datagram, data=b"")

        def send(payload: bytes) -> None:
            try:
                self.conn.dialler.send_datagram(upstream, payload, destination)
            except OSError as exc:
                self.drop(f"sending to {_show(destination)} failed: {exc!r}")
                return
            self._count_out(payload)

        self._with_faults("from_client", payload, send)

    def _count_out(self, payload: bytes) -> None:
        self.record.datagram_from_client(len(payload))
        self._relayed()

    async def _upstream(self, family: int, ip: str) -> socket.socket:
        """The socket datagrams to ``ip`` go out from (its transport reads the replies):
        on loopback for a loopback destination, on the wildcard address otherwise."""
        v6 = family == socket.AF_INET6
        if _ip(ip).is_loopback:
            local = ("::1" if v6 else "127.0.0.1", 0)
        else:
            local = ("::" if v6 else "0.0.0.0", 0)
        if local not in self.upstreams:
            _, self.upstreams[local] = await self._endpoint(local, self.from_upstream)
        return self.upstreams[local]

    # -- destination → client ----------------------------------------------------------

    def from_upstream(self, data: bytes, addr: tuple[str, int]) -> None:
        if self.closed:
            return
        origin = self.addressed.get((_ip(addr[0]), addr[1]))
        if origin is None:
            self.drop(f"from {_show(addr)}, which the client has not sent to")
            return
        self.to_client(origin, data)

    def to_client(self, origin: UdpDatagram, payload: bytes) -> None:
        """Send ``payload`` to the client, with the header naming ``origin``."""
        relay, sock, client = self.relay, self.relay_socket, self.client_address
        assert relay is not None
        assert sock is not None
        assert client is not None

        def send(data: bytes) -> None:
            if relay.is_closing():
                return
            # The socket itself, as for the destinations: its transport would hand an
            # error (a datagram too large with the header) to error_received, unseen.
            try:
                sock.sendto(dataclasses.replace(origin, data=data).to_bytes(), client)
            except OSError as exc:
                self.drop(f"sending to the client {_show(client)} failed: {exc!r}")
                return
            self.record.datagram_to_client(len(data))
            self._relayed()

        self._with_faults("to_client", payload, send)


async def serve_udp_associate(conn: ClientConnection, request: Request) -> None:
    """Open the association for a UDP ASSOCIATE request (the rules have passed it)."""
    await UdpAssociation(conn, request).start()
