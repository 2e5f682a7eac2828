"""Opening the tunnel: the one place that picks how a connection's bytes are relayed.

Strategy: once the success reply is out, the client's transport and the upstream side (a
dialled destination, a BIND peer, or a virtual destination on a socket pair — they look
the same here) become a tunnel. Which relay carries it is decided here and nowhere else:
the zero-copy splice relay when it is asked for and nothing needs to see the bytes (no
transfer fault, no capture, no ``on("data")`` hook, no ``idle_timeout``); otherwise the
ordinary relay, with the data hooks and a shaper on each direction that a transfer fault
acts on. Client bytes that arrived with the request are passed on first.
"""

from __future__ import annotations

import random

from . import _splice as splicing
from ._checkpoints import data_rewriter
from ._connection import ClientConnection
from ._fault_types import Direction
from ._idle_watch import tunnel_watch
from ._relay import RelaySide
from ._shaping import shape, timed_resets

__all__ = ["open_tunnel"]


def open_tunnel(conn: ClientConnection, upstream: RelaySide) -> None:
    """Hand the client transport to a relay and start forwarding both ways."""
    transport = conn.transport
    assert transport is not None
    assert upstream.transport is not None
    record, config = conn.record, conn.config
    client = RelaySide(record, "client")
    client.early = None  # the client's early bytes are the handshake's trailing data
    conn.hand_over(client)
    client.transport = transport
    client.tunnel_done = upstream.tunnel_done = conn.tunnel_done
    upstream.on_error = conn.internal_error  # the client side's is wired by hand_over
    client.peer, upstream.peer = upstream, client
    transfer = conn.policy.transfer_faults(record)
    data_hooks = conn.context.checkpoints.data_hooks
    if (
        config.splice
        and splicing.AVAILABLE
        and not transfer
        and not data_hooks  # a data hook sees every chunk
        and not record.payload_limit  # capture needs the bytes in user space
        and config.idle_timeout is None  # the idle watch reads the relay's write queues
        and transport.get_write_buffer_size() == 0
        and not upstream.early  # bytes the destination sent first go the ordinary way
    ):
        data, eof = conn.conn.trailing_data
        if conn.lost:
            upstream.transport.close()
            return
        upstream.early = None

        def done() -> None:
            conn.tunnel_done()
            client.release()  # the tunnel had both sockets: the sides relayed nothing
            upstream.release()

        tunnel = splicing.SpliceTunnel(transport, upstream.transport, record, done)
        conn.hand_over(tunnel)
        tunnel.start(data, eof)
        return
    if transfer:
        rng = random.Random(conn.policy.seed + record.id)
        client.shaper, upstream.shaper = shape(transfer, rng, client, upstream)
        for fault in timed_resets(transfer):
            timer = conn.loop.call_later(fault.seconds or 0.0, client.reset_in_time, fault)
            conn.add_cleanup(timer.cancel)
    if data_hooks:
        client.rewrite = data_rewriter(data_hooks, Direction.FROM_CLIENT)
        upstream.rewrite = data_rewriter(data_hooks, Direction.TO_CLIENT)
    transport.set_protocol(client)
    transport.resume_reading()  # in case the handshake buffer limit paused it
    if config.idle_timeout is not None:
        watch = tunnel_watch(client, config.idle_timeout)
        conn.done.add_done_callback(lambda _: watch.cancel())
    data, eof = conn.conn.trailing_data
    if data:
        client.data_received(data)
    if conn.lost:
        client.connection_lost(None)
    elif eof:
        client.eof_received()
    upstream.replay_early()
    client.go_direct()
    upstream.go_direct()
    upstream.transport.resume_reading()
