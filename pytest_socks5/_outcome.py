"""How a connection ended: the :class:`Outcome` of a record. Pure; its own module so that
the record criteria (``_criteria.py``), which know its members, sit below the records.
"""

from __future__ import annotations

import enum

from ._public import public

__all__ = ["Outcome"]


@public
class Outcome(enum.Enum):
    """How a connection ended (``OPEN`` while it has not)."""

    OPEN = "open"
    #: The tunnel ran and both sides closed (FIN).
    CLOSED = "closed"
    #: The tunnel ran and one side reset it (RST) or failed.
    RESET = "reset"
    #: The request was answered with a failure REP (or SOCKS4 0x5B to 0x5D).
    REJECTED = "rejected"
    #: The client offered no method the server accepts (``05 FF``).
    NO_ACCEPTABLE_METHOD = "no-acceptable-method"
    #: RFC 1929 credentials were refused.
    AUTH_FAILED = "auth-failed"
    #: The client broke the protocol — including a close in the middle of a message;
    #: ``error`` says how.
    PROTOCOL_ERROR = "protocol-error"
    #: The client went away before the handshake finished: a reset at any point, or a
    #: clean close (FIN) with no byte of a next message — a port probe or readiness check
    #: that connects and closes, a client that gives up after an answer.
    CLIENT_CLOSED = "client-closed"
    #: The handshake took longer than ``handshake_timeout``.
    TIMEOUT = "timeout"
    #: The server stopped while the connection was open — or a server reset (the
    #: session fixture's, between tests) ended it; then ``error`` says so.
    SERVER_STOPPED = "server-stopped"
    #: A bug in pytest-socks5; the traceback is in ``error`` and fails the test.
    INTERNAL_ERROR = "internal-error"
    #: Your own code the proxy called (a hook, a custom fault's ``rewrite``, a
    #: ``validator``, a ``when=`` predicate) raised; ``error`` says which, and the
    #: test fails with that exception.
    USER_CODE_ERROR = "user-code-error"
    #: An injected fault ended the connection (``faults`` says which).
    FAULT = "fault"
    # -- reliability limits --
    #: The tunnel moved no byte either way for ``idle_timeout`` seconds.
    IDLE_TIMEOUT = "idle-timeout"
    #: Refused at accept: ``max_connections`` connections were already open.
    CONNECTION_LIMIT = "connection-limit"
