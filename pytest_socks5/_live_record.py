"""What a running connection fills in: the mutable twin of a record.

Strategy: the server fills a mutable :class:`LiveRecord` (plain attributes, counters and
timestamps, no copies of payload unless a test asked for them) through typed "what
happened" methods, one per event, and :meth:`LiveRecord.freeze` turns it into the frozen
:class:`~pytest_socks5.ConnectionRecord` that readers see. The store that holds them
(and the lock) is :mod:`pytest_socks5._recorder`.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import operator
import re
import time
from dataclasses import dataclass, field

from ._http import reply_for_status
from ._protocol import (
    AddressType,
    AuthMethod,
    Command,
    Reply,
    Request,
    Socks4Reply,
    Socks4Request,
    address_type_for,
    coerce,
)
from ._records import (
    FROM_CLIENT,
    TO_CLIENT,
    CloseHow,
    ConnectionRecord,
    Direction,
    HandshakeMessage,
    Outcome,
    Timings,
)

__all__ = ["LiveRecord"]

Headers = tuple[tuple[str, str], ...]


@dataclass(kw_only=True, slots=True, eq=False)
class LiveRecord:
    """The mutable twin of :class:`ConnectionRecord` that a running connection fills in
    (plain attributes, counters and timestamps, so recording costs no copies of payload
    unless ``payload_limit`` asks for them); see :meth:`freeze`."""

    id: int
    client_address: tuple[str, int]
    version: int | None = None
    offered_methods: tuple[int, ...] = ()
    chosen_method: int | None = None
    username: str | None = None
    raw_username: bytes | None = None
    raw_password: bytes | None = field(default=None, repr=False)
    authenticated: bool | None = None
    command: int | None = None
    address_type: int | None = None
    host: str | None = None
    port: int | None = None
    raw_address: bytes | None = None
    user_id: bytes | None = None
    reply: int | None = None
    bound_address: tuple[str, int] | None = None
    upstream_address: tuple[str, int] | None = None
    dialled: tuple[tuple[str, int], ...] = ()
    bytes_from_client: int = 0
    bytes_to_client: int = 0
    #: Payload capture: the first ``payload_limit`` bytes each way (``None``: off).
    payload_limit: int = 0
    payload_from_client: bytearray | None = field(default=None, repr=False)
    payload_to_client: bytearray | None = field(default=None, repr=False)
    #: Each handshake message as ``(direction, name, data, at)``: a plain tuple, made in C;
    #: :meth:`freeze` makes each a :class:`HandshakeMessage` once (``frozen_messages``),
    #: so a connection that is never frozen (``--quiet``, a test that asks nothing) never
    #: pays for four frozen values per handshake.
    handshake: list[tuple[Direction, str, bytes, float]] = field(default_factory=list, repr=False)
    frozen_messages: tuple[HandshakeMessage, ...] = field(default=(), init=False, repr=False)
    negotiated_at: float | None = None
    authenticated_at: float | None = None
    requested_at: float | None = None
    replied_at: float | None = None
    started_at: float = field(default_factory=time.time)
    ended_at: float | None = None
    outcome: Outcome = Outcome.OPEN
    closed_by: str | None = None
    closed_how: str | None = None
    error: str | None = None
    faults: tuple[str, ...] = ()
    holds: tuple[str, ...] = ()
    # -- host mapping, destination rules, BIND and UDP ASSOCIATE --------------------
    mapped_to: str | None = None
    denied_by: str | None = None
    bind_peer_address: tuple[str, int] | None = None
    udp_client_address: tuple[str, int] | None = None
    datagrams_from_client: int = 0
    datagrams_to_client: int = 0
    datagram_bytes_from_client: int = 0
    datagram_bytes_to_client: int = 0
    datagrams_dropped: int = 0
    drop_reasons: tuple[str, ...] = ()
    protocol: str | None = None
    http_request: str | None = None
    http_headers: tuple[tuple[str, str], ...] = ()
    http_status: int | None = None
    http_requests: tuple[str, ...] = ()
    http_statuses: tuple[int, ...] = ()
    #: The code (REP, CD) and HTTP status of the answer about to go out: they become
    #: ``reply`` and ``http_status`` when the bytes carrying them are sent (:meth:`sent`).
    reply_pending: int | None = field(default=None, repr=False)
    status_pending: int | None = field(default=None, repr=False)
    #: The first request's ``(host, port, address_type)`` while a later forwarded
    #: request's origin is selected (:meth:`select_origin`).
    first_origin: tuple[str | None, int | None, int | None] | None = field(
        default=None, repr=False
    )

    # -- filled in by the server -------------------------------------------------

    def capture_payload(self, limit: int) -> None:
        """Keep the first ``limit`` payload bytes each way (call before the tunnel opens)."""
        if limit > 0:
            self.payload_limit = limit
            self.payload_from_client = bytearray()
            self.payload_to_client = bytearray()

    # What happened, in the order it can happen. The server writes a record only
    # through these methods (and received/sent/note_close/end below).

    def greeted(self, methods: tuple[int, ...]) -> None:
        """A SOCKS5 greeting offered ``methods``."""
        self.version, self.protocol = 5, "socks5"
        self.offered_methods = methods

    def chose_method(self, method: int) -> None:
        """The proxy answered the greeting with ``method``."""
        self.chosen_method = coerce(method, AuthMethod)

    def gave_credentials(self, username: bytes, password: bytes) -> None:
        """The client sent RFC 1929 credentials."""
        self.raw_username, self.raw_password = username, password
        self.username = username.decode("utf-8", "backslashreplace")

    def authenticated_as(self, ok: bool) -> None:
        """The credentials (or SOCKS 4 USERID) were accepted or refused."""
        self.authenticated = ok

    def mapped(self, to: str) -> None:
        """``host_map`` sent the destination elsewhere (``"unresolvable"``, an address,
        a virtual destination)."""
        self.mapped_to = to

    def denied(self, reason: str) -> None:
        """A rule refused the destination."""
        self.denied_by = reason

    def dialling(self, address: tuple[str, int]) -> None:
        """The proxy is connecting to ``address``."""
        self.dialled += (address,)

    def connected(self, upstream: tuple[str, int] | None, bound: tuple[str, int]) -> None:
        """The destination answered: ``upstream`` is its address, ``bound`` the proxy's end."""
        self.upstream_address = upstream
        self.bound_address = bound

    def bound(self, address: tuple[str, int]) -> None:
        """BIND listens (or UDP ASSOCIATE relays) at ``address``."""
        self.bound_address = address

    def bind_peer(self, address: tuple[str, int]) -> None:
        """The incoming BIND connection came from ``address``."""
        self.bind_peer_address = address

    def replied(self, code: int) -> None:
        """The answer to the request about to go out carries ``code`` (REP, or SOCKS 4
        CD; HTTP: the SOCKS5 REP its status stands for): ``reply`` once it is sent, as
        the :class:`Reply` or :class:`Socks4Reply` member that names it, on every path."""
        if type(code) is int:  # a member already (the replies' own codes) needs nothing
            code = coerce(code, Socks4Reply if self.version == 4 else Reply)
        self.reply_pending = code

    def asked_http(self, line: str, headers: Headers, to: tuple[str, int] | None) -> None:
        """An HTTP proxy request (the connection's first) to ``(host, port)`` (``None``: it
        named none), a CONNECT for a tunnel and a forwarded request alike (both dial)."""
        self.protocol, self.http_request, self.http_headers = "http", line, headers
        self.http_requests += (line,)
        if to is not None:
            self.command, (self.host, self.port) = Command.CONNECT, to
            self.address_type = address_type_for(self.host)

    def asked_http_again(self, line: str) -> None:
        """A later request forwarded on the same kept-alive connection."""
        self.http_requests += (line,)

    def select_origin(self, origin: tuple[str, int] | None) -> None:
        """Name a later forwarded request's ``(host, port)`` while it is checked and
        dialled, so that faults, gates, hooks and rules select it; ``None``: the first
        request's again, as :meth:`end` does first (an ended record names the first)."""
        if origin is not None:
            self.first_origin = self.first_origin or (self.host, self.port, self.address_type)
            self.host, self.port, self.address_type = *origin, address_type_for(origin[0])
        elif self.first_origin is not None:
            self.host, self.port, self.address_type = self.first_origin
            self.first_origin = None

    def http_answered(self, status: int) -> None:
        """The proxy (or the destination, for a forwarded request) answers ``status``:
        ``http_status`` once the status line's code is sent."""
        self.status_pending = status

    def failed(self, error: str) -> None:
        """What went wrong, before the connection ends (a dial error)."""
        self.error = error

    def fault_acted(self, description: str) -> None:
        """An injected fault acted on this connection (not once it has ended)."""
        self.faults += (description,) if self.outcome is Outcome.OPEN else ()

    def held(self, description: str) -> None:
        """A gate held this connection: where, for how long, how it was released."""
        self.holds += (description,)

    def udp_client(self, address: tuple[str, int]) -> None:
        """UDP ASSOCIATE: the client's datagrams come from ``address``."""
        self.udp_client_address = address

    def datagram_from_client(self, size: int) -> None:
        self.datagrams_from_client += 1
        self.datagram_bytes_from_client += size

    def datagram_to_client(self, size: int) -> None:
        self.datagrams_to_client += 1
        self.datagram_bytes_to_client += size

    def datagram_dropped(self, reason: str, *, keep: int) -> None:
        """A datagram was dropped; ``reason`` is kept if new and fewer than ``keep`` are."""
        self.datagrams_dropped += 1
        if reason not in self.drop_reasons and len(self.drop_reasons) < keep:
            self.drop_reasons += (reason,)

    def delivered_from_client(self, data: bytes | memoryview) -> None:
        """``data`` was handed to the destination's socket (payload, not handshake)."""
        self.bytes_from_client += len(data)
        capture = self.payload_from_client
        if capture is not None and len(capture) < self.payload_limit:
            capture += data[: self.payload_limit - len(capture)]

    def delivered_to_client(self, data: bytes | memoryview) -> None:
        """``data`` was handed to the client's socket."""
        self.bytes_to_client += len(data)
        capture = self.payload_to_client
        if capture is not None and len(capture) < self.payload_limit:
            capture += data[: self.payload_limit - len(capture)]

    def undelivered(self, name: str, size: int) -> None:
        """``size`` bytes counted as delivered to side ``name`` (``"client"`` or
        ``"upstream"``) were lost when the proxy closed that side at once."""
        if name == "client":
            self.bytes_to_client -= size
        else:
            self.bytes_from_client -= size

    def spliced(self, name: str, size: int) -> None:
        """``size`` bytes entered the splice pipe from side ``name`` (negative: bytes the
        pipe held when the tunnel closed, never delivered)."""
        if name == "client":
            self.bytes_from_client += size
        else:
            self.bytes_to_client += size

    def received(self, name: str, data: bytes) -> None:
        """The proxy parsed a client message called ``name``."""
        at = time.time()
        self.handshake.append((FROM_CLIENT, name, data, at))
        if name in ("request", "socks4 request", "http request") and self.requested_at is None:
            self.requested_at = at

    def sent(self, name: str, data: bytes) -> None:
        """The proxy wrote a message called ``name`` to the client."""
        at = time.time()
        self.handshake.append((TO_CLIENT, name, data, at))
        if name == "method selection":
            self.negotiated_at = self.negotiated_at or at
        elif name == "auth reply":
            self.authenticated_at = self.authenticated_at or at
        elif name in ("reply", "socks4 reply", "http response"):
            self.replied_at = self.replied_at or at
            self._reply_sent(name, len(data))

    def sent_instead(self, name: str, data: bytes) -> None:
        """A fault replaced or rewrote the answer called ``name``: ``data`` went out
        instead, so the code it carries is read from those bytes, not from the answer the
        server meant (see :func:`_code_in`); none at all if they carry none."""
        if self.reply_pending is not None or self.status_pending is not None:
            reply, status = _code_in(name, data, self.version)
            if self.reply_pending is not None:
                self.reply_pending = reply
            if self.status_pending is not None:
                self.status_pending = status
        self.sent(name, data)

    def _reply_sent(self, name: str, length: int) -> None:
        """A reply's first ``length`` bytes went out: its code counts as sent if the bytes
        carrying it did (SOCKS: the second byte, REP or CD; HTTP: ``HTTP/1.1 200``)."""
        if length < (12 if name == "http response" else 2):
            return  # cut short before the code: the client never saw it
        if self.reply_pending is not None:
            self.reply, self.reply_pending = self.reply_pending, None
        if name == "http response" and self.status_pending is not None:
            status, self.status_pending = self.status_pending, None
            self.http_status = status
            self.http_statuses += (status,)

    def note_close(self, side: str, how: CloseHow) -> None:
        """``side`` closed (``how``: FIN, RST or another error); only the first counts."""
        if self.closed_by is None:
            self.closed_by, self.closed_how = side, how

    def end(
        self,
        outcome: Outcome,
        *,
        closed_by: str | None = None,
        how: CloseHow = "fin",
        error: str | None = None,
    ) -> bool:
        """Record the end once; later calls are ignored. Returns whether this call ended it.

        ``closed_by`` and ``how`` count only if no side was recorded closing before.
        """
        if self.outcome is not Outcome.OPEN:
            return False
        self.select_origin(None)  # first: no reader sees it ended naming a later origin
        self.outcome = outcome
        if closed_by is not None:
            self.note_close(closed_by, how)
        if error is not None:
            self.error = error
        self.ended_at = time.time()
        return True

    def end_by_bug(self, error: str, outcome: Outcome = Outcome.INTERNAL_ERROR) -> None:
        """A bug in the proxy (``outcome``: ``USER_CODE_ERROR``, in the user's code it
        called) ends the connection: the record says so even if a side's close had ended
        it a moment before (the test fails with the bug). The first error stays, but a
        bug in the proxy wins over the user's."""
        ended = self.end(outcome, closed_by="server", how="error", error=error)
        stays = _ERRORS if outcome is Outcome.USER_CODE_ERROR else _ERRORS[:1]
        if not ended and self.outcome not in stays:
            self.outcome, self.error = outcome, error

    def spoke(self, version: int) -> None:
        """The client spoke SOCKS ``version`` (unless a greeting said so before)."""
        if self.version is None:
            self.version, self.protocol = version, f"socks{version}"

    def note_request(self, request: Request | Socks4Request) -> None:
        """Fill in what a parsed SOCKS5 or SOCKS 4/4a request says (also for a request
        refused while parsing, which is why the version may still be unknown)."""
        if self.version is None:  # (a SOCKS5 greeting said so: no call for it)
            self.spoke(4 if isinstance(request, Socks4Request) else 5)
        self.command = request.command
        self.host = request.host
        self.port = request.port
        if isinstance(request, Request):
            self.address_type = request.address_type
            self.raw_address = request.raw_address
            return
        self.user_id = request.user_id
        self.username = request.user_id.decode("utf-8", "backslashreplace")
        if request.domain is not None:
            self.address_type = AddressType.DOMAIN
            self.raw_address = request.domain
        else:
            self.address_type = AddressType.IPV4
            self.raw_address = ipaddress.IPv4Address(request.ip).packed

    def freeze(self) -> ConnectionRecord:
        """The :class:`ConnectionRecord` of what happened so far.

        Built by filling the new record's ``__dict__`` rather than through its
        ``__init__``: every field is given here, from this typed twin, so there is
        nothing for the constructor to check, and a frozen dataclass's ``__init__`` pays a
        call to ``object.__setattr__`` per field (45 of them). Freezing is per connection
        for the CLI's log and per record for each query: 11.4 µs through the
        constructor, 4.2 µs so (a finished CONNECT's record, on this machine)."""
        record = object.__new__(ConnectionRecord)
        values = record.__dict__
        values.update(zip(_SHARED_FIELDS, _read_shared(self), strict=True))
        frozen = self.frozen_messages
        if len(frozen) < len(self.handshake):
            frozen += tuple(
                HandshakeMessage(direction=direction, name=name, data=data, at=at)
                for direction, name, data, at in self.handshake[len(frozen) :]
            )
            self.frozen_messages = frozen
        values["handshake"] = frozen
        payload = self.payload_from_client
        values["payload_from_client"] = None if payload is None else bytes(payload)
        payload = self.payload_to_client
        values["payload_to_client"] = None if payload is None else bytes(payload)
        values["timings"] = Timings(
            accepted=self.started_at,
            negotiated=self.negotiated_at,
            authenticated=self.authenticated_at,
            requested=self.requested_at,
            replied=self.replied_at,
            closed=self.ended_at,
        )
        return record


#: An HTTP status line: ``HTTP/1.1 418 …`` (the reason phrase may be empty).
_STATUS_LINE = re.compile(rb"HTTP/[0-9]\.[0-9] ([0-9]{3})(?:[ \r]|$)")
#: The first byte of a SOCKS answer, by version: 0x05 (RFC 1928); 0x00, or the 0x04 that
#: some servers send (SOCKS 4).
_VERSION_BYTES = {5: (5,), 4: (0, 4)}


def _code_in(name: str, data: bytes, version: int | None) -> tuple[int | None, int | None]:
    """``(reply, http_status)`` as the bytes ``data`` sent as ``name`` carry them.

    SOCKS: the second byte (REP or CD), if the first is the version's; HTTP: the status
    line's three digits, and the SOCKS5 REP that status stands for (any 2xx: 0x00; 403:
    0x02; 504: 0x06; another: none). ``None`` for what the bytes do not say."""
    if name == "http response":
        match = _STATUS_LINE.match(data)
        if match is None:
            return None, None
        status = int(match[1])
        return reply_for_status(status), status
    if len(data) < 2 or data[0] not in _VERSION_BYTES.get(version or 5, ()):
        return None, None
    return coerce(data[1], Socks4Reply if version == 4 else Reply), None


#: The outcomes of an error: the proxy's, then the user's code's.
_ERRORS = (Outcome.INTERNAL_ERROR, Outcome.USER_CODE_ERROR)

_SHARED_FIELDS = tuple(
    f.name
    for f in dataclasses.fields(ConnectionRecord)
    if f.name not in {"handshake", "payload_from_client", "payload_to_client", "timings"}
)
_read_shared = operator.attrgetter(*_SHARED_FIELDS)
