"""A peer that never reads cannot make the server buffer without limit, either way.

Each test keeps writing into one end of a tunnel whose other end never reads, until the
kernel takes no more and the server has stopped reading the writer; then it measures
what the server holds (its transports' write queues, read on the server's own loop) and
checks that it stays within WRITE_HIGH_WATER plus one read, while the writer keeps
trying. Finally the reader wakes up and every byte arrives, in order.
"""

from __future__ import annotations

import hashlib
import socket
import threading
from collections.abc import Callable

from pytest_socks5 import Outcome, SOCKS5Server
from pytest_socks5._sockets import WRITE_HIGH_WATER

from .helpers import only_record, recv_all, socks5_tunnel
from .reliability import Held, held, loopback_listener, pump_until

#: asyncio reads at most this much per callback, so a pause takes effect within it.
READ_CHUNK = 256 * 1024
BOUND = WRITE_HIGH_WATER + READ_CHUNK


def _stalled_then_drained(
    server: SOCKS5Server,
    writer: socket.socket,
    reader: socket.socket,
    paused: Callable[[Held], bool],
    queued: Callable[[Held], int],
    report_figures: Callable[[str], None],
    direction: str,
) -> None:
    digest = hashlib.sha256()
    chunk = bytes(range(251)) * 261  # byte i of the stream is chunk[i % len(chunk)]

    sent = pump_until(writer, lambda: paused(held(server)), chunk=chunk)
    first = held(server)
    assert 0 < queued(first) <= BOUND, first
    # Keep pushing: nothing more gets in, and the server holds no more than before.
    more = pump_until(writer, lambda: paused(held(server)), chunk=chunk, timeout=5, already=sent)
    second = held(server)
    assert queued(second) <= BOUND, second
    sent += more
    report_figures(
        f"{direction}: peer never reads; server held {queued(first)} then {queued(second)} "
        f"bytes (bound {BOUND}) while {sent} bytes were written"
    )

    # The reader wakes up: every byte arrives.
    received = bytearray()

    def read() -> None:
        received.extend(recv_all(reader))

    thread = threading.Thread(target=read)
    thread.start()
    full, rest = divmod(sent, len(chunk))
    for _ in range(full):
        digest.update(chunk)
    digest.update(chunk[:rest])
    writer.shutdown(socket.SHUT_WR)
    thread.join(30)
    assert len(received) == sent
    assert hashlib.sha256(received).digest() == digest.digest()


def test_a_client_that_never_reads_cannot_fill_the_server(report_figures) -> None:
    with (
        SOCKS5Server() as server,
        loopback_listener() as listener,
        socks5_tunnel(server.address, *listener.getsockname()) as (client, reply),
    ):
        assert reply[1] == 0
        upstream, _ = listener.accept()
        with upstream:
            _stalled_then_drained(
                server,
                writer=upstream,
                reader=client,
                paused=lambda h: h.reading_upstreams == 0,
                queued=lambda h: h.to_clients,
                report_figures=report_figures,
                direction="destination → client",
            )
        client.shutdown(socket.SHUT_WR)
        record = only_record(server)
        assert record.outcome is Outcome.CLOSED


def test_a_destination_that_never_reads_cannot_fill_the_server(report_figures) -> None:
    with (
        SOCKS5Server() as server,
        loopback_listener() as listener,
        socks5_tunnel(server.address, *listener.getsockname()) as (client, reply),
    ):
        assert reply[1] == 0
        upstream, _ = listener.accept()
        with upstream:
            _stalled_then_drained(
                server,
                writer=client,
                reader=upstream,
                paused=lambda h: h.reading_clients == 0,
                queued=lambda h: h.to_upstreams,
                report_figures=report_figures,
                direction="client → destination",
            )
            upstream.shutdown(socket.SHUT_WR)
        record = only_record(server)
        assert record.outcome is Outcome.CLOSED
