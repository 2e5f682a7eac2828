"""Integrity under load: every byte verified both ways, file descriptors flat.

* The soak runs ``SOCKS5_SOAK_CONCURRENCY`` (default 32) tunnels at a time for
  ``SOCKS5_SOAK_SECONDS`` (default 8). Each tunnel carries a random number of random
  bytes each way (mostly small, some megabytes) in random chunks, and half-closes in a
  random order: both directions at once, the client first, or the destination first.
  The receiving end of each direction hashes what arrived and compares it (SHA-256, and
  the count) with what the sending end generated; the server's records must account for
  exactly the same bytes.
* The cycle test makes ``SOCKS5_CYCLES`` (default 2000) short connections of every kind
  (tunnels, resets, refused dials, garbage, abandoned handshakes) and counts the
  process's file descriptors at checkpoints: they stay exactly where they started.

By hand, for the long mode::

    SOCKS5_SOAK_SECONDS=600 SOCKS5_CYCLES=100000 .venv/bin/pytest tests/test_soak.py -p no:randomly
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import hashlib
import random
import socket
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest

from pytest_socks5 import ConnectionRecord, Outcome, SOCKS5Server

from .helpers import closed_port, socks5_request
from .reliability import (
    CYCLES,
    SOAK_CONCURRENCY,
    SOAK_SECONDS,
    confine_to_loopback,
    count_fds,
    needs_proc,
)

#: seed, bytes up, bytes down, mode: the first thing a client sends through its tunnel.
HEADER = struct.Struct("!QQQB")
MODES = ("duplex", "client-first", "target-first")
TUNNEL_TIMEOUT = 60.0


def random_size(rng: random.Random) -> int:
    """Mostly small, sometimes large: 60% under 4 KiB, 30% under 256 KiB, 10% to 4 MiB."""
    roll = rng.random()
    if roll < 0.6:
        return rng.randint(0, 4096)
    if roll < 0.9:
        return rng.randint(4096, 256 * 1024)
    return rng.randint(256 * 1024, 4 * 1024 * 1024)


async def send(writer: asyncio.StreamWriter, data: bytes, rng: random.Random) -> None:
    at = 0
    while at < len(data):
        size = rng.choice((1, 7, 512, 1460, 4096, 16384, 65536, 262144))
        writer.write(data[at : at + size])
        at += size
        await writer.drain()
    writer.write_eof()


async def receive(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    """Read to EOF: ``(count, sha256)``."""
    digest, count = hashlib.sha256(), 0
    while chunk := await reader.read(262144):
        digest.update(chunk)
        count += len(chunk)
    return count, digest.digest()


@dataclass
class Expected:
    up: tuple[int, bytes]
    down: bytes
    mode: str
    verified: asyncio.Future[str]


@dataclass
class Destination:
    """The far end of every tunnel: checks what came up, sends what the client expects."""

    expected: dict[int, Expected] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        want: Expected | None = None
        try:
            seed, _, _, mode = HEADER.unpack(await reader.readexactly(HEADER.size))
            want = self.expected[seed]
            rng = random.Random(seed ^ 0x5A5A)
            if MODES[mode] == "duplex":
                _, got = await asyncio.gather(send(writer, want.down, rng), receive(reader))
            elif MODES[mode] == "client-first":
                got = await receive(reader)
                await send(writer, want.down, rng)
            else:
                await send(writer, want.down, rng)
                got = await receive(reader)
            if got != want.up:
                want.verified.set_result(f"up: got {got[0]} bytes, wanted {want.up[0]}")
            else:
                want.verified.set_result("ok")
        except Exception as exc:  # reported through the client's check
            if want is not None and not want.verified.done():
                want.verified.set_result(f"destination failed: {exc!r}")
            else:
                self.errors.append(repr(exc))
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()


async def handshake(
    proxy: tuple[str, int], target: tuple[str, int]
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_connection(*proxy)
    writer.write(b"\x05\x01\x00" + socks5_request(*target))
    answer = await reader.readexactly(12)
    assert answer[:4] == b"\x05\x00\x05\x00", answer.hex(" ")
    return reader, writer


@dataclass
class Totals:
    tunnels: int = 0
    up: int = 0
    down: int = 0
    largest: int = 0
    modes: collections.Counter[str] = field(default_factory=collections.Counter)
    failures: list[str] = field(default_factory=list)


async def one_tunnel(
    seed: int, proxy: tuple[str, int], target: tuple[str, int], dest: Destination, totals: Totals
) -> None:
    rng = random.Random(seed)
    up, down = rng.randbytes(random_size(rng)), rng.randbytes(random_size(rng))
    mode = rng.randrange(len(MODES))
    want = Expected(
        up=(len(up), hashlib.sha256(up).digest()),
        down=down,
        mode=MODES[mode],
        verified=asyncio.get_running_loop().create_future(),
    )
    dest.expected[seed] = want
    try:
        async with asyncio.timeout(TUNNEL_TIMEOUT):
            reader, writer = await handshake(proxy, target)
            try:
                writer.write(HEADER.pack(seed, len(up), len(down), mode))
                if MODES[mode] == "duplex":
                    _, got = await asyncio.gather(send(writer, up, rng), receive(reader))
                elif MODES[mode] == "client-first":
                    await send(writer, up, rng)
                    got = await receive(reader)
                else:
                    got = await receive(reader)
                    await send(writer, up, rng)
                    await reader.read()  # the tunnel closes once the destination has read
            finally:
                writer.close()
            verdict = await want.verified
    except TimeoutError:
        totals.failures.append(f"seed {seed} ({MODES[mode]}): no end in {TUNNEL_TIMEOUT:g}s")
        return
    finally:
        del dest.expected[seed]
    if got != (len(down), hashlib.sha256(down).digest()):
        totals.failures.append(f"seed {seed} ({MODES[mode]}) down: got {got[0]}/{len(down)}")
    if verdict != "ok":
        totals.failures.append(f"seed {seed} ({MODES[mode]}) {verdict}")
    totals.tunnels += 1
    totals.up += len(up)
    totals.down += len(down)
    totals.largest = max(totals.largest, len(up), len(down))
    totals.modes[MODES[mode]] += 1


class Ledger:
    """What the server recorded, summed on its thread as each connection ends."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.outcomes: collections.Counter[str] = collections.Counter()
        self.from_client = self.to_client = 0

    def __call__(self, record: ConnectionRecord) -> None:
        with self.lock:
            self.outcomes[record.outcome.value] += 1
            self.from_client += record.bytes_from_client
            self.to_client += record.bytes_to_client

    @property
    def ended(self) -> int:
        with self.lock:
            return sum(self.outcomes.values())


async def wait_for(condition: Callable[[], bool], what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"waited {timeout:g}s for {what}"
        await asyncio.sleep(0.01)


@pytest.mark.timeout(SOAK_SECONDS + 180)
def test_soak_many_concurrent_tunnels_verify_every_byte(report_figures) -> None:
    ledger = Ledger()

    dest = Destination()

    async def soak() -> Totals:
        target_server = await asyncio.start_server(dest.handle, "127.0.0.1", 0)
        target = target_server.sockets[0].getsockname()[:2]
        totals = Totals()
        seeds = iter(range(1, 1 << 62))
        deadline = time.monotonic() + SOAK_SECONDS

        async def worker() -> None:
            while time.monotonic() < deadline and not totals.failures:
                await one_tunnel(next(seeds), server.address, target, dest, totals)

        try:
            await asyncio.gather(*(worker() for _ in range(SOAK_CONCURRENCY)))
        finally:
            target_server.close()
            await target_server.wait_closed()
        return totals

    with SOCKS5Server(on_connection_end=ledger) as server:
        confine_to_loopback(server)
        started = time.monotonic()
        totals = asyncio.run(soak())
        took = time.monotonic() - started
        deadline = time.monotonic() + 30
        while ledger.ended < totals.tunnels and time.monotonic() < deadline:
            time.sleep(0.01)
        assert server.errors == []
    assert totals.failures == []
    assert dest.errors == []
    assert totals.tunnels > SOAK_CONCURRENCY
    assert ledger.outcomes == {Outcome.CLOSED.value: totals.tunnels}
    assert ledger.from_client == totals.up + HEADER.size * totals.tunnels
    assert ledger.to_client == totals.down
    report_figures(
        f"{totals.tunnels} tunnels ({SOAK_CONCURRENCY} at a time, {took:.0f}s; "
        f"{dict(totals.modes)}), {totals.up + totals.down} bytes SHA-256-verified "
        f"({totals.up} up, {totals.down} down, largest {totals.largest})"
    )


# -- thousands of connect/close cycles: file descriptors flat --------------------------------

KINDS = ("tunnel", "reset", "refused", "garbage", "abandoned", "no-method")


async def one_cycle(
    kind: str, rng: random.Random, proxy: tuple[str, int], target: tuple[str, int], refused: int
) -> None:
    if kind in ("tunnel", "reset"):
        reader, writer = await handshake(proxy, target)
        payload = rng.randbytes(rng.randint(0, 2048))
        if kind == "reset":
            writer.write(payload)
            linger = struct.pack("ii", 1, 0)  # close with RST, not FIN
            writer.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger)
            writer.transport.abort()
            return
        writer.write(payload)
        writer.write_eof()
        assert await reader.read() == payload
        writer.close()
        return
    reader, writer = await asyncio.open_connection(*proxy)
    try:
        if kind == "refused":
            writer.write(b"\x05\x01\x00" + socks5_request("127.0.0.1", refused))
            assert (await reader.readexactly(12))[3] == 0x05
        elif kind == "garbage":
            # Never a SOCKS version byte first, so it can never form a request.
            first = rng.choice([b for b in range(256) if b not in (4, 5)])
            writer.write(bytes((first,)) + rng.randbytes(rng.randint(0, 63)))
            writer.write_eof()
            await reader.read()
        elif kind == "abandoned":
            writer.write(b"\x05\x02\x00")
        else:
            writer.write(b"\x05\x01\x02")
            assert await reader.readexactly(2) == b"\x05\xff"
    finally:
        writer.close()


@needs_proc
@pytest.mark.timeout(CYCLES / 10 + 180)
def test_thousands_of_connect_close_cycles_keep_fds_flat(report_figures) -> None:
    ledger = Ledger()
    checkpoints: list[int] = []

    echoing = 0

    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal echoing
        echoing += 1
        try:
            while data := await reader.read(65536):
                writer.write(data)
            writer.write_eof()
        except ConnectionError:
            pass
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()
            echoing -= 1

    async def cycles(refused: int) -> collections.Counter[str]:
        target_server = await asyncio.start_server(echo, "127.0.0.1", 0)
        target = target_server.sockets[0].getsockname()[:2]
        rng = random.Random(8)
        kinds: collections.Counter[str] = collections.Counter()
        done = 0

        async def settle() -> int:
            """Wait until every connection has ended on all three sides; then the fd
            count (given up to 5 s to come down: a socket closes just after its
            connection_lost callback)."""
            await wait_for(lambda: ledger.ended == done, f"{done} ended connections")
            await wait_for(lambda: not len(server._engine.registry), "no open connection")
            await wait_for(lambda: echoing == 0, "the destination to close everything")
            deadline = time.monotonic() + 5
            while checkpoints and count_fds() > checkpoints[0] and time.monotonic() < deadline:
                await asyncio.sleep(0.01)
            return count_fds()

        try:
            batch = max(1, CYCLES // 4)
            while done < CYCLES:
                chosen = [rng.choice(KINDS) for _ in range(min(batch, CYCLES - done))]
                for at in range(0, len(chosen), 8):
                    group = chosen[at : at + 8]
                    await asyncio.gather(
                        *(one_cycle(k, rng, server.address, target, refused) for k in group)
                    )
                    kinds.update(group)
                    done += len(group)
                checkpoints.append(await settle())
        finally:
            target_server.close()
            await target_server.wait_closed()
        return kinds

    with closed_port() as refused, SOCKS5Server(on_connection_end=ledger) as server:
        confine_to_loopback(server)
        kinds = asyncio.run(cycles(refused))
        assert server.errors == []
    assert sum(kinds.values()) == CYCLES
    assert ledger.ended == CYCLES
    assert len(set(checkpoints)) == 1, checkpoints
    assert ledger.outcomes == {
        Outcome.CLOSED.value: kinds["tunnel"],
        Outcome.RESET.value: kinds["reset"],
        Outcome.REJECTED.value: kinds["refused"],
        Outcome.PROTOCOL_ERROR.value: kinds["garbage"] + kinds["abandoned"],
        Outcome.NO_ACCEPTABLE_METHOD.value: kinds["no-method"],
    }
    report_figures(
        f"{CYCLES} connect/close cycles ({dict(kinds)}); open fds at checkpoints "
        f"{checkpoints}; outcomes {dict(ledger.outcomes)}"
    )
