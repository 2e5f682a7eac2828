"""How each wire protocol phrases the answer to a request.

Strategy: CONNECT and BIND run the same steps whatever protocol asked for them — request
faults, rules, dial, reply faults, tunnel — and differ only in the words of the answer:
SOCKS5 answers with a REP code and a bound address of any type, SOCKS 4 with CD 0x5A or
a refusal and an IPv4 address. A :class:`Replies` value is that difference, so the
shared steps (``_requests.py``) never ask which protocol they serve — including which
faults it can express (SOCKS 4 has no ATYP, so no ``BoundAddress``). Which answer goes
out at the reply decision point, and which faults made it, is :func:`reply_answer`, for
every command and for ``pytest_socks5.testing`` alike.

SOCKS 4 codes: a granted request is CD 0x5A; a SOCKS5 REP the server means (a dial
error, a rule's refusal, a ``ReplyWith``) becomes 0x5B, the one generic refusal. A SOCKS 4
code 0x5B, 0x5C or 0x5D given to ``ReplyWith`` is sent as it is.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from ._answer_plan import forced_reply
from ._fault_types import BoundAddress, Fault, ReplyWith
from ._http import HttpAnswer
from ._protocol import (
    AddressType,
    Reply,
    ServerReply,
    Socks4Reply,
    Socks4Response,
    address_type_for,
    describe,
)

__all__ = ["Replies", "Socks4Replies", "Socks5Replies", "reply_answer"]

_SOCKS4_REFUSALS = frozenset(
    {Socks4Reply.REJECTED, Socks4Reply.IDENTD_UNREACHABLE, Socks4Reply.IDENTD_MISMATCH}
)


class Replies(Protocol):
    """The answers of one protocol to a request."""

    @property
    def granted(self) -> int:
        """The code a granted request is recorded with."""

    def code(self, reply: int) -> int:
        """The code recorded (and sent) for a SOCKS5 REP ``reply``."""

    def name(self, reply: int, faults: list[Fault] | None = None) -> str:
        """``REP 0x05 (CONNECTION_REFUSED)``: the code sent for ``reply`` (``faults``
        may hold the ``ReplyWith`` that asked for it), for an error."""

    def shaping(self, faults: list[Fault]) -> list[Fault]:
        """The faults among ``faults`` that :meth:`success` and :meth:`failure` put in
        the reply (they act if the reply is sent)."""

    def success(
        self, bound: tuple[str, int], faults: list[Fault] | None = None
    ) -> ServerReply | Socks4Response | HttpAnswer:
        """A granted request, naming ``bound``."""

    def failure(
        self, reply: int, faults: list[Fault] | None = None
    ) -> ServerReply | Socks4Response | HttpAnswer:
        """A refused request, for the SOCKS5 REP ``reply`` (``faults`` may hold the
        ``ReplyWith`` that asked for it)."""


class Socks5Replies:
    """RFC 1928 replies: REP as given, BND.ADDR of the bound address's type (or what a
    ``BoundAddress`` fault says)."""

    @property
    def granted(self) -> int:
        return Reply.SUCCEEDED

    def code(self, reply: int) -> int:
        return reply

    def name(self, reply: int, faults: list[Fault] | None = None) -> str:
        return f"REP {describe(reply, Reply)}"

    def shaping(self, faults: list[Fault]) -> list[Fault]:
        return next(([f] for f in faults if isinstance(f, BoundAddress)), [])

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
    0x5B for every SOCKS5 refusal, or a SOCKS 4 refusal code (0x5B to 0x5D) as it is."""

    @property
    def granted(self) -> int:
        return Socks4Reply.GRANTED

    def code(self, reply: int) -> int:
        if reply == Reply.SUCCEEDED:
            return Socks4Reply.GRANTED
        if reply in _SOCKS4_REFUSALS:
            return reply
        return Socks4Reply.REJECTED

    def name(self, reply: int, faults: list[Fault] | None = None) -> str:
        code = self.code(reply)
        shown = f"CD {describe(code, Socks4Reply)}"
        return shown if code == reply else f"{shown} for REP {describe(reply, Reply)}"

    def shaping(self, faults: list[Fault]) -> list[Fault]:
        return []  # no ATYP, no BND.ADDR: BoundAddress cannot be said in SOCKS 4

    def success(self, bound: tuple[str, int], faults: list[Fault] | None = None) -> Socks4Response:
        ip = bound[0] if address_type_for(bound[0]) is AddressType.IPV4 else "0.0.0.0"
        return Socks4Response(status=Socks4Reply.GRANTED, port=bound[1], ip=ip)

    def failure(self, reply: int, faults: list[Fault] | None = None) -> Socks4Response:
        return Socks4Response(status=self.code(reply))


def reply_answer(
    replies: Replies,
    faults: list[Fault],
    result: tuple[str, int] | int,
    forced: ReplyWith | None = None,
) -> tuple[ServerReply | Socks4Response | HttpAnswer, Sequence[Fault], ReplyWith | None]:
    """The answer to a request at the reply decision point, through the ``faults`` picked
    there: the success naming the bound address ``result``, or the failure REP ``result``;
    a ``ReplyWith`` answers instead — ``forced``, one picked at the request (a
    ``ReplyWith`` at the request is answered here, through the reply's faults), else the
    first among ``faults``. Returns the message, the faults that shape it (they act if it
    goes out: the ``ReplyWith``, then a ``BoundAddress``), and the ``ReplyWith`` that
    answered, if one did."""
    shaped: Sequence[Fault] = ()
    if faults:  # (most requests have none)
        shaped = replies.shaping(faults)
        if forced is None:
            forced = forced_reply(faults)
    if forced is not None:
        return replies.failure(forced.reply, [forced, *faults]), [forced, *shaped], forced
    if isinstance(result, int):
        return replies.failure(result, faults), shaped, None
    return replies.success(result, faults), shaped, None
