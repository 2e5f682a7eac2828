"""The buffer asyncio reads a connection's bytes into: one per event-loop thread.

Strategy: asyncio's socket transport reads a plain protocol's bytes with
``recv(256 KiB)``, a new bytes object of that size for every read, however small; a
buffered protocol it reads into a buffer the protocol gives. The server's protocols are
both kinds (:class:`BufferedReads`; every stream protocol of the server is: the
handshake, the relay, the HTTP front end's upstream, a virtual destination, the UDP
control connection): asyncio then reads into the thread's one
:class:`ReadBuffer`, and uvloop, which calls a protocol that is an ``asyncio.Protocol``
with bytes, does what costs it less. No connection of the server makes a 256 KiB object
per read: with the relay alone buffered, the handshake's reads still did, and glibc
served each with ``mmap``, ``mremap`` and ``munmap`` (its threshold for that rises only
when such a block is freed whole, which the relay's EOF reads had done), a fifth more
CPU per handshake on asyncio.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable

__all__ = ["READ", "READ_SIZE", "BufferedReads", "ReadBuffer"]

#: The most one read takes (asyncio's own reads take as much).
READ_SIZE = 256 * 1024


class ReadBuffer(threading.local):
    """The buffer the connections of one event-loop thread are read into, made at the
    thread's first read. The relay writes each chunk to its peer as a view of it. A
    transport that could not send all of it at once may keep the view (uvloop and
    asyncio on Python 3.12 and later do; asyncio on 3.11 copies): then the buffer is
    given up to that transport and a new one made (:meth:`renew`), so a kept chunk is
    never overwritten."""

    buffer: bytearray

    def __getattr__(self, name: str) -> bytearray:
        # Only for what a thread has not set: its buffer, at its first read (not at
        # import, which would add it to every idle process).
        if name != "buffer":
            raise AttributeError(name)
        self.renew()
        return self.buffer

    def renew(self) -> None:
        self.buffer = bytearray(READ_SIZE)


#: This thread's read buffer.
READ = ReadBuffer()


class BufferedReads(asyncio.BufferedProtocol):
    """For a protocol that is also an ``asyncio.Protocol``: a loop that reads into a
    buffer reads into the thread's, and the chunk reaches ``data_received`` as bytes."""

    __slots__ = ()

    data_received: Callable[[bytes], None]

    def get_buffer(self, sizehint: int) -> bytearray:
        return READ.buffer

    def buffer_updated(self, nbytes: int) -> None:
        self.data_received(bytes(memoryview(READ.buffer)[:nbytes]))
