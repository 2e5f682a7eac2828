"""Ending a connection's sides with RST, the counts settled first: one implementation for
the tunnel's relay (:mod:`._relay`) and the forwarder of ``http://`` requests
(:mod:`._forward_wire`).

Strategy: a side dropped at once loses what its transport holds (:func:`dropped`); reset,
it loses what its kernel has not sent, read just before the socket closes
(:func:`unsent_at_reset`, from the protocol's ``connection_lost``, which both loops call
right before they close the socket); a side its peer reset first lost all the peer did
not acknowledge. The connection ends once every side's socket is closed
(:func:`reset_then_end`): a reader who sees the record end finds its counts final.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from ._sockets import lost_to_reset, unsent_in_kernel

__all__ = ["ResetSide", "dropped", "reset_then_end", "unsent_at_reset"]


class ResetSide(Protocol):
    """A side the proxy may drop: its :meth:`drop` with ``reset`` calls ``after_reset``
    once its socket is closed (in a later loop turn than ``connection_lost``)."""

    after_reset: Callable[[], None] | None

    def drop(self, *, reset: bool) -> None:
        """Close this side's socket at once (with RST if ``reset``), counts settled."""


def dropped(transport: asyncio.WriteTransport, mark: int | None, written: int) -> int:
    """Of the ``written`` bytes counted for a side dropped now (its socket's
    :func:`~._sockets.sent_mark` ``mark``), those it never gets: all its peer did not
    acknowledge if the peer reset first, else those in the transport's buffer."""
    lost = lost_to_reset(transport.get_extra_info("socket"), mark, written)
    return transport.get_write_buffer_size() if lost is None else lost


def unsent_at_reset(sock: Any, mark: int | None, written: int) -> int:
    """Just before the socket of a side the proxy reset closes: what its kernel has not
    sent (all its peer did not acknowledge, if the peer reset first)."""
    lost = lost_to_reset(sock, mark, written)
    return unsent_in_kernel(sock) if lost is None else lost


def reset_then_end(sides: Sequence[ResetSide], end: Callable[[], object]) -> None:
    """Drop ``sides`` with RST, and call ``end`` once each one's socket is closed (at
    once with none): only then are the counts final."""
    left = len(sides)

    def closed() -> None:
        nonlocal left
        left -= 1
        if not left:
            end()

    if not sides:
        end()
    for side in sides:
        side.after_reset = closed
        side.drop(reset=True)
