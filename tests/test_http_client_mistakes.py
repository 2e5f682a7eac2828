"""The HTTP proxy and a client's mistakes: every one is the protocol's answer (a 4xx),
recorded as what happened, never an internal error; and a kept-alive forwarding
connection selects each origin's faults by that origin.

Destinations are virtual (``host_map`` to a ``Sink``): nothing leaves the process."""

from __future__ import annotations

import base64
import socket
from collections.abc import Callable

import pytest

from pytest_socks5 import ConnectionRecord, Outcome, Sink, SOCKS5Server
from pytest_socks5.faults import ReplyWith, Truncate
from pytest_socks5.rawclient import connect, recv_all

TIMEOUT = 5
OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
BAD_REQUEST = b"HTTP/1.1 400 Bad Request\r\n"


def get(host: str, path: str = "/") -> bytes:
    return f"GET http://{host}{path} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode()


def proxy(make_server: Callable[..., SOCKS5Server], **kwargs: object) -> SOCKS5Server:
    """A proxy to two kept-alive sites (they never close first: the client's close is)."""
    b = b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nb"
    sites = {"a.test": Sink(response=OK, close=False), "b.test": Sink(response=b, close=False)}
    return make_server(host_map=sites, **kwargs)


def exchange(server: SOCKS5Server, *writes: bytes) -> bytes:
    """Send ``writes`` (one ``sendall`` each), close the write side, read to the end."""
    with connect(server.address, timeout=TIMEOUT) as sock:
        for data in writes:
            sock.sendall(data)
        sock.shutdown(socket.SHUT_WR)
        return recv_all(sock)


def ended(server: SOCKS5Server) -> ConnectionRecord:
    return server.wait_for_connections(ended=True, timeout=TIMEOUT)[0]


def unparsed(record: ConnectionRecord) -> list[bytes]:
    return [m.data for m in record.handshake if m.name == "unparsed"]


# -- a later request on a forwarding connection ----------------------------------------


@pytest.mark.parametrize(
    ("second", "error"),
    [
        (b"GET /rel HTTP/1.1\r\nHost: x\r\n\r\n", "not a proxy request for an http:// URL"),
        (b"GET https://a.test/ HTTP/1.1\r\nHost: x\r\n\r\n", "not a proxy request"),
        (b"GARBAGE\r\n\r\n", "not an HTTP proxy request: illegal request line"),
        (b"CONNECT a.test:80 HTTP/1.1\r\nHost: x\r\n\r\n", "CONNECT after a forwarded"),
        (b"CONNECT b.test:7 HTTP/1.1\r\nHost: x\r\n\r\nhello", "CONNECT after a forwarded"),
    ],
    ids=["origin-form", "https", "garbage", "connect-same", "connect-other"],
)
def test_a_bad_later_request_is_a_400_as_a_first_one_is(
    make_server: Callable[..., SOCKS5Server], second: bytes, error: str
) -> None:
    server = proxy(make_server)
    answer = exchange(server, get("a.test") + second)
    assert answer.startswith(OK)
    assert answer[len(OK) :].startswith(BAD_REQUEST)
    record = ended(server)
    assert record.outcome == Outcome.PROTOCOL_ERROR
    assert error in (record.error or "")
    assert record.http_statuses == (200, 400)
    assert record.host == "a.test"  # the first request's, as documented


def test_a_garbage_later_request_is_kept_unparsed(
    make_server: Callable[..., SOCKS5Server],
) -> None:
    server = proxy(make_server)
    exchange(server, get("a.test") + b"GARBAGE\r\n\r\n")
    assert unparsed(ended(server)) == [b"GARBAGE\r\n\r\n"]


# -- a request body cut short or malformed ------------------------------------------------

POST = b"POST http://a.test/ HTTP/1.1\r\nHost: a.test\r\n"


@pytest.mark.parametrize(
    "request_",
    [
        POST + b"Content-Length: 50\r\n\r\nhello",
        POST + b"Transfer-Encoding: chunked\r\n\r\n5\r\nhel",
    ],
    ids=["content-length", "chunked"],
)
def test_a_client_closing_mid_body_is_its_close(
    make_server: Callable[..., SOCKS5Server], request_: bytes
) -> None:
    server = proxy(make_server)
    assert exchange(server, request_) == b""
    record = ended(server)
    assert record.outcome == Outcome.CLIENT_CLOSED
    assert record.closed_by == "client"
    assert "the client closed mid-request" in (record.error or "")


def test_a_bad_chunk_is_a_400(make_server: Callable[..., SOCKS5Server]) -> None:
    server = proxy(make_server)
    body = b"ZZ\r\nhello\r\n0\r\n\r\n"
    answer = exchange(server, POST + b"Transfer-Encoding: chunked\r\n\r\n" + body)
    assert answer.startswith(BAD_REQUEST)
    record = ended(server)
    assert record.outcome == Outcome.PROTOCOL_ERROR
    assert "illegal chunk header" in (record.error or "")
    assert unparsed(record) == [body]


def test_content_length_beside_transfer_encoding_is_not_passed_on(
    make_server: Callable[..., SOCKS5Server],
) -> None:
    server = proxy(make_server, capture_payload=1000)
    head = POST + b"Content-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n"
    assert exchange(server, head + b"3\r\nabc\r\n0\r\n\r\n").startswith(OK)
    sent = ended(server).payload_from_client or b""
    assert b"transfer-encoding: chunked" in sent.lower()
    assert b"content-length" not in sent.lower()
    assert sent.endswith(b"3\r\nabc\r\n0\r\n\r\n")


# -- faults on a later origin ------------------------------------------------------------


def test_a_later_origins_reply_with_is_selected_by_that_origin(
    make_server: Callable[..., SOCKS5Server],
) -> None:
    server = proxy(make_server)
    server.add_fault(ReplyWith(reply=5, host="b.test"))
    answer = exchange(server, get("a.test") + get("b.test"))
    assert answer.startswith(OK)
    assert answer[len(OK) :].startswith(b"HTTP/1.1 502 Bad Gateway\r\n")
    record = ended(server)
    assert record.http_statuses == (200, 502)
    assert record.host == "a.test"


def test_a_record_ended_by_a_later_origins_answer_names_the_first_request(
    make_server: Callable[..., SOCKS5Server],
) -> None:
    """The record ends (``REJECTED``) as b.test's answer goes out, while the proxy is
    still answering for b.test (a race with the client's read, without the stall): a
    reader that sees it ended sees the first request's host and port, never b.test's."""
    server = proxy(make_server)
    server.add_fault(ReplyWith(reply=5, host="b.test"))
    server.add_fault(Truncate(length=12, then="stall", host="b.test"))
    expected = OK + b"HTTP/1.1 502"
    with connect(server.address, timeout=TIMEOUT) as sock:
        sock.sendall(get("a.test") + get("b.test:8080"))
        got = b""
        while len(got) < len(expected) and (data := sock.recv(4096)):
            got += data
        assert got == expected
        record = ended(server)  # ended already, with b.test's answer stalled
        assert record.outcome == Outcome.REJECTED
        assert (record.host, record.port, record.address_type) == ("a.test", 80, 3)
        assert record.http_statuses == (200, 502)
    assert (ended(server).host, ended(server).port) == ("a.test", 80)  # and after it


def test_a_later_origin_is_named_while_it_is_checked_and_the_first_once_ended(
    make_server: Callable[..., SOCKS5Server],
) -> None:
    server = proxy(make_server)
    gate = server.hold("request", host="b.test")
    with connect(server.address, timeout=TIMEOUT) as sock:
        sock.sendall(get("a.test") + get("b.test:8080"))
        held = gate.wait(timeout=TIMEOUT)  # b.test's request phase: faults select by it
        assert (held.host, held.port) == ("b.test", 8080)
        (record,) = server.connections
        assert (record.outcome, record.host, record.port) == (Outcome.OPEN, "b.test", 8080)
        gate.release(ReplyWith(reply=5))
        sock.shutdown(socket.SHUT_WR)
        assert recv_all(sock).startswith(OK + b"HTTP/1.1 502 Bad Gateway\r\n")
    record = ended(server)
    assert (record.outcome, record.host, record.port) == (Outcome.REJECTED, "a.test", 80)


def test_a_later_origins_truncate_is_selected_by_that_origin(
    make_server: Callable[..., SOCKS5Server],
) -> None:
    server = proxy(make_server)
    server.add_fault(Truncate(length=5, host="b.test"))
    assert exchange(server, get("a.test") + get("b.test")) == OK + b"HTTP/"
    assert ended(server).outcome == Outcome.FAULT


# -- heads: the port, the size, the bytes kept -----------------------------------------------


def test_an_absolute_url_to_port_0_is_a_400(make_server: Callable[..., SOCKS5Server]) -> None:
    server = proxy(make_server)
    assert exchange(server, get("127.0.0.1:0")).startswith(BAD_REQUEST)
    record = ended(server)
    assert record.outcome == Outcome.PROTOCOL_ERROR
    assert record.error == "no host:port in 'http://127.0.0.1:0/'"


@pytest.mark.parametrize(
    "head", [b"CONNECT ::1:443 HTTP/1.1\r\nHost: x\r\n\r\n", get("127.0.0.1:0")]
)
def test_a_request_naming_no_destination_records_none(
    make_server: Callable[..., SOCKS5Server], head: bytes
) -> None:
    """A ``400`` for a request that names no destination: the record has none, so it
    reads as neither a name nor an address sent (``remote_dns`` is ``None``), and no
    DNS assertion passes on it."""
    server = proxy(make_server)
    assert exchange(server, head).startswith(BAD_REQUEST)
    record = ended(server)
    assert (record.host, record.port, record.address_type, record.command) == (None,) * 4
    assert record.remote_dns is None
    with pytest.raises(AssertionError):
        server.assert_remote_dns("*")
    if head.startswith(b"CONNECT"):
        assert record.error == (
            "no valid port in '::1:443' (an IPv6 host is written in brackets: [::1]:443)"
        )


def _head(size: int) -> bytes:
    start = b"GET http://a.test/ HTTP/1.1\r\nHost: a.test\r\nX-Big: "
    return start + b"a" * (size - len(start) - 4) + b"\r\n\r\n"


@pytest.mark.parametrize("writes", [1, 2])
def test_a_head_over_the_limit_is_431_however_it_was_sent(
    make_server: Callable[..., SOCKS5Server], writes: int
) -> None:
    server = proxy(make_server)
    head = _head(64 * 1024 + 1)
    cut = len(head) // writes
    answer = exchange(server, *(head[i : i + cut] for i in range(0, len(head), cut)))
    assert answer.startswith(b"HTTP/1.1 431 Request Header Fields Too Large\r\n")
    record = ended(server)
    assert record.outcome == Outcome.PROTOCOL_ERROR
    assert record.http_status == 431
    kept = b"".join(unparsed(record))  # what had arrived when the limit was passed
    assert len(kept) >= 64 * 1024  # a 64 KiB head not yet complete is over the limit
    assert head.startswith(kept)


@pytest.mark.parametrize("writes", [1, 2])
def test_a_head_at_the_limit_is_forwarded_however_it_was_sent(
    make_server: Callable[..., SOCKS5Server], writes: int
) -> None:
    server = proxy(make_server)
    head = _head(64 * 1024)
    cut = len(head) // writes + 1
    assert exchange(server, *(head[i : i + cut] for i in range(0, len(head), cut))) == OK


@pytest.mark.parametrize(
    "head",
    [
        b"GARBAGE\r\n\r\n",
        b"CONNECT a.test:80 HTTP/1.1\r\n\r\n",  # HTTP/1.1 without Host
        b"GET http://a.test/\r\n\r\n",  # HTTP/0.9
        "GET http://é.test/ HTTP/1.1\r\nHost: x\r\n\r\n".encode(),
    ],
    ids=["garbage", "no-host", "http09", "non-ascii"],
)
def test_a_head_h11_refuses_is_kept_unparsed(
    make_server: Callable[..., SOCKS5Server], head: bytes
) -> None:
    server = proxy(make_server)
    assert exchange(server, head).startswith(BAD_REQUEST)
    record = ended(server)
    assert record.outcome == Outcome.PROTOCOL_ERROR
    assert unparsed(record) == [head]


def test_a_head_cut_short_by_handshake_timeout_is_kept_unparsed(
    make_server: Callable[..., SOCKS5Server],
) -> None:
    server = proxy(make_server, handshake_timeout=0.2)
    partial = b"GET http://a.test/ HTTP/1.1\r\nHost: a.t"
    with connect(server.address, timeout=TIMEOUT) as sock:
        sock.sendall(partial)
        assert recv_all(sock) == b""
    record = ended(server)
    assert record.outcome == Outcome.TIMEOUT
    assert unparsed(record) == [partial]


def test_a_later_head_cut_short_by_handshake_timeout_is_kept_unparsed(
    make_server: Callable[..., SOCKS5Server],
) -> None:
    server = proxy(make_server, handshake_timeout=0.2)
    partial = b"GET http://a.test/b HTTP/1.1\r\nHo"
    with connect(server.address, timeout=TIMEOUT) as sock:
        sock.sendall(get("a.test") + partial)
        assert recv_all(sock) == OK
    record = ended(server)
    assert record.outcome == Outcome.TIMEOUT
    assert unparsed(record) == [partial]


# -- Proxy-Authorization ------------------------------------------------------------------


def _basic(raw: bytes) -> bytes:
    return b"Basic " + base64.b64encode(raw)


@pytest.mark.parametrize(
    ("value", "error"),
    [
        (None, "no Proxy-Authorization header"),
        (b"Basic %%%not-base64", "Proxy-Authorization: Basic credentials that are not valid"),
        (_basic(b"alice-s3cret"), "without the ':' of user:password"),
        (b"Bearer s3cret", "Proxy-Authorization is not Basic credentials (scheme 'Bearer')"),
        (_basic(b"alice:wrong"), "wrong username or password"),
    ],
    ids=["none", "base64", "no-colon", "bearer", "wrong"],
)
def test_a_407_says_what_was_wrong_with_the_credentials(
    make_server: Callable[..., SOCKS5Server], value: bytes | None, error: str
) -> None:
    server = make_server(users={"alice": "s3cret"}, host_map={"a.test": Sink()})
    field = b"" if value is None else b"Proxy-Authorization: " + value + b"\r\n"
    request = b"CONNECT a.test:80 HTTP/1.1\r\nHost: a.test\r\n" + field + b"\r\n"
    answer = exchange(server, request)
    assert answer.startswith(b"HTTP/1.1 407 Proxy Authentication Required\r\n")
    record = ended(server)
    assert record.outcome == Outcome.AUTH_FAILED
    assert error in (record.error or "")
    assert "s3cret" not in (record.error or "")
