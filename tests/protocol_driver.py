"""Drive a sans-I/O ServerConnection the way a server would, answering every message.

Shared by the hypothesis properties (test_protocol_properties.py) and the atheris harness
(atheris_core.py, which runs as a script with this directory on ``sys.path``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from pytest_socks5._protocol import (
    NEED_DATA,
    PAUSED,
    AuthReply,
    AuthRequest,
    Greeting,
    MethodSelection,
    Request,
    ServerConnection,
    ServerReply,
    Socks4Request,
    Socks4Response,
    State,
)

ClientMessage = Greeting | AuthRequest | Request | Socks4Request


@dataclass
class Answers:
    """How the server answers each client message."""

    method: int = 0
    auth_status: int = 0
    reply: int = 0
    socks4_status: int = 0x5A


def pump(
    conn: ServerConnection,
    answers: Answers,
    on_event: Callable[[ClientMessage], None] = lambda event: None,
) -> None:
    """Take every event available now; ``on_event`` sees each before it is answered.

    Both BIND replies are sent at once, so the conversation never waits on the server.
    """
    while conn.state not in (State.CLOSED, State.ESTABLISHED):
        event = conn.next_event()
        if event is NEED_DATA:
            return
        if event is PAUSED:
            raise AssertionError(f"paused in {conn.state} although every event was answered")
        on_event(event)
        if isinstance(event, Greeting):
            conn.send(MethodSelection(method=answers.method))
        elif isinstance(event, AuthRequest):
            conn.send(AuthReply(status=answers.auth_status))
        elif isinstance(event, Request):
            conn.send(ServerReply(reply=answers.reply))
            if conn.state is State.BIND_SECOND_REPLY:
                conn.send(ServerReply(reply=answers.reply))
        else:
            conn.send(Socks4Response(status=answers.socks4_status))
            if conn.state is State.SOCKS4_BIND_SECOND_REPLY:
                conn.send(Socks4Response(status=answers.socks4_status))
