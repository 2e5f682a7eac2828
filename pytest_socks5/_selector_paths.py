"""asyncio's own event loop, made to cost less per connection: accept and connect
without a task or a chain of futures, and a selector that finds a descriptor in one step.

Strategy: asyncio's selector loop builds the transport of each accepted socket in a task
of its own, and ``create_connection`` reaches a connected transport through three
futures, each resumed one loop turn after the last. On that loop every turn is a poll of
the selector and a pass of pure-Python bookkeeping, and a proxy pays both twice per
connection: three of the nine ``epoll_wait`` calls of a CONNECT went to them. Here the
transport is made in the very callback that accepted or connected its socket, by the
loop's own factory (``_make_socket_transport``, which ``create_server`` and
``create_connection`` call too), so reading, writing, flow control and closing are
asyncio's own. uvloop already makes its transports at accept and at connect; other loops
keep ``create_server`` and ``create_connection``. The server's private loop for
``loop="asyncio"`` runs on a :class:`DescriptorSelector` (:func:`new_selector_loop`).
"""

from __future__ import annotations

import asyncio
import errno
import selectors
import socket
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, cast

from ._protocol import AddressType, address_type_for

if TYPE_CHECKING:
    from _typeshed import FileDescriptorLike

__all__ = [
    "ACCEPT_RETRY_DELAY",
    "DescriptorSelector",
    "Listener",
    "connect",
    "listen",
    "listening",
    "new_selector_loop",
    "serves_selectors",
]

P = TypeVar("P", bound=asyncio.BaseProtocol)

#: ``accept`` errors that say the process is out of a resource: stop accepting, retry
#: after a pause (asyncio's own rule; Linux would report the socket ready every turn).
_OUT_OF_RESOURCES = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})
#: How long accepting pauses after such an error (asyncio's ``ACCEPT_RETRY_DELAY``).
ACCEPT_RETRY_DELAY = 1.0


class _TransportFactory(Protocol):
    def __call__(
        self,
        sock: socket.socket,
        protocol: asyncio.BaseProtocol,
        *,
        extra: dict[str, Any] | None = None,
    ) -> asyncio.Transport: ...


def _transport_factory(loop: asyncio.AbstractEventLoop) -> _TransportFactory:
    return cast(_TransportFactory, loop._make_socket_transport)  # type: ignore[attr-defined]


def serves_selectors(loop: asyncio.AbstractEventLoop) -> bool:
    """Whether ``loop`` is one of asyncio's selector loops (these paths serve it)."""
    return isinstance(loop, asyncio.selector_events.BaseSelectorEventLoop)


class DescriptorSelector(selectors.DefaultSelector):
    """The platform's default selector, that finds a descriptor's key in one step.

    asyncio's selector loop looks a descriptor up with ``get_key`` each time it adds or
    removes a reader or a writer: about twenty times per CONNECT, most of them for a
    descriptor not registered yet. The base class goes through its mapping view, its
    file-object look-up and its descriptor check, five Python calls, and answers a
    descriptor not registered by raising twice (its mapping's error, then its own). asyncio
    asks by descriptor (an ``int``): here that is one dictionary look-up, and one error.
    Anything else takes the base class's way; the answers are the base class's."""

    def get_key(self, fileobj: FileDescriptorLike) -> selectors.SelectorKey:
        if type(fileobj) is not int:
            return super().get_key(fileobj)
        keys: dict[int, selectors.SelectorKey] = self._fd_to_key  # type: ignore[attr-defined]
        try:
            return keys[fileobj]
        except KeyError:
            if self.get_map() is None:
                raise RuntimeError("Selector is closed") from None
            raise KeyError(f"{fileobj!r} is not registered") from None


def new_selector_loop() -> asyncio.AbstractEventLoop:
    """asyncio's own event loop (:class:`asyncio.SelectorEventLoop`, as
    :func:`asyncio.new_event_loop` makes it on POSIX) on a :class:`DescriptorSelector`."""
    return asyncio.SelectorEventLoop(DescriptorSelector())


class Listener:
    """A listening socket on a selector loop. Each connection accepted gets its protocol
    from ``factory`` and its transport at once; offers what the engine uses of an
    :class:`asyncio.Server` (``sockets``, ``close``, ``wait_closed``)."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        sock: socket.socket,
        factory: Callable[[], asyncio.BaseProtocol],
        backlog: int,
    ) -> None:
        self._loop = loop
        self._sock = sock
        self._factory = factory
        self._backlog = backlog
        self._make_transport = _transport_factory(loop)
        self._retry: asyncio.TimerHandle | None = None
        self.sockets = [sock]
        sock.setblocking(False)
        loop.add_reader(sock.fileno(), self._accept)

    def _accept(self) -> None:
        sock = self._sock
        for _ in range(self._backlog):
            try:
                conn, peer = sock.accept()
                conn.setblocking(False)
            except (BlockingIOError, InterruptedError, ConnectionAbortedError):
                return  # none left
            except OSError as exc:
                if exc.errno not in _OUT_OF_RESOURCES:
                    raise  # to the loop's exception handler, which fails the test
                self._loop.call_exception_handler(
                    {"message": "socket.accept() out of system resource", "exception": exc}
                )
                self._loop.remove_reader(sock.fileno())
                self._retry = self._loop.call_later(ACCEPT_RETRY_DELAY, self._resume)
                return
            try:
                self._make_transport(conn, self._factory(), extra={"peername": peer})
            except BaseException:
                conn.close()
                raise  # to the loop's exception handler, which fails the test

    def _resume(self) -> None:
        self._retry = None
        self._loop.add_reader(self._sock.fileno(), self._accept)

    def close(self) -> None:
        """Stop accepting and close the socket (the connections accepted stay open)."""
        if self._sock.fileno() == -1:
            return
        if self._retry is not None:
            self._retry.cancel()
        else:
            self._loop.remove_reader(self._sock.fileno())
        self._sock.close()

    async def wait_closed(self) -> None:
        """Closed already: :meth:`close` closes the socket at once."""


async def listen(
    loop: asyncio.AbstractEventLoop,
    host: str,
    port: int,
    family: int,
    factory: Callable[[], asyncio.BaseProtocol],
    backlog: int,
) -> list[Listener]:
    """A :class:`Listener` on each address of ``host`` (looked up only if it is a name),
    bound as ``create_server`` binds: ``SO_REUSEADDR``, IPv6 sockets IPv6-only."""
    if address_type_for(host) is not AddressType.DOMAIN:
        addresses: list[tuple[Any, ...]] = [(host, port)]
    else:
        infos = await loop.getaddrinfo(
            host, port, family=family, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )
        addresses = list(dict.fromkeys(info[4] for info in infos))
    sockets: list[socket.socket] = []
    try:
        for address in addresses:
            sockets.append(_bound(family, address))
            sockets[-1].listen(backlog)
    except BaseException:
        for sock in sockets:
            sock.close()
        raise
    return [Listener(loop, sock, factory, backlog) for sock in sockets]


def listening(host: str, port: int, backlog: int) -> socket.socket:
    """A socket listening on the address ``host`` (no name), bound as :func:`listen`
    binds: at once, for a server coming back up while clients may connect."""
    sock = _bound(socket.AF_INET6 if ":" in host else socket.AF_INET, (host, port))
    try:
        sock.listen(backlog)
    except BaseException:
        sock.close()
        raise
    return sock


def _bound(family: int, address: tuple[Any, ...]) -> socket.socket:
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.bind(address)
    except OSError as err:
        sock.close()
        raise OSError(
            err.errno,
            f"error while attempting to bind on address {address!r}: "
            f"{(err.strerror or str(err)).lower()}",
        ) from None
    return sock


async def connect(
    loop: asyncio.AbstractEventLoop,
    family: int,
    ip: str,
    port: int,
    factory: Callable[[], P],
) -> P:
    """Connect to ``(ip, port)`` and return the protocol ``factory`` made for the
    connection, after its ``connection_made``. Raises the connect's error as
    ``create_connection`` would (``Connect call failed (address)``). Cancelled, it
    closes the socket, or the transport if one was made."""
    address = (ip, port) if family == socket.AF_INET else (ip, port, 0, 0)
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setblocking(False)
        sock.connect(address)
    except (BlockingIOError, InterruptedError):
        pass  # connecting: the socket turns writable when it is done
    except BaseException:
        sock.close()
        raise
    fd = sock.fileno()
    connecting: asyncio.Future[tuple[asyncio.Transport, P]] = loop.create_future()
    # (a socket connected at once is writable now)
    loop.add_writer(fd, _connected, loop, sock, address, factory, connecting)
    try:
        return (await connecting)[1]
    except asyncio.CancelledError:
        if connecting.cancelled():  # while connecting
            loop.remove_writer(fd)
            sock.close()
        elif connecting.exception() is None:  # connected, then cancelled before this ran
            connecting.result()[0].close()
        raise
    finally:
        # An error's traceback holds this frame: without this, the frame would hold the
        # future and the future the error, a reference cycle.
        del connecting


def _connected(
    loop: asyncio.AbstractEventLoop,
    sock: socket.socket,
    address: tuple[Any, ...],
    factory: Callable[[], P],
    connecting: asyncio.Future[tuple[asyncio.Transport, P]],
) -> None:
    """The socket of :func:`connect` is writable: connected, or failed. The transport is
    made here, so the protocol's ``connection_made`` is called before the coroutine
    awaiting ``connecting`` resumes."""
    loop.remove_writer(sock.fileno())
    if connecting.done():  # cancelled earlier in this loop turn: connect() closes
        return
    error = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
    if error:
        sock.close()
        connecting.set_exception(OSError(error, f"Connect call failed {address}"))
        return
    try:
        protocol = factory()
        transport = _transport_factory(loop)(sock, protocol)
    except Exception as exc:
        sock.close()
        connecting.set_exception(exc)
        return
    connecting.set_result((transport, protocol))
