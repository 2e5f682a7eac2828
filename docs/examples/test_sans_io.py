"""Explanation: the sans-I/O core, driven by hand (an internal module, shown for insight)."""

from pytest_socks5._protocol import (
    NEED_DATA,
    AuthMethod,
    Greeting,
    MethodSelection,
    ServerConnection,
    State,
)


def test_bytes_in_events_out():
    conn = ServerConnection()

    conn.receive_data(b"\x05\x02")  # VER NMETHODS; the METHODS bytes have not arrived
    assert conn.next_event() is NEED_DATA

    conn.receive_data(b"\x00\x02")
    assert conn.next_event() == Greeting(methods=(0x00, 0x02))
    assert conn.state is State.SELECT_METHOD

    reply = conn.send(MethodSelection(method=AuthMethod.NO_AUTHENTICATION_REQUIRED))
    assert reply == b"\x05\x00"
    assert conn.state is State.REQUEST
