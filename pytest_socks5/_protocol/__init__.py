"""The sans-I/O SOCKS core: bytes in, messages out. No sockets, no asyncio, no threads.

This package is importable on its own and is what the server in ``pytest_socks5._server``
drives; tests and fault policies use its message classes to build exact bytes.
"""

from typing import TYPE_CHECKING

from ._exports import lazy_exports

if TYPE_CHECKING:
    from ._connection import NEED_DATA, PAUSED, TRANSITIONS, ServerConnection, State
    from ._enums import (
        AddressType,
        AuthMethod,
        AuthStatus,
        Command,
        Reply,
        Socks4Command,
        Socks4Reply,
        Version,
        coerce,
        describe,
        name_of,
    )
    from ._errors import LocalProtocolError, ProtocolError, RemoteProtocolError
    from ._messages import (
        AuthReply,
        AuthRequest,
        Greeting,
        MethodSelection,
        Request,
        ServerReply,
        Socks4Request,
        Socks4Response,
        UdpDatagram,
        address_type_for,
        encode_address,
    )
    from ._parse import (
        MAX_SOCKS4_FIELD,
        failure_reply,
        parse_auth_request,
        parse_greeting,
        parse_request,
        parse_socks4_request,
        parse_udp_datagram,
        validate_domain,
    )

#: Each module's names, imported on first use: the option table needs only the enums,
#: and loading the pytest plugin should not cost the messages and the parser.
__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "_connection": ("NEED_DATA", "PAUSED", "TRANSITIONS", "ServerConnection", "State"),
        "_enums": (
            "AddressType",
            "AuthMethod",
            "AuthStatus",
            "Command",
            "Reply",
            "Socks4Command",
            "Socks4Reply",
            "Version",
            "coerce",
            "describe",
            "name_of",
        ),
        "_errors": ("LocalProtocolError", "ProtocolError", "RemoteProtocolError"),
        "_messages": (
            "AuthReply",
            "AuthRequest",
            "Greeting",
            "MethodSelection",
            "Request",
            "ServerReply",
            "Socks4Request",
            "Socks4Response",
            "UdpDatagram",
            "address_type_for",
            "encode_address",
        ),
        "_parse": (
            "MAX_SOCKS4_FIELD",
            "failure_reply",
            "parse_auth_request",
            "parse_greeting",
            "parse_request",
            "parse_socks4_request",
            "parse_udp_datagram",
            "validate_domain",
        ),
    },
    globals(),
)

__all__ = [
    "MAX_SOCKS4_FIELD",
    "NEED_DATA",
    "PAUSED",
    "TRANSITIONS",
    "AddressType",
    "AuthMethod",
    "AuthReply",
    "AuthRequest",
    "AuthStatus",
    "Command",
    "Greeting",
    "LocalProtocolError",
    "MethodSelection",
    "ProtocolError",
    "RemoteProtocolError",
    "Reply",
    "Request",
    "ServerConnection",
    "ServerReply",
    "Socks4Command",
    "Socks4Reply",
    "Socks4Request",
    "Socks4Response",
    "State",
    "UdpDatagram",
    "Version",
    "address_type_for",
    "coerce",
    "describe",
    "encode_address",
    "failure_reply",
    "name_of",
    "parse_auth_request",
    "parse_greeting",
    "parse_request",
    "parse_socks4_request",
    "parse_udp_datagram",
    "validate_domain",
]
