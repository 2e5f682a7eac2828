"""Every segmentation of one server answer, as ``Fragment`` faults.

Strategy: a client's parser is right only if it is right for every way TCP may cut a
message. An answer of *n* bytes has *n - 1* places to cut it in two, plus the worst case,
one byte per segment; :func:`every_split` lists a :class:`~pytest_socks5.faults.Fragment`
for each, so ``pytest.mark.parametrize`` proves a client against all of them in one test.
Pure: the faults are values, the server applies them.
"""

from __future__ import annotations

from ._checks import choice, integer, number
from ._fault_types import Fragment

__all__ = ["ANSWER_LENGTHS", "every_split"]

#: How long each answer is when the server answers a plain CONNECT over IPv4: the method
#: choice (``VER METHOD``), the RFC 1929 status (``VER STATUS``) and the reply with an
#: IPv4 ``BND.ADDR`` (10 bytes; 22 with IPv6, 8 for a SOCKS 4 reply).
ANSWER_LENGTHS = {"greeting": 2, "auth": 2, "reply": 10}

_AT = choice(*ANSWER_LENGTHS)
_LENGTH = integer(low=2)
_DELAY = number(low=0)


def every_split(
    at: str = "reply", *, length: int | None = None, delay: float = 0.01
) -> list[Fragment]:
    """The ``Fragment`` faults that send the answer at ``at`` in two pieces, cut after
    byte 1, 2, … ``length - 1``, then the 1-byte drip (``size=1``), ``delay`` seconds
    between pieces. ``length`` defaults to the answer's length for a plain IPv4 CONNECT
    (greeting 2, auth 2, reply 10; give 22 for a reply with an IPv6 ``BND.ADDR``, 8 for
    a SOCKS 4 reply)::

        @pytest.mark.parametrize("split", every_split(at="reply"), ids=Fault.describe)
        def test_reply_in_pieces(socks5_server, split): ...

    ``ids=Fault.describe`` names each case: ``Fragment(delay=0.01, split=3)``.
    """
    _AT("every_split(): at", at)
    size = ANSWER_LENGTHS[at] if length is None else _LENGTH("every_split(): length", length)
    _DELAY("every_split(): delay", delay)
    cuts = [Fragment(at=at, split=n, delay=delay) for n in range(1, size)]
    return [*cuts, Fragment(at=at, size=1, delay=delay)]
