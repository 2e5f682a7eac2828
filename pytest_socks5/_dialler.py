"""The proxy's only ways out: look a name up, connect, send a datagram.

Strategy: every byte the proxy sends to a destination starts here, so one object can be
replaced in a test to prove that a refused destination is never looked up or dialled,
and nothing else in the server reaches the network. The dialler knows nothing of
SOCKS: it is asked for an address that ``host_map`` and the rules have already passed,
and it answers with the tunnel's upstream side or the last error.
"""

from __future__ import annotations

import asyncio
import functools
import socket

from ._protocol import AddressType, address_type_for
from ._recorder import LiveRecord
from ._relay import RelaySide
from ._selector_paths import connect, serves_selectors

__all__ = ["Dialler", "literal_address"]


def literal_address(host: str) -> tuple[int, str] | None:
    """``(family, host)`` when ``host`` is an IP address, which needs no lookup; ``None``
    for a name."""
    if address_type_for(host) is AddressType.DOMAIN:
        return None
    return (int(socket.AF_INET6 if ":" in host else socket.AF_INET), host)


class Dialler:
    """Looks up, connects and sends datagrams for one server."""

    async def resolve(self, host: str, port: int, kind: int) -> list[tuple[int, str]]:
        """``(family, address)`` pairs for ``host`` (looked up only if it is a name)."""
        if (address := literal_address(host)) is not None:
            return [address]
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=kind)
        except UnicodeError as exc:  # IDNA refuses it ("a..b", a 64-byte label, U+202E)
            raise socket.gaierror(
                socket.EAI_NONAME, f"{host!r} is not a valid host name: {exc}"
            ) from None
        return [(int(info[0]), str(info[4][0])) for info in infos]

    def send_datagram(self, sock: socket.socket, data: bytes, address: tuple[str, int]) -> None:
        """Send one UDP datagram to a destination (the UDP relay's only way out).

        ``sock`` is the relay's non-blocking upstream socket. It is written directly
        rather than through its asyncio transport, which (before Python 3.13) silently
        skips empty datagrams; an :exc:`OSError` means the datagram is lost.
        """
        sock.sendto(data, address)

    async def dial(self, host: str, port: int, record: LiveRecord) -> RelaySide:
        """Resolve (domain names only) and connect; each address tried is noted in
        ``record``. Raises the last error if every address fails."""
        loop = asyncio.get_running_loop()
        # an address needs no lookup (and no coroutine for one)
        address = literal_address(host)
        targets = [address] if address else await self.resolve(host, port, socket.SOCK_STREAM)
        error: BaseException | None = None
        make_side = functools.partial(RelaySide, record, "upstream")
        for family, ip in targets:
            record.dialling((ip, port))
            try:
                if serves_selectors(loop):
                    side = await connect(loop, family, ip, port, make_side)
                else:
                    _, side = await loop.create_connection(
                        make_side, host=ip, port=port, family=family
                    )
            except OSError as exc:
                error = exc
                continue
            return side
        assert error is not None
        try:
            raise error
        finally:
            # The traceback holds this frame: without this, the frame would hold the
            # error in a reference cycle, and with it the connection that dialled.
            del error
