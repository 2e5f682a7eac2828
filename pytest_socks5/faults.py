"""Faults: every way a real proxy fails, as frozen values a test adds in one line.

A fault says *what* goes wrong and *which* connections it hits (:class:`Fault`'s
selection arguments). Handshake faults act on the server's answer at a :class:`Phase`;
transfer faults act on the open tunnel in a :class:`Direction`. Add them with
``socks5_server.add_fault(...)``, ``with socks5_server.fault(...)``,
``@pytest.mark.socks5(faults=[...])`` or ``SOCKS5Server(faults=[...])``. Your own faults
subclass :class:`CustomFault` (or wrap a function in :class:`FunctionFault`);
:mod:`pytest_socks5.testing` runs them offline.

Strategy: this module is only the public face; the values live in ``_fault_types.py`` and
the server's selection (``FaultSet``) in ``_fault_set.py``; :func:`every_split` is in
``_splits.py``.
"""

from ._custom_faults import CustomFault, FunctionFault
from ._fault_types import (
    Bandwidth,
    Blackhole,
    BoundAddress,
    Close,
    CloseAfter,
    Delay,
    Direction,
    FailAuth,
    Fault,
    ForceMethod,
    Fragment,
    Latency,
    Phase,
    RawAnswer,
    ReplyWith,
    ResetAfter,
    Slicer,
    SlowClose,
    Stall,
    Truncate,
    WrongVersion,
)
from ._splits import every_split

__all__ = [
    "Bandwidth",
    "Blackhole",
    "BoundAddress",
    "Close",
    "CloseAfter",
    "CustomFault",
    "Delay",
    "Direction",
    "FailAuth",
    "Fault",
    "ForceMethod",
    "Fragment",
    "FunctionFault",
    "Latency",
    "Phase",
    "RawAnswer",
    "ReplyWith",
    "ResetAfter",
    "Slicer",
    "SlowClose",
    "Stall",
    "Truncate",
    "WrongVersion",
    "every_split",
]
