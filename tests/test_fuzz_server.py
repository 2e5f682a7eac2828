"""Hostile input against the live server: the server never dies, never errs, never hangs,
and the connections of everyone else keep working.

The sans-I/O core has its own properties (test_protocol_properties.py); here the same
valid streams, mutated in more ways, and raw noise go over real sockets, chunked, and
end with an EOF, an abrupt close or a reset. Destinations never leave the machine: the
servers' event loops get a name lookup that never asks a resolver and a connect that
reaches a loopback echo server or fails (refused, unreachable, unknown name) according
to the requested port, so the server's own dialling code runs on every request.

After every case: the connection's record has ended with a real outcome (never
``internal-error``), displays as one printable line, and for a tunnel that closed
cleanly the echo returned exactly the payload relayed; a long-lived bystander tunnel on
each server still echoes. A storm test fires hundreds of mutated handshakes at once
while a bystander moves megabytes, verified by SHA-256.

``SOCKS5_FUZZ_EXAMPLES`` (default 1000) and ``SOCKS5_STORM_CONNECTIONS`` (default 1000)
scale it up for a long run by hand.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import errno
import hashlib
import os
import random
import socket
import struct
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pytest_socks5 import Outcome, SOCKS5Server

from .helpers import connect, echo_target, only_record, recv_exactly
from .reliability import FUZZ_EXAMPLES, STORM_CONNECTIONS
from .test_protocol_properties import chunked, noise, streams

ENDINGS = ("eof", "close", "reset")
FUZZ_TIMEOUT = 10.0


@dataclass
class Bystander:
    """A tunnel opened before the fuzzing that must keep working throughout."""

    sock: socket.socket
    sent: int = 0

    def check(self) -> None:
        message = b"still alive %d" % self.sent
        self.sock.sendall(message)
        assert recv_exactly(self.sock, len(message)) == message
        self.sent += 1


@dataclass
class World:
    open_server: SOCKS5Server
    auth_server: SOCKS5Server
    bystanders: list[Bystander]
    stats: collections.Counter[str] = field(default_factory=collections.Counter)


def _guard_dial(server: SOCKS5Server, echo: tuple[str, int]) -> None:
    """Nothing leaves the machine, yet the server's own dialling code runs: its event
    loop's name lookup and connect are replaced. The lookup encodes the name exactly as
    socket.getaddrinfo does (so names IDNA refuses fail the same way) and never asks a
    resolver; by the requested port, connects reach the echo server or fail the way a
    refused port, an unreachable network or an unknown name does."""
    loop = server._loop
    assert loop is not None
    real_connect = loop.create_connection

    async def getaddrinfo(host: str, port: int, **kwargs: object) -> list[object]:
        host.encode("idna")  # what socket.getaddrinfo does first; raises UnicodeError
        if port % 4 == 3:
            raise socket.gaierror(socket.EAI_NONAME, "unknown name (fuzz resolver)")
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port))]

    async def create_connection(factory: object, host: str, port: int, **kwargs: object):
        if port % 4 in (0, 1):
            return await real_connect(factory, *echo)  # type: ignore[arg-type]
        if port % 4 == 2:
            raise ConnectionRefusedError(errno.ECONNREFUSED, "refused (fuzz dialler)")
        raise OSError(errno.ENETUNREACH, "network unreachable (fuzz dialler)")

    async def patch() -> None:  # on the loop's own thread
        loop.getaddrinfo = getaddrinfo  # type: ignore[method-assign,assignment]
        loop.create_connection = create_connection  # type: ignore[method-assign,assignment]

    asyncio.run_coroutine_threadsafe(patch(), loop).result(5)


def forget_records(server: SOCKS5Server) -> None:
    """Start a case with no records, the bystanders untouched (``reset()`` would end
    them: it ends what an earlier test left open)."""
    server._recorder.clear()


def _open_bystander(server: SOCKS5Server, auth: bool) -> Bystander:
    sock = connect(server.address)
    if auth:
        sock.sendall(b"\x05\x01\x02")
        assert recv_exactly(sock, 2) == b"\x05\x02"
        sock.sendall(b"\x01\x05alice\x02pw")  # the validator accepts even-length passwords
        assert recv_exactly(sock, 2) == b"\x01\x00"
    else:
        sock.sendall(b"\x05\x01\x00")
        assert recv_exactly(sock, 2) == b"\x05\x00"
    sock.sendall(b"\x05\x01\x00\x01\x7f\x00\x00\x01\x00\x04")  # port 4: the echo server
    assert recv_exactly(sock, 10)[1] == 0
    return Bystander(sock)


@pytest.fixture(scope="module")
def world(figures_log: list[str]) -> Iterator[World]:
    options = {"handshake_timeout": 5.0, "connect_timeout": 5.0}
    with (
        echo_target() as echo,
        SOCKS5Server(**options) as open_server,
        SOCKS5Server(validator=lambda u, p: len(p) % 2 == 0, **options) as auth_server,
    ):
        _guard_dial(open_server, echo)
        _guard_dial(auth_server, echo)
        bystanders = [_open_bystander(open_server, False), _open_bystander(auth_server, True)]
        world = World(open_server, auth_server, bystanders)
        try:
            yield world
            for bystander in bystanders:
                bystander.check()
        finally:
            for bystander in bystanders:
                bystander.sock.close()
        assert open_server.errors == []
        assert auth_server.errors == []
    if world.stats:
        shown = ", ".join(f"{k} {v}" for k, v in sorted(world.stats.items()))
        figures_log.append(f"live-server fuzzing: {shown}")


# -- mutation of valid handshakes -----------------------------------------------------------


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    """A valid stream, then a few edits: overwrite, insert, delete, duplicate, truncate,
    or splice in the start of another valid stream."""
    data = bytearray(draw(streams).data)
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["set", "insert", "delete", "dup", "cut", "splice"]))
        at = draw(st.integers(0, len(data)))
        if op == "set" and data:
            data[min(at, len(data) - 1)] = draw(st.integers(0, 255))
        elif op == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=8))
        elif op == "delete":
            del data[at : at + draw(st.integers(1, 8))]
        elif op == "dup":
            data[at:at] = data[at : at + draw(st.integers(1, 16))]
        elif op == "cut":
            del data[at:]
        else:
            other = draw(streams).data
            data[at:] = other[: draw(st.integers(0, len(other)))]
    return bytes(data)


#: Names a resolver chokes on: empty and overlong labels, stray dots, bidi and format
#: characters, punycode that is not, and any text at all.
hostile_names = st.one_of(
    st.sampled_from(["a..b", ".", "..", "x" * 64, "a.", ".a", "evil\u202etest", "xn--", "-"]),
    st.lists(st.text("ab-.", max_size=70), min_size=1, max_size=4).map(".".join),
    st.text(st.sampled_from("ab.-\u202e\u200d\u00ad\u0663\u05d0\ufeff"), max_size=80),
    st.text(max_size=80),
).map(lambda name: name.encode("utf-8", "surrogatepass")[:255])


@st.composite
def hostile_name_requests(draw: st.DrawFn) -> bytes:
    """A valid handshake asking for a hostile name, SOCKS5 (with or without a password)
    or SOCKS 4a."""
    name, port = draw(hostile_names), draw(st.integers(0, 65535)).to_bytes(2, "big")
    kind = draw(st.sampled_from(["socks5", "socks5-auth", "socks4a"]))
    if kind == "socks4a":
        return b"\x04\x01" + port + b"\x00\x00\x00\x01user\x00" + name + b"\x00"
    head = b"\x05\x01\x00" if kind == "socks5" else b"\x05\x01\x02\x01\x01u\x02pw"
    return head + b"\x05\x01\x00\x03" + bytes((len(name),)) + name + port


attacks = st.one_of(streams.map(lambda s: s.data), hostile_name_requests(), mutated(), noise)


def _send_and_end(sock: socket.socket, chunks: list[bytes], ending: str) -> bytes | None:
    """Send; then EOF and read everything (returned), or close, or reset (None)."""
    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
        for chunk in chunks:
            sock.sendall(chunk)
    if ending == "reset":
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        return None
    if ending == "close":
        return None
    received = bytearray()
    sock.settimeout(FUZZ_TIMEOUT)
    with contextlib.suppress(BrokenPipeError, ConnectionResetError, OSError):
        sock.shutdown(socket.SHUT_WR)
    try:
        while chunk := sock.recv(65536):
            received += chunk
    except ConnectionResetError:
        pass
    except TimeoutError:
        raise AssertionError(
            f"the server neither finished nor closed within {FUZZ_TIMEOUT:g}s after EOF"
        ) from None
    return bytes(received)


@pytest.mark.timeout(120 + FUZZ_EXAMPLES * 0.05)  # the long mode runs far more cases
@settings(
    max_examples=FUZZ_EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    data=attacks,
    cuts=st.lists(st.integers(0, 600), max_size=12),
    ending=st.sampled_from(ENDINGS),
    auth=st.booleans(),
)
def test_hostile_handshakes_against_the_live_server(
    world: World, data: bytes, cuts: list[int], ending: str, auth: bool
) -> None:
    server = world.auth_server if auth else world.open_server
    forget_records(server)
    with connect(server.address) as sock:
        received = _send_and_end(sock, chunked(data, cuts), ending)
    record = only_record(server, timeout=FUZZ_TIMEOUT)
    assert server.errors == []
    assert record.outcome not in (Outcome.OPEN, Outcome.INTERNAL_ERROR)
    assert str(record).isprintable()
    if received is not None and record.outcome is Outcome.CLOSED:
        # The echo returned exactly the bytes relayed, which are the tail of what we sent.
        relayed = record.bytes_from_client
        assert record.bytes_to_client == relayed
        assert received[len(received) - relayed :] == data[len(data) - relayed :]
    for bystander in world.bystanders:
        bystander.check()
    world.stats["cases"] += 1
    world.stats[f"outcome {record.outcome.value}"] += 1
    world.stats["bytes sent"] += len(data)


# -- a storm: many hostile connections at once, one bystander moving megabytes ----------


def _random_attack(rng: random.Random) -> tuple[bytes, str]:
    valid = [
        b"\x05\x01\x00\x05\x01\x00\x01\x7f\x00\x00\x01\x00\x04payload",
        b"\x05\x01\x00\x05\x01\x00\x03\x0bexample.com\x00\x06",
        b"\x04\x01\x00\x04\x7f\x00\x00\x01user\x00payload",
        b"\x04\x01\x00\x05\x00\x00\x00\x01\x00host.test\x00",
        b"\x05\x02\x00\x02\x05\x01\x00\x04" + bytes(15) + b"\x01\x00\x08",
    ]
    data = bytearray(rng.choice(valid))
    for _ in range(rng.randint(0, 4)):
        at = rng.randrange(len(data) + 1)
        match rng.randrange(4):
            case 0 if data:
                data[min(at, len(data) - 1)] = rng.randrange(256)
            case 1:
                data[at:at] = rng.randbytes(rng.randint(1, 8))
            case 2:
                del data[at : at + rng.randint(1, 8)]
            case _:
                del data[at:]
    if rng.random() < 0.1:
        data = bytearray(rng.randbytes(rng.randint(0, 600)))
    return bytes(data), rng.choice(ENDINGS)


@pytest.mark.timeout(120 + STORM_CONNECTIONS * 0.02)
def test_a_storm_of_hostile_connections_leaves_others_untouched(
    world: World, report_figures
) -> None:
    server = world.open_server
    forget_records(server)
    payload = os.urandom(8 * 1024 * 1024)
    echoed = hashlib.sha256()
    bystander = world.bystanders[0].sock

    def read_back() -> None:
        left = len(payload)
        while left:
            chunk = bystander.recv(min(left, 1 << 16))
            assert chunk, "the bystander tunnel closed"
            echoed.update(chunk)
            left -= len(chunk)

    def attack(seed: int) -> None:
        rng = random.Random(seed)
        data, ending = _random_attack(rng)
        with connect(server.address) as sock:
            _send_and_end(sock, chunked(data, [rng.randrange(64) for _ in range(3)]), ending)

    reader = threading.Thread(target=read_back)
    reader.start()
    with ThreadPoolExecutor(max_workers=16) as pool:
        futures = [pool.submit(attack, seed) for seed in range(STORM_CONNECTIONS)]
        bystander.sendall(payload)  # while the storm goes on
        for future in futures:
            future.result()
    reader.join(60)
    assert echoed.digest() == hashlib.sha256(payload).digest()
    records = server.wait_for_connections(STORM_CONNECTIONS, ended=True, timeout=60)
    outcomes = collections.Counter(r.outcome.value for r in records)
    assert Outcome.INTERNAL_ERROR.value not in outcomes
    assert server.errors == []
    world.bystanders[0].check()
    report_figures(
        f"{STORM_CONNECTIONS} concurrent hostile connections ({dict(outcomes)}); bystander "
        f"moved {len(payload)} bytes each way, SHA-256 verified"
    )
