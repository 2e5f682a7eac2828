"""The one place a connection asks what to do at each decision point.

Strategy: a front end (SOCKS5, SOCKS 4) turns bytes into decision points — the greeting,
the credentials, the request before the dial, the reply after it, the open tunnel — and
asks :class:`Policy` for the answer. The policy holds no sockets: it combines the
server's configuration (auth, rules, host map) with the injected faults; whoever carries
a fault out notes it in the record (:meth:`Policy.note`), so a record lists only what
acted. So every front end gets the same answers to the same questions, and the answers
can be checked without any I/O. A fault a gate or hook gives at a decision point acts
there whatever its own phase, if it can (:func:`acting_phases`; a transfer fault is kept
for the tunnel): :func:`check_acts_at` refuses the others where they are given.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ._answer_plan import ACTS_WITHOUT_ANSWER, failed_auth, forced_method
from ._chaos import Chaos
from ._config import EngineConfig
from ._fault_set import FaultSet
from ._fault_types import (
    BoundAddress,
    FailAuth,
    Fault,
    ForceMethod,
    Phase,
    ReplyWith,
    TransferFault,
    _AnswerFault,
)
from ._hosts import Target, map_destination
from ._protocol import AuthMethod, AuthStatus, Command
from ._recorder import LiveRecord
from ._rules import check_destination, denial_message

__all__ = ["Denial", "Policy", "acting_phases", "check_acts_at", "no_tunnel_for"]


@dataclass(frozen=True, slots=True)
class Denial:
    """A destination the rules refuse: which rule (or default) and the record's error."""

    reason: str
    error: str


class Policy:
    """Configuration and faults, asked one decision point at a time."""

    __slots__ = ("chaos", "config", "faults", "given_transfer")

    def __init__(self, config: EngineConfig, faults: FaultSet, chaos: Chaos | None = None) -> None:
        self.config = config
        self.faults = faults
        #: Chaos mode's source of extra faults (``_chaos.py``), or ``None``.
        self.chaos = chaos
        #: Transfer faults a gate or hook gave this connection: for its tunnel.
        self.given_transfer: tuple[TransferFault, ...] = ()

    def faults_at(self, record: LiveRecord, phase: Phase | None) -> list[Fault]:
        """The faults that hit this connection at ``phase`` (``None``: the open tunnel).
        Not noted: a picked fault may never act (its answer replaced, or not one the
        protocol can express)."""
        hits = self.faults.pick(phase, record.freeze()) if self.faults else []
        if self.chaos is not None:
            hits += self.chaos.pick(phase, record)
        return hits

    @staticmethod
    def note(record: LiveRecord, fault: Fault, phase: Phase | None) -> None:
        """Note in ``record`` that ``fault`` acted at ``phase``: ``Stall() at greeting``."""
        record.fault_acted(fault.describe() + (f" at {phase.value}" if phase is not None else ""))

    # -- greeting and authentication ---------------------------------------------------

    def method_for(
        self, offered: tuple[int, ...], faults: list[Fault]
    ) -> tuple[int, Sequence[Fault]]:
        """The method to answer a greeting with (a ``ForceMethod`` fault wins), and the
        faults that chose it (they act if the method selection goes out)."""
        if faults:  # (most connections have none)
            forced = forced_method(faults)
            if forced:
                return forced[0].method, forced
        return self.config.auth.select_method(offered), ()

    def refusal_of(self, offered: tuple[int, ...], method: int) -> str | None:
        """Why ``method`` ends the conversation after the greeting (``None``: it does not)."""
        if method == AuthMethod.NO_ACCEPTABLE_METHODS:
            shown = ", ".join(f"0x{m:02x}" for m in offered) or "none"
            return (
                f"the client offered {shown}; the server requires 0x{self.config.auth.method:02x}"
            )
        if method not in (AuthMethod.NO_AUTHENTICATION_REQUIRED, AuthMethod.USERNAME_PASSWORD):
            return f"method 0x{method:02x} was forced; the server cannot speak it"
        return None

    def credentials(
        self, username: bytes, password: bytes, faults: list[Fault]
    ) -> tuple[int, str | None, Sequence[Fault]]:
        """The RFC 1929 status for these credentials, the error when it is a refusal, and
        the faults that chose the status (a ``FailAuth``: they act if the answer goes out)."""
        auth = self.config.auth
        ok = auth.check(username, password) if auth.requires_password else True
        forced = failed_auth(faults)
        if forced:
            return forced[0].status, "FailAuth fault", forced
        if not ok:
            return AuthStatus.FAILURE, "wrong username or password", ()
        return AuthStatus.SUCCESS, None, ()

    def socks4_user(self, user_id: bytes) -> tuple[bool | None, str | None]:
        """SOCKS 4 USERID: ``(authenticated, error)``; ``authenticated`` is ``None`` when
        the server does not check user ids."""
        user_ids = self.config.socks4_user_ids
        if self.config.auth.requires_password and user_ids is None:
            return False, (
                "SOCKS 4 carries no password, and this server requires one "
                "(socks4_user_ids lets SOCKS 4 clients in by USERID)"
            )
        if user_ids is None:
            return None, None
        if user_id in user_ids:
            return True, None
        return False, f"SOCKS 4 USERID {user_id!r} is not in socks4_user_ids"

    # -- the request ---------------------------------------------------------------------

    def denial(
        self, record: LiveRecord, command: int, host: str | None, port: int | None
    ) -> Denial | None:
        """Why the rules refuse this destination (before any lookup or dial), or ``None``."""
        config = self.config
        decision = check_destination(
            command=command,
            host=host,
            port=port,
            user=record.username,
            rules=config.rules + config.allow,
            host_map=config.host_map,
            hermetic=config.hermetic,
        )
        if decision.allowed:
            return None
        error = denial_message(decision, command=command, host=host, port=port)
        return Denial(decision.reason, error)

    def destination(self, host: str, port: int) -> Target:
        """Where ``host:port`` really is: ``host_map`` applied (raises ``Unresolvable``)."""
        return map_destination(self.config.host_map, host, port)

    def keep_transfer(self, given: list[Fault]) -> list[Fault]:
        """The faults a gate or hook ``given`` at a decision point that act there; the
        transfer faults among them are kept for the tunnel the connection may open."""
        transfer = [f for f in given if isinstance(f, TransferFault)]
        if not transfer:
            return given
        self.given_transfer += tuple(transfer)
        return [f for f in given if not isinstance(f, TransferFault)]

    def transfer_faults(self, record: LiveRecord) -> list[TransferFault]:
        """The transfer faults for a tunnel about to open (the server's, then those a
        gate or hook gave), noted: they act on it."""
        hits = [f for f in self.faults_at(record, None) if isinstance(f, TransferFault)]
        hits += self.given_transfer
        for fault in hits:
            self.note(record, fault, None)
        return hits

    def more_transfer_faults(
        self, record: LiveRecord, acting: list[TransferFault]
    ) -> list[TransferFault]:
        """The server's transfer faults that hit ``record`` as it moves on to a later
        origin (the record naming it), those not ``acting`` already; not noted. Chaos
        mode's fault is drawn once a connection, and acted as it opened."""
        hits = self.faults.pick(None, record.freeze(), skip=acting) if self.faults else []
        return [f for f in hits if isinstance(f, TransferFault)]

    @property
    def seed(self) -> int:
        return self.faults.seed


#: The faults a gate or a hook may give at any decision point: those that act where there
#: is no answer to change (``Delay``, ``Close``, ``Stall``), and the transfer faults (kept
#: for the tunnel the connection opens).
_ANYWHERE = (*ACTS_WITHOUT_ANSWER, TransferFault)


def acting_phases(fault: Fault) -> tuple[Phase, ...]:
    """Where ``fault``, given by a gate or a hook, can act: the faults that act without
    an answer (``ACTS_WITHOUT_ANSWER``: ``Delay``, ``Close``, ``Stall``) anywhere; a
    transfer fault anywhere too (it acts on the tunnel the connection opens); the others
    where there is an answer of theirs to make or change (an answer fault: not at the
    request, whose answer is the reply)."""
    if isinstance(fault, _ANYWHERE):
        return tuple(Phase)
    if isinstance(fault, ForceMethod | FailAuth | BoundAddress):
        return (fault.phase,)
    if isinstance(fault, ReplyWith):
        return (Phase.REQUEST, Phase.REPLY)
    if isinstance(fault, _AnswerFault):  # a custom fault too
        return (Phase.GREETING, Phase.AUTH, Phase.REPLY)
    return ()


def check_acts_at(fault: Fault, phase: Phase, given: str, command: int | None = None) -> Fault:
    """``fault`` if it can act at ``phase``, for a connection whose request is
    ``command`` (if it is known yet); else a ``ValueError`` saying where it can (``given``
    names who gave it), rather than a fault that would be ignored."""
    if command == Command.UDP_ASSOCIATE and isinstance(fault, TransferFault):
        raise ValueError(no_tunnel_for(fault, given))
    names = [repr(p.value) for p in acting_phases(fault)]
    if repr(phase.value) in names:
        return fault
    where = " or ".join(filter(None, [", ".join(names[:-1]), *names[-1:]]))
    raise ValueError(
        f"{given} {fault.describe()}, which cannot act at {phase.value!r}; "
        + (f"{type(fault).__name__} acts at {where}" if names else "it acts nowhere")
    )


def no_tunnel_for(fault: Fault, given: str) -> str:
    """Why a transfer fault cannot act on a UDP association: it opens no tunnel."""
    return (
        f"{given} {fault.describe()}, which cannot act on a UDP association: a transfer "
        "fault acts on a tunnel, and UDP ASSOCIATE opens none (udp_faults=UdpFaults(...) "
        "acts on its datagrams)"
    )
