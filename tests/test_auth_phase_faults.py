"""Faults at ``at="auth"`` act on good credentials on every protocol that authenticates:
SOCKS5 (RFC 1929) and HTTP (``Proxy-Authorization``), on every variant.

SOCKS5 answers good credentials with an auth reply; HTTP has no answer of its own for
them (the CONNECT's answer follows). A ``Delay``, ``Close`` or ``Stall`` at "auth" acts
there on both, before anything else is answered. A fault that changes an answer
(``Truncate``…) has nothing to change on HTTP then, so it does not act and is not listed.
HTTP used to skip every auth fault when the credentials were good.
"""

from __future__ import annotations

import base64
import socket
import time
from collections.abc import Callable

import pytest

from pytest_socks5 import Outcome, SOCKS5Server
from pytest_socks5.faults import Close, Delay, Truncate
from pytest_socks5.rawclient import auth_request, greeting, recv_all, socks5_request

from .helpers import TIMEOUT, echo_target, only_record, recv_exactly

MakeServer = Callable[..., SOCKS5Server]

USERS = {"alice": "s3cret"}
PROTOCOLS = ["socks5", "http"]


def _authenticate(server: SOCKS5Server, protocol: str, target: tuple[str, int]) -> socket.socket:
    """Send good credentials (and, on HTTP, the CONNECT they come with); for SOCKS5 the
    method selection is read and the request is left for later."""
    client = socket.create_connection(server.address, TIMEOUT)
    client.settimeout(TIMEOUT)
    if protocol == "socks5":
        client.sendall(greeting(2))
        assert recv_exactly(client, 2) == b"\x05\x02"
        client.sendall(auth_request(b"alice", b"s3cret"))
    else:
        token = base64.b64encode(b"alice:s3cret").decode()
        authority = f"{target[0]}:{target[1]}"
        client.sendall(
            f"CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n"
            f"Proxy-Authorization: Basic {token}\r\n\r\n".encode()
        )
    return client


def _open_after_auth(client: socket.socket, protocol: str, target: tuple[str, int]) -> None:
    """Read what good credentials get, then the tunnel's success answer."""
    if protocol == "socks5":
        assert recv_exactly(client, 2) == b"\x01\x00"
        client.sendall(socks5_request(*target))
        assert recv_exactly(client, 10)[:2] == b"\x05\x00"
        return
    head = b""
    while not head.endswith(b"\r\n\r\n"):
        head += recv_exactly(client, 1)
    assert head.startswith(b"HTTP/1.1 200")


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_a_close_at_auth_ends_a_connection_with_good_credentials(
    make_server: MakeServer, protocol: str
) -> None:
    fault = Close(at="auth")
    server = make_server(users=USERS, faults=[fault])
    with echo_target() as target, _authenticate(server, protocol, target) as client:
        assert recv_all(client) == b""  # no answer at all: EOF
    record = only_record(server)
    assert record.authenticated is True
    assert record.outcome is Outcome.FAULT
    assert record.faults == (f"{fault.describe()} at auth",)


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_a_delay_at_auth_delays_good_credentials_and_the_tunnel_opens(
    make_server: MakeServer, protocol: str
) -> None:
    fault = Delay(at="auth", seconds=0.3)
    server = make_server(users=USERS, faults=[fault])
    with echo_target() as target, _authenticate(server, protocol, target) as client:
        started = time.monotonic()
        _open_after_auth(client, protocol, target)
        assert time.monotonic() - started >= 0.25
        client.sendall(b"ping")
        assert recv_exactly(client, 4) == b"ping"
    record = only_record(server)
    assert record.outcome is Outcome.CLOSED
    assert record.faults == (f"{fault.describe()} at auth",)


def test_an_answer_fault_at_auth_has_nothing_to_change_for_good_http_credentials(
    make_server: MakeServer,
) -> None:
    server = make_server(users=USERS, faults=[Truncate(at="auth", length=1)])
    with echo_target() as target, _authenticate(server, "http", target) as client:
        _open_after_auth(client, "http", target)
    assert only_record(server).faults == ()
