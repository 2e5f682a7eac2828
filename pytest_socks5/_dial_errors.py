"""How a failed dial becomes a REP code: one table, the way a faithful server maps it.

=====================================  ==========================================
What happened while dialling           REP
=====================================  ==========================================
connection refused (ECONNREFUSED)      0x05 CONNECTION_REFUSED
network unreachable (ENETUNREACH,      0x03 NETWORK_UNREACHABLE
ENETDOWN)
host unreachable (EHOSTUNREACH,        0x04 HOST_UNREACHABLE
EHOSTDOWN, EADDRNOTAVAIL), a name
that does not resolve
(``socket.gaierror``)
timed out (``TimeoutError``,           0x06 TTL_EXPIRED
ETIMEDOUT)
not permitted (EACCES, EPERM)          0x02 CONNECTION_NOT_ALLOWED
address family not supported           0x08 ADDRESS_TYPE_NOT_SUPPORTED
(EAFNOSUPPORT)
anything else                          0x01 GENERAL_FAILURE
=====================================  ==========================================
"""

from __future__ import annotations

import errno
import socket

from ._protocol import Reply

__all__ = ["reply_for_dial_error"]

_BY_ERRNO: dict[int, Reply] = {
    errno.ECONNREFUSED: Reply.CONNECTION_REFUSED,
    errno.ENETUNREACH: Reply.NETWORK_UNREACHABLE,
    errno.ENETDOWN: Reply.NETWORK_UNREACHABLE,
    errno.EHOSTUNREACH: Reply.HOST_UNREACHABLE,
    errno.EHOSTDOWN: Reply.HOST_UNREACHABLE,
    errno.ETIMEDOUT: Reply.TTL_EXPIRED,
    errno.EACCES: Reply.CONNECTION_NOT_ALLOWED,
    errno.EPERM: Reply.CONNECTION_NOT_ALLOWED,
    errno.EAFNOSUPPORT: Reply.ADDRESS_TYPE_NOT_SUPPORTED,
    errno.EADDRNOTAVAIL: Reply.HOST_UNREACHABLE,
}


def reply_for_dial_error(exc: BaseException) -> Reply:
    """The REP code for an exception raised while resolving or connecting upstream."""
    if isinstance(exc, socket.gaierror):
        return Reply.HOST_UNREACHABLE
    if isinstance(exc, TimeoutError):
        return Reply.TTL_EXPIRED
    if isinstance(exc, ConnectionRefusedError):
        return Reply.CONNECTION_REFUSED
    if isinstance(exc, OSError) and exc.errno is not None:
        return _BY_ERRNO.get(exc.errno, Reply.GENERAL_FAILURE)
    return Reply.GENERAL_FAILURE
