"""Records as text: the one-line description and the transcript of what the client asked
and what it was told.

Strategy: pure functions from frozen records to text, no I/O, so the plugin, the CLI and
a user's own code print the same thing and tests check it without a server. A record is
read through the read-only protocols of :mod:`pytest_socks5._record_view`, never by its
class: :mod:`pytest_socks5._records` sits above this module and renders itself with it. Each
connection is a timeline: accept, every handshake message decoded in the RFC's words with
its exact bytes in hex under it, where the proxy dialled, how it ended; then the error,
the faults applied and the payload (a hex dump when it was captured). Rendering never
raises: a message that does not decode — a fault sent half a reply, a client sent HTTP to
the SOCKS port — is shown as what it is. Passwords are shown as ``***`` (and their bytes
as ``**``) unless ``show_password`` asks otherwise.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable

from ._escape import escape_bytes, escape_text, quote_bytes, quote_text
from ._protocol import (
    AddressType,
    AuthMethod,
    AuthStatus,
    Command,
    Reply,
    Socks4Reply,
    describe,
    name_of,
    parse_auth_request,
    parse_greeting,
    parse_request,
    parse_socks4_request,
)
from ._protocol._parse import _host_text, _parse_address
from ._record_view import MessageView, RecordView

__all__ = [
    "NOTHING_RECORDED_HINT",
    "decode_message",
    "describe_record",
    "hex_lines",
    "render_record",
    "render_transcript",
]

#: Bytes of payload shown per direction; the rest is counted, not printed.
PAYLOAD_PREVIEW = 256
_INDENT = " " * 4
_LABEL = 16
#: Hex lines start under the text of their timeline entry.
_HEX_PAD = " " * (len(_INDENT) + 12 + 2 + _LABEL)
_PAD = _INDENT


#: What a test that finds no connection should check first (the transcript and the
#: assertions say the same).
NOTHING_RECORDED_HINT = (
    "(did the client use the proxy? check its proxy URL, NO_PROXY and its SOCKS extra)"
)


def render_transcript(
    records: Iterable[RecordView],
    *,
    title: str = "socks5_server",
    show_password: bool = False,
) -> str:
    """Every record in ``records`` as a transcript, under a one-line ``title``."""
    records = list(records)
    if not records:
        return f"{title}: no connections were recorded {NOTHING_RECORDED_HINT}"
    parts = [f"{title}: {len(records)} connection(s)"]
    parts.extend(render_record(r, show_password=show_password) for r in records)
    return "\n\n".join(parts)


def render_record(record: RecordView, *, show_password: bool = False) -> str:
    """One connection: a summary line, then the timeline, error, faults and payload."""
    start = record.timings.accepted or record.started_at
    # The summary line without what the lines below it spell out.
    lines = [_summary(record, details=False)]

    def entry(at: float | None, label: str, text: str, extra: Iterable[str] = ()) -> None:
        when = f"+{(at - start) * 1000:8.3f} ms" if at is not None and start else " " * 12
        lines.append(f"{_INDENT}{when}  {label:<{_LABEL}}{text}".rstrip())
        lines.extend(_HEX_PAD + more for more in extra)

    client = _hostport(*record.client_address)
    entry(start, "accepted", f"from {client}")
    dialled_shown = False
    for message in record.handshake:
        arrow = "client → proxy" if message.direction == "from_client" else "proxy → client"
        text = f"{message.name}: {decode_message(message, show_password=show_password)}"
        entry(message.at, arrow, text, hex_lines(_hex_data(message, show_password)))
        if message.name in ("request", "socks4 request") and not dialled_shown:
            dialled_shown = _dial_entries(record, entry)
    if not dialled_shown:
        _dial_entries(record, entry)
    entry(record.ended_at, *_ending(record))
    if record.error:
        error_lines = record.error.rstrip().splitlines()
        lines.append(f"{_PAD}error:   {error_lines[0]}")
        lines.extend(f"{_PAD}         {line}" for line in error_lines[1:])
    faults = ", ".join(record.faults) if record.faults else "none"
    lines.append(f"{_PAD}faults:  {faults}")
    lines.extend(f"{_PAD}held:    {hold}" for hold in record.holds)
    if len(record.http_requests) > 1:  # a kept-alive connection: each request, its status
        statuses = [str(status) for status in record.http_statuses]
        for i, line in enumerate(record.http_requests):
            status = statuses[i] if i < len(statuses) else "no answer"
            lines.append(f"{_PAD}http #{i + 1}: {escape_text(line)} → {status}")
    lines.extend(_payload_lines(record))
    return "\n".join(lines)


def _dial_entries(record: RecordView, entry: Callable[..., None]) -> bool:
    """Where the proxy dialled for the request; whether there was anything to show."""
    shown = False
    if record.mapped_to is not None:
        entry(None, "host_map", f"→ {record.mapped_to}")
        shown = True
    if record.denied_by is not None:
        entry(None, "refused by", record.denied_by)
        shown = True
    if record.bind_peer_address is not None:
        entry(None, "BIND peer", _hostport(*record.bind_peer_address))
        shown = True
    tried = [_hostport(h, p) for h, p in record.dialled]
    if tried:
        entry(None, "proxy dialled", ", then ".join(tried))
    if record.upstream_address is not None:
        local = f" from {_hostport(*record.bound_address)}" if record.bound_address else ""
        entry(None, "connected to", f"{_hostport(*record.upstream_address)}{local}")
    elif tried:
        entry(None, "connected to", "nothing (see error)")
    return shown or bool(tried) or record.upstream_address is not None


def _ending(record: RecordView) -> tuple[str, str]:
    how = f" ({record.closed_how.upper()})" if record.closed_how else ""
    if record.ended_at is None:
        if record.closed_by:
            return "still open", f"{record.closed_by} closed its side first{how}"
        return "still open", "when the transcript was taken"
    by = f" by {record.closed_by}{how}" if record.closed_by else ""
    return "ended", f"{record.outcome.value}{by}"


def _payload_lines(record: RecordView) -> list[str]:
    if record.command == Command.UDP_ASSOCIATE:
        client = record.udp_client_address
        lines = [
            f"{_PAD}datagrams: {record.datagrams_from_client} client → destination "
            f"({record.datagram_bytes_from_client} bytes), {record.datagrams_to_client} "
            f"destination → client ({record.datagram_bytes_to_client} bytes), "
            f"{record.datagrams_dropped} dropped"
            + (f"; client's UDP address {_hostport(*client)}" if client else "")
        ]
        lines.extend(f"{_PAD}  dropped: {reason}" for reason in record.drop_reasons)
        return lines
    if record.payload_from_client is None and record.payload_to_client is None:
        return [
            f"{_PAD}payload: {record.bytes_from_client} bytes client → destination, "
            f"{record.bytes_to_client} bytes destination → client (not captured)"
        ]
    out = []
    for label, total, captured in (
        ("client → destination", record.bytes_from_client, record.payload_from_client),
        ("destination → client", record.bytes_to_client, record.payload_to_client),
    ):
        if captured is None:
            out.append(f"{_PAD}payload: {label} {total} bytes (not captured)")
            continue
        kept = f", first {len(captured)} kept" if len(captured) < total else ""
        out.append(f"{_PAD}payload: {label} {total} bytes{kept}")
        shown = captured[:PAYLOAD_PREVIEW]
        out.extend(f"{_PAD}  {line}" for line in hex_dump(shown))
        if len(captured) > len(shown):
            out.append(f"{_PAD}  … {len(captured) - len(shown)} more captured bytes not shown")
    return out


# -- one line -------------------------------------------------------------------------


def describe_record(r: RecordView) -> str:
    """One line: ``#3 127.0.0.1:40512 SOCKS5 CONNECT example.test:80 (DOMAIN) → REP 0x00 …``.

    Whatever the client sent is shown escaped (see :mod:`pytest_socks5._escape`): the line
    is always one printable line, and the password is never part of it.
    """
    return _summary(r, details=True)


def _shown_user(r: RecordView) -> str | None:
    """The username (or SOCKS 4 USERID) from the bytes the client sent, escaped."""
    if r.raw_username is not None:
        return quote_bytes(r.raw_username)
    if r.user_id is not None:
        return quote_bytes(r.user_id)
    return None if r.username is None else quote_text(r.username)


def _shown_target(r: RecordView) -> str:
    """The record's ``target``, with a domain name shown from its raw bytes."""
    if r.address_type == AddressType.DOMAIN and r.raw_address is not None:
        return f"{escape_bytes(r.raw_address)}:{r.port}"
    return escape_text(r.target)


def _summary(r: RecordView, *, details: bool) -> str:
    """:func:`describe_record`; without the faults and the error unless ``details`` (the
    transcript spells those out on lines of their own)."""
    client = _hostport(*r.client_address)
    parts = [f"#{r.id} {escape_text(client)}"]
    if r.protocol == "http":
        parts.append("HTTP")
    elif r.version is not None:
        parts.append(f"SOCKS{r.version}")
    user = _shown_user(r)
    if user is not None:
        parts.append(f"user={user}")
    if r.command is not None:
        cmd = name_of(r.command, Command) or f"CMD 0x{r.command:02x}"
        atyp = describe(r.address_type, AddressType) if r.address_type is not None else "?"
        parts.append(f"{cmd} {_shown_target(r)} (ATYP {atyp})")
        if r.mapped_to is not None:
            parts.append(f"mapped to {escape_text(r.mapped_to)}")
        if r.bind_peer_address is not None:
            parts.append(f"peer {_hostport(*r.bind_peer_address)}")
    elif r.chosen_method is not None:
        parts.append(f"method {describe(r.chosen_method, AuthMethod)}")
    if r.http_request is not None:
        parts.append(escape_text(repr(r.http_request)))
    if r.reply is not None:
        parts.append("→ REP " + describe(r.reply, Socks4Reply if r.version == 4 else Reply))
    if r.http_status is not None:
        parts.append(f"HTTP {r.http_status}")
    parts.append(f"[{r.outcome.value}")
    how = f" ({r.closed_how})" if r.closed_how else ""
    if r.closed_by and r.outcome.value != "open":
        parts[-1] += f" by {r.closed_by}{how}"
    elif r.closed_by:
        parts[-1] += f", {r.closed_by} closed its side{how}"
    if r.command == Command.UDP_ASSOCIATE:
        parts[-1] += (
            f", {r.datagrams_from_client}↑ {r.datagrams_to_client}↓ datagrams"
            f" ({r.datagram_bytes_from_client}↑ {r.datagram_bytes_to_client}↓ bytes)"
            f", {r.datagrams_dropped} dropped]"
        )
    else:
        parts[-1] += f", {r.bytes_from_client}↑ {r.bytes_to_client}↓ bytes]"
    if details and r.faults:
        parts.append("faults: " + ", ".join(escape_text(f) for f in r.faults))
    if details and r.error:
        # The last line of a traceback is the exception; escape_text shows any other
        # line-breaking character instead of obeying it.
        last = r.error.rstrip("\n").rsplit("\n", 1)[-1]
        parts.append(f"error: {escape_text(last)}")
    return " ".join(parts)


# -- bytes --------------------------------------------------------------------------


def hex_lines(data: bytes | str, width: int = 16) -> list[str]:
    """``05 01 00`` in lines of ``width`` bytes (a ``str`` is already hex tokens)."""
    tokens = data.split() if isinstance(data, str) else [f"{b:02x}" for b in data]
    if not tokens:
        return ["(no bytes)"]
    return [" ".join(tokens[i : i + width]) for i in range(0, len(tokens), width)]


def hex_dump(data: bytes, width: int = 16) -> list[str]:
    """``0000  47 45 54 20 …  GET …`` lines, as ``xxd`` prints them."""
    out = []
    for offset in range(0, len(data), width):
        chunk = data[offset : offset + width]
        text = "".join(chr(b) if 0x20 <= b < 0x7F else "." for b in chunk)
        out.append(f"{offset:04x}  {chunk.hex(' '):<{width * 3 - 1}}  {text}")
    return out


def _hex_data(message: MessageView, show_password: bool) -> bytes | str:
    data = message.data
    if message.name != "auth request" or show_password or len(data) < 3:
        return data
    plen_at = 2 + data[1]
    if len(data) <= plen_at:
        return data
    end = min(len(data), plen_at + 1 + data[plen_at])
    return " ".join("**" if plen_at < i < end else f"{b:02x}" for i, b in enumerate(data))


def _hostport(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


# -- decoding -------------------------------------------------------------------------


def decode_message(message: MessageView, *, show_password: bool = False) -> str:
    """A handshake message in the RFC's words: ``REP 0x05 (CONNECTION_REFUSED), BND …``."""
    try:
        text = _DECODERS.get(message.name, _unparsed)(message.data, show_password)
    except Exception as exc:  # a fault or a broken client may send anything
        text = f"does not decode ({exc})"
    return text


def _greeting(data: bytes, _: bool) -> str:
    parsed = parse_greeting(data)
    if parsed is None:
        return f"incomplete ({len(data)} bytes)"
    methods = ", ".join(describe(m, AuthMethod) for m in parsed[0].methods) or "none"
    return f"VER 5, METHODS {methods}"


def _auth_request(data: bytes, show_password: bool) -> str:
    parsed = parse_auth_request(data)
    if parsed is None:
        return f"incomplete ({len(data)} bytes)"
    creds = parsed[0]
    user = creds.username.decode("utf-8", "backslashreplace")
    password = "***"
    if show_password:
        password = repr(creds.password.decode("utf-8", "backslashreplace"))
    return (
        f"VER 1, USERNAME {user!r} ({len(creds.username)} bytes), "
        f"PASSWORD {password} ({len(creds.password)} bytes)"
    )


def _request(data: bytes, _: bool) -> str:
    parsed = parse_request(data)
    if parsed is None:
        return f"incomplete ({len(data)} bytes)"
    request = parsed[0]
    host = f"[{request.host}]" if request.address_type == AddressType.IPV6 else request.host
    command = (
        Command(request.command).name
        if request.command in Command.__members__.values()
        else describe(request.command, Command)
    )
    return f"{command} {host}:{request.port}, ATYP {describe(request.address_type, AddressType)}"


def _socks4_request(data: bytes, _: bool) -> str:
    parsed = parse_socks4_request(data)
    if parsed is None:
        return f"incomplete ({len(data)} bytes)"
    request = parsed[0]
    kind = "SOCKS4a" if request.is_4a else "SOCKS4"
    command = {1: "CONNECT", 2: "BIND"}.get(request.command, f"CD 0x{request.command:02x}")
    return f"{kind} {command} {request.host}:{request.port}, USERID {request.user_id!r}"


def _method_selection(data: bytes, _: bool) -> str:
    if len(data) != 2:
        return f"malformed ({len(data)} bytes, expected 2)"
    version = "" if data[0] == 5 else f"VER 0x{data[0]:02x} (not 5!), "
    return f"{version}METHOD {describe(data[1], AuthMethod)}"


def _auth_reply(data: bytes, _: bool) -> str:
    if len(data) != 2:
        return f"malformed ({len(data)} bytes, expected 2)"
    return f"STATUS {describe(data[1], AuthStatus)}"


def _reply(data: bytes, _: bool) -> str:
    if len(data) < 2:
        return f"truncated ({len(data)} bytes)"
    text = f"REP {describe(data[1], Reply)}"
    if data[0] != 5:
        text = f"VER 0x{data[0]:02x} (not 5!), " + text
    try:
        parsed = _parse_address(data, 3)
    except KeyError:
        return f"{text}, BND with unknown ATYP 0x{data[3]:02x}"
    if parsed is None:
        return f"{text}, truncated ({len(data)} bytes)"
    atyp, raw, port_at = parsed
    host = _host_text(atyp, raw)
    host = f"[{host}]" if atyp == AddressType.IPV6 else host
    port = int.from_bytes(data[port_at : port_at + 2], "big")
    trailing = len(data) - port_at - 2
    more = f", then {trailing} extra bytes" if trailing else ""
    return f"{text}, BND {host}:{port} (ATYP {describe(atyp, AddressType)}){more}"


def _socks4_reply(data: bytes, _: bool) -> str:
    if len(data) != 8:
        return f"malformed ({len(data)} bytes, expected 8)"
    port = int.from_bytes(data[2:4], "big")
    return f"CD {describe(data[1], Socks4Reply)}, {ipaddress.IPv4Address(data[4:8])}:{port}"


def _unparsed(data: bytes, _: bool) -> str:
    preview = data[:48]
    more = f"… ({len(data)} bytes)" if len(data) > len(preview) else ""
    return f"{preview!r}{more}"


_DECODERS = {
    "greeting": _greeting,
    "auth request": _auth_request,
    "request": _request,
    "socks4 request": _socks4_request,
    "method selection": _method_selection,
    "auth reply": _auth_reply,
    "reply": _reply,
    "socks4 reply": _socks4_reply,
    "unparsed": _unparsed,
}
