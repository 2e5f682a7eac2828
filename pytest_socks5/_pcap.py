"""A test's connections as a pcapng file that Wireshark and tshark open.

Strategy: pure bytes from records, no capture and no privileges. Each connection becomes
synthetic TCP over raw IP (``LINKTYPE_RAW``): the client<->proxy stream and, when the
proxy dialled, the proxy<->destination stream, each with its real addresses and ports, a
SYN handshake, sequence and acknowledgement numbers that add up, and the close as it
happened: the side that closed first (``closed_by``) sends the first FIN or RST, and the
proxy passes it on to the other stream (none for a connection still open when the
capture was taken). Timestamps are the record's: the accept, each handshake
message's own time, the dial, the end. The handshake bytes are always there (records
keep them); the tunnel's bytes only when the server ran with ``capture_payload`` — each
way as one segment at the time of the reply, since records keep the bytes, not when
each chunk crossed. Faults that acted are comments on the packet that opens the stream.
A pcapng file is three block types: SHB, IDB, EPB.
"""

from __future__ import annotations

import ipaddress
import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

__all__ = ["pcap_file_name", "pcapng_bytes"]

_LINKTYPE_RAW = 101
_SYN, _FIN, _RST, _PSH, _ACK = 0x02, 0x01, 0x04, 0x08, 0x10
_MSS = 1400


class _Message(Protocol):
    @property
    def direction(self) -> str: ...
    @property
    def data(self) -> bytes: ...
    @property
    def at(self) -> float: ...


class _Record(Protocol):
    """The fields of :class:`~pytest_socks5.ConnectionRecord` a capture reads."""

    @property
    def client_address(self) -> tuple[str, int]: ...
    @property
    def bound_address(self) -> tuple[str, int] | None: ...
    @property
    def upstream_address(self) -> tuple[str, int] | None: ...
    @property
    def handshake(self) -> Sequence[_Message]: ...
    @property
    def payload_from_client(self) -> bytes | None: ...
    @property
    def payload_to_client(self) -> bytes | None: ...
    @property
    def started_at(self) -> float: ...
    @property
    def ended_at(self) -> float | None: ...
    @property
    def closed_by(self) -> str | None: ...
    @property
    def closed_how(self) -> str | None: ...
    @property
    def faults(self) -> tuple[str, ...]: ...
    @property
    def holds(self) -> tuple[str, ...]: ...
    @property
    def timings(self) -> _Timings: ...


class _Timings(Protocol):
    @property
    def requested(self) -> float | None: ...
    @property
    def replied(self) -> float | None: ...


@dataclass(frozen=True)
class _Packet:
    at: float
    data: bytes
    comment: str = ""


def pcap_file_name(record_file: str) -> str:
    """The capture's name beside a record file's: the same name, ``.pcapng``."""
    return record_file.removesuffix(".jsonl") + ".pcapng"


def pcapng_bytes(proxies: Iterable[tuple[tuple[str, int], Iterable[_Record]]]) -> bytes:
    """One pcapng file holding the streams of each ``(proxy address, records)``, packets
    in time order."""
    packets: list[_Packet] = []
    for proxy, records in proxies:
        for record in records:
            packets += _connection(record, proxy)
    packets.sort(key=lambda p: p.at)
    shb_body = struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1)
    out = [_block(0x0A0D0D0A, shb_body)]
    out.append(_block(1, struct.pack("<HHI", _LINKTYPE_RAW, 0, 0) + _option(9, b"\x06")))
    for packet in packets:
        micros = round(packet.at * 1_000_000)
        head = struct.pack("<IIIII", 0, micros >> 32, micros & 0xFFFFFFFF, *[len(packet.data)] * 2)
        opts = _option(1, packet.comment.encode()) if packet.comment else b""
        out.append(_block(6, head + _pad(packet.data) + opts + (b"\0" * 4 if opts else b"")))
    return b"".join(out)


def _connection(record: _Record, proxy: tuple[str, int]) -> list[_Packet]:
    times = [record.started_at, *(m.at for m in record.handshake), record.timings.replied or 0]
    end = record.ended_at if record.ended_at is not None else max(times)
    still_open = record.ended_at is None  # captured while open: no close, nothing after
    front = _Stream(record.client_address, proxy)
    events = [f"fault: {f}" for f in record.faults] + [f"held: {h}" for h in record.holds]
    packets = front.open(record.started_at, "; ".join(events))
    for message in record.handshake:
        packets += front.send(message.direction == "from_client", message.data, message.at)
    reply_at = record.timings.replied or end
    packets += front.send(True, record.payload_from_client or b"", reply_at)
    packets += front.send(False, record.payload_to_client or b"", reply_at)
    back = None
    if record.bound_address is not None and record.upstream_address is not None:
        back = _Stream(record.bound_address, record.upstream_address)
        packets += back.open(record.timings.requested or record.started_at)
        packets += back.send(True, record.payload_from_client or b"", reply_at)
        packets += back.send(False, record.payload_to_client or b"", reply_at)
    if not still_open:
        packets += _close(record.closed_by, record.closed_how, front, back, end)
    return packets


def _close(
    closed_by: str | None, how: str | None, front: _Stream, back: _Stream | None, at: float
) -> list[_Packet]:
    """The close in the order the wire had it. ``front`` is client (``a``) to proxy,
    ``back`` proxy (``a``) to destination. A side that closes first sends first on its
    own stream, and the proxy passes it on: a FIN as its own FIN on the other stream
    (that stream's close, then the answering FIN on the first), a reset as a RST; a
    socket that failed otherwise (``"error"``) sends nothing, the other stream is reset.
    The proxy (``"server"``, and ``None``: no side known) closes both streams itself."""
    if closed_by in ("client", "upstream"):
        # The client is front's a, the destination back's b; the proxy passing it on is
        # front's b and back's a: the same ``from_a`` on both streams.
        from_a = closed_by == "client"
        own, other = (front, back) if from_a else (back, front)
        if own is None:  # a destination that closed, and no stream to it
            assert other is not None
            return other.fin(from_a, at) if how == "fin" else other.rst(from_a, at)
        if how == "fin":  # the first FIN; the other stream's close; the answering FIN
            first, *rest = own.fin(from_a, at)
            return [first, *(other.fin(from_a, at) if other is not None else []), *rest]
        passed_on = other.rst(from_a, at) if other is not None else []
        return (own.rst(from_a, at) if how == "rst" else []) + passed_on
    packets: list[_Packet] = []
    for stream, from_a in ((front, False), (back, True)):  # from the proxy
        if stream is not None:
            packets += (
                stream.rst(from_a, at) if how in ("rst", "error") else stream.fin(from_a, at)
            )
    return packets


class _Stream:
    """One synthetic TCP connection from ``a`` (the side that connects) to ``b``."""

    def __init__(self, a: tuple[str, int], b: tuple[str, int]) -> None:
        self.a, self.b = a, b
        self.seq = {True: 1000, False: 5000}  # next sequence number, keyed by "from a"

    def _segment(
        self, from_a: bool, flags: int, data: bytes, at: float, note: str = ""
    ) -> _Packet:
        src, dst = (self.a, self.b) if from_a else (self.b, self.a)
        seq, ack = self.seq[from_a], self.seq[not from_a]
        tcp = struct.pack("!HHIIBBHHH", src[1], dst[1], seq, ack, 5 << 4, flags, 65535, 0, 0)
        self.seq[from_a] = (seq + len(data) + (1 if flags & (_SYN | _FIN) else 0)) % 2**32
        return _Packet(at, _ip(src[0], dst[0], tcp, data), note)

    def open(self, at: float, note: str = "") -> list[_Packet]:
        return [
            self._segment(True, _SYN, b"", at, note),
            self._segment(False, _SYN | _ACK, b"", at),
            self._segment(True, _ACK, b"", at),
        ]

    def send(self, from_a: bool, data: bytes, at: float) -> list[_Packet]:
        pieces = [data[i : i + _MSS] for i in range(0, len(data), _MSS)]
        return [self._segment(from_a, _PSH | _ACK, p, at) for p in pieces]

    def rst(self, from_a: bool, at: float) -> list[_Packet]:
        return [self._segment(from_a, _RST | _ACK, b"", at)]

    def fin(self, from_a: bool, at: float) -> list[_Packet]:
        """An orderly close begun by ``from_a``: its FIN, the other's FIN, the last ACK."""
        return [
            self._segment(from_a, _FIN | _ACK, b"", at),
            self._segment(not from_a, _FIN | _ACK, b"", at),
            self._segment(from_a, _ACK, b"", at),
        ]


def _ip(src: str, dst: str, tcp: bytes, data: bytes) -> bytes:
    s, d = ipaddress.ip_address(src), ipaddress.ip_address(dst)
    if s.version != d.version:  # an IPv4-mapped peer of an IPv6 socket
        s, d = _as_v6(s), _as_v6(d)
    length = len(tcp) + len(data)
    if s.version == 4:
        header = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + length, 0, 0x4000, 64, 6, 0,
                             s.packed, d.packed)  # fmt: skip
        header = header[:10] + struct.pack("!H", _checksum(header)) + header[12:]
        pseudo = s.packed + d.packed + struct.pack("!BBH", 0, 6, length)
    else:
        header = struct.pack("!IHBB16s16s", 6 << 28, length, 6, 64, s.packed, d.packed)
        pseudo = s.packed + d.packed + struct.pack("!II", length, 6)
    check = _checksum(pseudo + tcp + data)
    return header + tcp[:16] + struct.pack("!H", check) + tcp[18:] + data


def _as_v6(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> ipaddress.IPv6Address:
    if isinstance(address, ipaddress.IPv6Address):
        return address
    return ipaddress.IPv6Address(b"\0" * 10 + b"\xff\xff" + address.packed)


def _checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total: int = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def _pad(data: bytes) -> bytes:
    return data + b"\0" * (-len(data) % 4)


def _option(code: int, value: bytes) -> bytes:
    return struct.pack("<HH", code, len(value)) + _pad(value)


def _block(kind: int, body: bytes) -> bytes:
    length = 12 + len(body)
    return struct.pack("<II", kind, length) + body + struct.pack("<I", length)
