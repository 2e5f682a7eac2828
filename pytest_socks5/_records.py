"""What happened on a connection, as frozen values: how tests match them, and JSON.

Strategy: a :class:`ConnectionRecord` is a frozen snapshot of a ``LiveRecord``. Each
handshake message is kept as the exact bytes that crossed the wire, with the time it did;
the :class:`Timings` are read off those messages, so there is one place where a phase begins.
Matching is shared by every query and assertion: keyword criteria, where a value may be
an exact value, a glob (for text fields) or a predicate (``_criteria.py`` checks them).
JSON is one function each way, driven by the field list, so that a field added to
:class:`ConnectionRecord` is written and read without a change unless it needs a
conversion (tuples, such as addresses, become lists and come back as tuples). Reading
ignores keys that are not fields (``test`` and ``proxy``, which the plugin adds to each
line it writes), so a file stays readable by a later version. The password is redacted on
the way out unless asked for. A record renders itself with
:mod:`pytest_socks5._transcript`, which sits below this module and reads records through
read-only protocols, never by importing it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from ._checks import choice, fail_type, fail_value
from ._criteria import check_criteria, mismatches
from ._escape import redact_auth_request
from ._field_values import FieldValues
from ._outcome import Outcome
from ._protocol import AddressType, AuthMethod, Command, Reply, Socks4Reply, coerce
from ._public import public
from ._transcript import describe_record, render_record

__all__ = [
    "FROM_CLIENT",
    "HANDSHAKE_NAMES",
    "TO_CLIENT",
    "CloseHow",
    "ConnectionRecord",
    "HandshakeMessage",
    "NoMatchingConnection",
    "Outcome",
    "Timings",
    "record_from_dict",
    "record_to_dict",
]

#: :attr:`HandshakeMessage.direction` of a message the client sent to the proxy.
FROM_CLIENT: Literal["from_client"] = "from_client"
#: :attr:`HandshakeMessage.direction` of a message the proxy sent to the client.
TO_CLIENT: Literal["to_client"] = "to_client"

Direction = Literal["from_client", "to_client"]
#: Every :attr:`HandshakeMessage.name`, in the order a SOCKS5 handshake sends them.
HANDSHAKE_NAMES = (
    "greeting",
    "method selection",
    "auth request",
    "auth reply",
    "request",
    "reply",
    "socks4 request",
    "socks4 reply",
    "http request",
    "http response",
    "unparsed",
)
_MESSAGE = choice(*HANDSHAKE_NAMES)
CloseHow = Literal["fin", "rst", "error"]


@public
@dataclass(frozen=True, kw_only=True, slots=True, repr=False, eq=False)
class HandshakeMessage(FieldValues):
    """One handshake message exactly as it crossed the wire.

    ``name`` is one of ``"greeting"``, ``"auth request"``, ``"request"``,
    ``"socks4 request"``, ``"http request"`` (from the client),
    ``"method selection"``, ``"auth reply"``, ``"reply"``, ``"socks4 reply"``,
    ``"http response"`` (from the proxy), or ``"unparsed"``: client bytes that broke the
    protocol or were cut off by the client's close.
    """

    #: ``"from_client"`` (client → proxy) or ``"to_client"`` (proxy → client).
    direction: Direction
    name: str
    data: bytes = field(repr=False)
    #: :func:`time.time` when the proxy parsed it (from the client) or wrote it (to it).
    at: float

    def __repr__(self) -> str:
        shown = "<redacted>" if self.name == "auth request" else self.data.hex(" ")
        return f"HandshakeMessage({self.direction}, {self.name!r}, {shown}, at={self.at:.6f})"


@public
@dataclass(frozen=True, kw_only=True, slots=True, repr=False, eq=False)
class Timings(FieldValues):
    """:func:`time.time` at each phase of a connection; ``None`` for a phase it never
    reached. :meth:`elapsed` gives seconds since ``accepted``."""

    #: The proxy accepted the TCP connection.
    accepted: float = 0.0
    #: The proxy sent its method selection (SOCKS5).
    negotiated: float | None = None
    #: The proxy answered the RFC 1929 sub-negotiation (success or failure).
    authenticated: float | None = None
    #: The proxy had parsed the whole request.
    requested: float | None = None
    #: The proxy sent its reply to the request (success or failure).
    replied: float | None = None
    #: The connection was over (both sides closed, or the proxy closed it).
    closed: float | None = None

    def elapsed(self, phase: str) -> float | None:
        """Seconds from ``accepted`` to ``phase`` (``"replied"``, …), ``None`` if not
        reached; ``phase`` is the name of one of the fields (another is a
        :exc:`ValueError` listing them)."""
        at = getattr(self, _PHASE("Timings.elapsed(): phase", phase))
        return None if at is None else at - self.accepted


_PHASE = choice(*(f.name for f in dataclasses.fields(Timings)))
_SCHEMES: dict[int | None, str] = {0x00: "none", 0x02: "password"}  # by SOCKS5 method


@public
@dataclass(frozen=True, kw_only=True, repr=False, eq=False)
class ConnectionRecord(FieldValues):
    """One client connection to the proxy, as the proxy saw it.

    Fields that a connection never reached (a request when authentication failed) are
    ``None``. ``bytes_from_client`` counts payload client → destination, ``bytes_to_client``
    destination → client; no handshake (a forwarded HTTP request's heads are payload).
    """

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
    payload_from_client: bytes | None = field(default=None, repr=False)
    payload_to_client: bytes | None = field(default=None, repr=False)
    handshake: tuple[HandshakeMessage, ...] = field(default=(), repr=False)
    timings: Timings = field(default_factory=Timings, repr=False)
    started_at: float = 0.0
    ended_at: float | None = None
    outcome: Outcome = Outcome.OPEN
    closed_by: str | None = None
    closed_how: str | None = None
    error: str | None = None
    faults: tuple[str, ...] = ()
    #: Where a gate held it, for how long, how it was released (``hold()``).
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
    # -- which protocol asked, and an HTTP proxy request ---------------------------------
    #: ``"socks5"``, ``"socks4"`` or ``"http"`` (``None``: nothing identified it).
    protocol: str | None = None
    #: The first HTTP request line (``CONNECT host:443 HTTP/1.1``, ``GET http://… HTTP/1.1``).
    http_request: str | None = None
    #: Its headers, ``Proxy-Authorization`` redacted as ``***``.
    http_headers: tuple[tuple[str, str], ...] = ()
    #: The last HTTP status the client was sent (the proxy's, or a forwarded response's).
    http_status: int | None = None
    #: Every request line, in order (the first is ``http_request``; then kept-alive ones).
    http_requests: tuple[str, ...] = ()
    #: Every final status sent, in order: ``http_statuses[i]`` answered ``http_requests[i]``.
    http_statuses: tuple[int, ...] = ()

    def __str__(self) -> str:
        return describe_record(self)

    @property
    def duration(self) -> float | None:
        """Seconds from accept to close, or ``None`` while open."""
        return None if self.ended_at is None else self.ended_at - self.started_at

    @property
    def succeeded(self) -> bool:
        """Whether the proxy granted the request (REP 0x00 or SOCKS4 0x5A)."""
        return self.reply in (Reply.SUCCEEDED, 0x5A) and self.command is not None

    @property
    def target(self) -> str:
        """``host:port`` of the requested destination (``[v6]:port`` for IPv6)."""
        if self.host is None:
            return "(no request)"
        host = f"[{self.host}]" if self.address_type == AddressType.IPV6 else self.host
        return f"{host}:{self.port}"

    @property
    def remote_dns(self) -> bool | None:
        """``True`` when the client sent a name for the proxy to resolve (``socks5h``,
        SOCKS 4a), ``False`` when it sent an address it had resolved itself, ``None``
        without a request."""
        if self.address_type is None:
            return None
        return self.address_type == AddressType.DOMAIN

    @property
    def auth_scheme(self) -> str | None:
        """How the client was let in, read alike on every protocol: ``"password"`` (SOCKS5
        method 0x02; HTTP ``Proxy-Authorization: Basic`` credentials the server checked),
        ``"userid"`` (a SOCKS 4 USERID the server checked), ``"none"`` (nothing was
        asked), ``None`` (no agreement, as SOCKS5 0xFF or a 407 without credentials)."""
        if self.protocol in ("socks5", None):
            return _SCHEMES.get(self.chosen_method)
        if self.protocol == "http" and self.raw_username is None:
            return None if self.authenticated is False else "none"
        if self.protocol == "socks4":
            return "none" if self.authenticated is None else "userid"
        return "password" if self.protocol == "http" else None

    def message(self, name: str) -> bytes | None:
        """The bytes of the first handshake message called ``name`` (``"request"``,
        ``"reply"``, …: a :class:`HandshakeMessage` name; another is a :exc:`ValueError`
        listing them), or ``None`` if this connection sent or received none."""
        _MESSAGE("ConnectionRecord.message(): name", name)
        for message in self.handshake:
            if message.name == name:
                return message.data
        return None

    def matches(self, **criteria: Any) -> bool:
        """Whether every criterion holds: exact values, globs for text, or predicates,
        checked as :meth:`pytest_socks5.SOCKS5Server.find_connections` checks them (a
        misspelt field is a :exc:`TypeError`, text for an enum field is refused)."""
        return not self.mismatches(**criteria)

    def mismatches(self, **criteria: Any) -> list[str]:
        """The criteria that do not hold, each as ``name=actual (wanted …)``; checked as
        :meth:`matches` checks them."""
        __tracebackhide__ = True
        check_criteria(criteria, ConnectionRecord)
        return mismatches(self, criteria)

    def transcript(self, *, show_password: bool = False) -> str:
        """This connection as the failure transcript shows it: every handshake message
        decoded and in hex, where the proxy dialled, how it ended, error, faults, payload.
        The password is shown as ``***`` unless ``show_password``."""
        return render_record(self, show_password=show_password)

    def to_dict(self, *, show_password: bool = False) -> dict[str, Any]:
        """The record as JSON-ready values: bytes as hex, enums as integers. The password
        (and its bytes in the handshake) is redacted unless ``show_password``."""
        return record_to_dict(self, show_password=show_password)

    def to_json(self, *, show_password: bool = False) -> str:
        """:meth:`to_dict` as one line of JSON."""
        import json  # loaded with the first record written or read (not by a server)

        return json.dumps(self.to_dict(show_password=show_password), separators=(",", ":"))

    @classmethod
    def from_json(cls, data: str | bytes | Mapping[str, Any]) -> ConnectionRecord:
        """A record from :meth:`to_json` (or a line written by ``--socks5-record-dir``),
        given as JSON text or as a mapping; keys that are not fields are ignored. What is
        not such a record (not JSON, not an object, no ``id``, a field that does not
        read) is a :exc:`ValueError` that says so (a value of another type, a
        :exc:`TypeError`)."""
        import json

        if isinstance(data, str | bytes | bytearray):
            try:
                loaded = json.loads(data)
            except ValueError as exc:  # (JSONDecodeError, UnicodeDecodeError)
                raise fail_value(_FROM_JSON, _A_RECORD, data, f" ({exc})") from None
        elif isinstance(data, Mapping):
            loaded = data
        else:
            raise fail_type(
                _FROM_JSON,
                "a str, bytes or a mapping (a record as to_json() or to_dict() writes it)",
                data,
            )
        if not isinstance(loaded, Mapping) or "id" not in loaded:
            missing = " (it has no 'id')" if isinstance(loaded, Mapping) else ""
            raise fail_value(_FROM_JSON, _A_RECORD, loaded, missing)
        return record_from_dict(loaded)


_FROM_JSON = "ConnectionRecord.from_json(): data"
_A_RECORD = "a record as to_json() writes it: a JSON object with an 'id'"


@public
class NoMatchingConnection(AssertionError):
    """An assertion about recorded connections failed; the message lists what happened."""


# -- JSON ---------------------------------------------------------------------------------

_PAYLOAD = ("payload_from_client", "payload_to_client")
_BYTES = frozenset({"raw_username", "raw_password", "raw_address", "user_id", *_PAYLOAD})
_FIELD_NAMES = tuple(f.name for f in dataclasses.fields(ConnectionRecord))


def _lists(value: Any) -> Any:
    """Tuples (addresses, method lists, fault descriptions) as JSON lists; enums as ints."""
    if isinstance(value, tuple | list):
        return [_lists(v) for v in value]
    if isinstance(value, int) and not isinstance(value, bool):
        return int(value)
    return value


def _tuples(value: Any) -> Any:
    return tuple(_tuples(v) for v in value) if isinstance(value, list) else value


def record_to_dict(record: ConnectionRecord, *, show_password: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in _FIELD_NAMES:
        value = getattr(record, name)
        if name in _BYTES:
            out[name] = None if value is None else value.hex()
        elif name == "handshake":
            out[name] = [_message_to_dict(m, show_password) for m in value]
        elif name == "timings":
            out[name] = dataclasses.asdict(value)
        elif name == "outcome":
            out[name] = value.value
        elif isinstance(value, int) and not isinstance(value, bool):
            out[name] = int(value)
        else:
            out[name] = _lists(value)
    if record.raw_password is not None and not show_password:
        out["raw_password"] = None
        out["password_redacted"] = True
    return out


def _message_to_dict(message: HandshakeMessage, show_password: bool) -> dict[str, Any]:
    data = message.data
    if message.name == "auth request" and not show_password:
        data = redact_auth_request(data)
    return {
        "direction": message.direction,
        "name": message.name,
        "data": data.hex(),
        "at": message.at,
    }


def record_from_dict(data: Mapping[str, Any]) -> ConnectionRecord:
    values: dict[str, Any] = {}
    for name in _FIELD_NAMES:
        if name in data:
            try:
                values[name] = _field_from_json(name, data[name])
            except (TypeError, ValueError, KeyError, AttributeError) as exc:
                why = f"{type(exc).__name__}: {exc}"
                raise fail_value(
                    f"{_FROM_JSON}[{name!r}]",
                    "a value as to_json() writes it",
                    data[name],
                    f" ({why})",
                ) from None
    version = values.get("version")
    for name, enum_type in (
        ("chosen_method", AuthMethod),
        ("address_type", AddressType),
        ("command", Command if version != 4 else None),
        ("reply", Reply if version != 4 else Socks4Reply),
    ):
        if values.get(name) is not None and enum_type is not None:
            values[name] = coerce(values[name], enum_type)
    if "client_address" not in values:
        values["client_address"] = ("", 0)
    return ConnectionRecord(**values)


def _field_from_json(name: str, value: Any) -> Any:
    """The field ``name`` of a record from its JSON ``value``."""
    if name in _BYTES:
        return None if value is None else bytes.fromhex(value)
    if name == "handshake":
        return tuple(
            HandshakeMessage(
                direction=m["direction"],
                name=m["name"],
                data=bytes.fromhex(m["data"]),
                at=float(m["at"]),
            )
            for m in value
        )
    if name == "timings":
        return Timings(**value)
    if name == "outcome":
        return Outcome(value)
    if name == "offered_methods":
        return tuple(coerce(v, AuthMethod) for v in value)
    return _tuples(value)  # lists of strings, addresses: tuples, as in the record
