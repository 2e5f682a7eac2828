"""Your own faults: the documented base to subclass, and a fault made of a function.

Strategy: a custom fault is a handshake fault like the catalog's (the same selection
keywords, the same ``at``), with one method, :meth:`CustomFault.rewrite`, that turns the
server's answer at that phase into the bytes to send. The pure answer plan
(``_answer_plan.py``) calls it, so a custom fault acts on every front end and records
like any other, and ``pytest_socks5.testing`` runs it offline, with no socket. Pure.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ._fault_types import _AnswerFault

__all__ = ["CustomFault", "FunctionFault"]


@dataclass(frozen=True, kw_only=True, repr=False, eq=False)
class CustomFault(_AnswerFault):
    """Base of your own faults: subclass it (a frozen, keyword-only dataclass) and override
    :meth:`rewrite`. It takes every selection keyword of :class:`Fault` and ``at``
    (``"greeting"``, ``"auth"`` or ``"reply"``: where there is an answer to change).

    :param then: after sending, ``"close"`` the connection or ``"stall"`` (say nothing
        more); ``None`` (default) goes on as after the real answer.

    This is a stable extension point: ``rewrite`` and the fields here keep their meaning.
    """

    then: str | None = None

    def rewrite(self, answer: bytes) -> bytes:
        """The bytes to send instead of ``answer`` (the server's answer at ``at``, or what
        the faults before this one made of it). The default sends it unchanged."""
        return answer


@dataclass(frozen=True, kw_only=True, repr=False, eq=False)
class FunctionFault(CustomFault):
    """A custom fault from a function: ``FunctionFault(function=fn, at="reply")`` sends
    ``fn(answer)`` instead of the answer."""

    function: Callable[[bytes], bytes]

    def rewrite(self, answer: bytes) -> bytes:
        return self.function(answer)
