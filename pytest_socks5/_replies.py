"""How each wire protocol phrases the answer to a request.

Strategy: CONNECT and BIND run the same steps whatever protocol asked for them — request
faults, rules, dial, reply faults, tunnel — and differ only in the words of the answer:
SOCKS5 answers with a REP code and a bound address of any type, SOCKS 4 with CD 0x5A or
a refusal and an IPv4 address. A :class:`Replies` value is that difference, so the
shared steps (``_requests.py``) never ask which protocol they serve.
"""

from __future__ import annotations

from typing import Protocol

from ._fault_types import BoundAddress, Fault
from ._protocol import (
    AddressType,
    Reply,
    ServerReply,
    Socks4Reply,
    Socks4Response,
    address_type_for,
)

__all__ = ["Replies", "Socks4Replies", "Socks5Replies"]


class Replies(Protocol):
    """The answers of one protocol to a request."""

    @property
    def granted(self) -> int:
        """The code a granted request is recorded with."""

    def code(self, reply: int) -> int:
        """The code recorded (and sent) for a SOCKS5 REP ``reply``."""

    def success(
        self, bound: tuple[str, int], faults: list[Fault] | None = None
    ) -> ServerReply | Socks4Response:
        """A granted request, naming ``bound``."""

    def failure(
        self, reply: int, faults: list[Fault] | None = None
    ) -> ServerReply | Socks4Response:
        """A refused request, for the SOCKS5 REP ``reply``."""


class Socks5Replies:
    """RFC 1928 replies: REP as given, BND.ADDR of the bound address's type (or what a
    ``BoundAddress`` fault says)."""

    @property
    def granted(self) -> int:
        return Reply.SUCCEEDED

    def code(self, reply: int) -> int:
        return reply

    def success(self, bound: tuple[str, int], faults: list[Fault] | None = None) -> ServerReply:
        return self._reply(Reply.SUCCEEDED, bound, faults or [])

    def failure(self, reply: int, faults: list[Fault] | None = None) -> ServerReply:
        return self._reply(reply, None, faults or [])

    @staticmethod
    def _reply(reply: int, bound: tuple[str, int] | None, faults: list[Fault]) -> ServerReply:
        for fault in faults:
            if isinstance(fault, BoundAddress):
                raw = fault.raw
                if raw is None and fault.bound_type not in tuple(AddressType):
                    raw = b""
                return ServerReply(
                    reply=reply,
                    address_type=fault.bound_type,
                    host=fault.bound_host,
                    port=fault.bound_port,
                    raw_address=raw,
                )
        if bound is None:
            return ServerReply(reply=reply)
        return ServerReply(
            reply=reply, address_type=address_type_for(bound[0]), host=bound[0], port=bound[1]
        )


class Socks4Replies:
    """SOCKS 4 replies: CD 0x5A with an IPv4 DSTIP (``0.0.0.0`` for any other address),
    or 0x5B for every refusal."""

    @property
    def granted(self) -> int:
        return Socks4Reply.GRANTED

    def code(self, reply: int) -> int:
        return Socks4Reply.GRANTED if reply == Reply.SUCCEEDED else Socks4Reply.REJECTED

    def success(self, bound: tuple[str, int], faults: list[Fault] | None = None) -> Socks4Response:
        ip = bound[0] if address_type_for(bound[0]) is AddressType.IPV4 else "0.0.0.0"
        return Socks4Response(status=Socks4Reply.GRANTED, port=bound[1], ip=ip)

    def failure(self, reply: int, faults: list[Fault] | None = None) -> Socks4Response:
        return Socks4Response(status=self.code(reply))
