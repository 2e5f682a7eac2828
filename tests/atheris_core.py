"""Coverage-guided fuzzing of the sans-I/O core and of record display, with atheris.

libFuzzer mutates inputs towards new branches of the instrumented ``pytest_socks5``
code. One input is: a flags byte (SOCKS 4 on or off and how the server answers each
message), a byte choosing the chunk size, then the client's byte stream. The stream is
fed in chunks, then EOF, answering every event as a server would, and recorded the way
the server records it. Anything but a :class:`RemoteProtocolError` carrying one of the
RFC's answers is a crash, and so is a record whose one-line description is not one
printable line or changes with the password.

Run by ``tests/test_fuzz_atheris.py`` (bounded, in CI), or by hand for longer::

    python tests/atheris_core.py -max_total_time=600 /tmp/socks5-corpus
"""

from __future__ import annotations

import dataclasses
import os
import sys

import atheris

with atheris.instrument_imports(include=["pytest_socks5"]):
    from pytest_socks5._protocol import (
        AuthRequest,
        Greeting,
        RemoteProtocolError,
        ServerConnection,
        State,
    )
    from pytest_socks5._recorder import LiveRecord
    from pytest_socks5._records import Outcome
    from pytest_socks5._transcript import describe_record

# After the instrumented imports: this helper reuses the (instrumented) modules above.
from protocol_driver import Answers, ClientMessage, pump

#: Every answer the RFCs give a misbehaving client (b"": close without a word).
RFC_ANSWERS = {
    b"",
    b"\x01\x01",
    bytes.fromhex("05 01 00 01 00 00 00 00 00 00"),
    bytes.fromhex("05 08 00 01 00 00 00 00 00 00"),
    bytes.fromhex("00 5b 00 00 00 00 00 00"),
}
METHODS = (0x00, 0x02, 0x01, 0xFF)
REPLIES = (0x00, 0x01, 0x05, 0x07)

#: Set by the wrapper's self-test: a greeting offering only this method "crashes",
#: proving that a failure inside the harness fails the test.
SELF_TEST = os.environ.get("SOCKS5_ATHERIS_SELF_TEST") == "1"


class Harness:
    def __init__(self, flags: int) -> None:
        self.conn = ServerConnection(socks4=bool(flags & 1))
        self.answers = Answers(
            method=METHODS[(flags >> 1) & 3],
            auth_status=1 if flags & 8 else 0,
            reply=REPLIES[(flags >> 4) & 3],
            socks4_status=0x5B if flags & 64 else 0x5A,
        )
        self.record = LiveRecord(id=1, client_address=("127.0.0.1", 1))

    def note(self, event: ClientMessage) -> None:
        """Record what the server would, as it would (LiveRecord.note_request)."""
        record = self.record
        if isinstance(event, Greeting):
            if SELF_TEST and event.methods == (0x42,):
                raise RuntimeError("self-test: the harness reports this input")
            record.version, record.offered_methods = 5, event.methods
        elif isinstance(event, AuthRequest):
            record.raw_username, record.raw_password = event.username, event.password
            record.username = event.username.decode("utf-8", "backslashreplace")
        else:
            record.note_request(event)

    def pump(self) -> None:
        pump(self.conn, self.answers, self.note)


def one_input(data: bytes) -> None:
    if len(data) < 2:
        return
    harness = Harness(data[0])
    size, stream = 1 + data[1] % 64, data[2:]
    try:
        for at in range(0, len(stream), size):
            harness.conn.receive_data(stream[at : at + size])
            harness.pump()
        harness.conn.receive_data(b"")
        harness.pump()
    except RemoteProtocolError as exc:
        if exc.response not in RFC_ANSWERS:
            raise AssertionError(f"not an RFC answer: {exc.response.hex(' ')}") from exc
        if exc.request is not None:
            harness.record.note_request(exc.request)
        harness.record.end(Outcome.PROTOCOL_ERROR, closed_by="server", error=str(exc))
    else:
        if harness.conn.state not in (State.CLOSED, State.ESTABLISHED):
            raise AssertionError(f"EOF left the conversation in {harness.conn.state}")
    record = harness.record.freeze()
    line = describe_record(record)
    if not line.isprintable():
        raise AssertionError(f"not one printable line: {line!r}")
    # The password never shows: the description does not depend on it at all.
    if describe_record(dataclasses.replace(record, raw_password=b"\x00other")) != line:
        raise AssertionError(f"the password changes the description: {line!r}")


def main() -> None:
    atheris.Setup(sys.argv, one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
