"""Forwarded (absolute-form) HTTP requests: the reply faults on the origin's response head,
and records of every request on a kept-alive connection — with real clients (requests,
httpx) through ``http_url`` to a loopback origin.

Every client ignores the environment (``trust_env`` off): only the proxy given is used."""

from __future__ import annotations

import http.client
import http.server
import threading
from collections.abc import Iterator

import httpx
import pytest
import requests

from pytest_socks5 import ConnectionRecord, Outcome, SOCKS5Server, faults


class _Origin(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        body = f"hello from {self.path}".encode()
        self.send_response(404 if self.path == "/missing" else 200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def origin() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Origin)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.005})
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join(5)


def ended(server: SOCKS5Server, **criteria: object) -> ConnectionRecord:
    return server.wait_for_connections(ended=True, **criteria)[0]


def get(server: SOCKS5Server, url: str, timeout: float = 5) -> requests.Response:
    with requests.Session() as s:
        s.trust_env = False
        return s.get(url, proxies={"http": server.http_url}, timeout=timeout)


# -- reply faults on the forwarded response head -----------------------------------------


def test_delay_on_the_response_head(socks5_server: SOCKS5Server, origin: str) -> None:
    socks5_server.add_fault(faults.Delay(seconds=0.05, at="reply"))
    assert get(socks5_server, origin + "/a").text == "hello from /a"
    record = ended(socks5_server, protocol="http")
    assert record.faults == ("Delay(seconds=0.05) at reply",)
    assert record.http_statuses == (200,)
    assert socks5_server.assert_connected(faults="Delay(seconds=0.05)*")


def test_fragment_of_the_response_head(socks5_server: SOCKS5Server, origin: str) -> None:
    socks5_server.add_fault(faults.Fragment(size=4, delay=0.001, at="reply"))
    assert get(socks5_server, origin + "/frag").text == "hello from /frag"
    record = socks5_server.assert_connected(protocol="http", faults="Fragment*")
    message = record.message("http response")
    assert message is not None
    assert message.startswith(b"HTTP/1.1 200 ")
    assert record.http_statuses == (200,)


def test_truncated_response_head(socks5_server: SOCKS5Server, origin: str) -> None:
    socks5_server.add_fault(faults.Truncate(length=8, at="reply"))
    with pytest.raises(requests.exceptions.ConnectionError):  # no status: BadStatusLine
        get(socks5_server, origin + "/")
    record = ended(socks5_server, protocol="http")
    assert record.message("http response") == b"HTTP/1.1"
    assert record.outcome is Outcome.FAULT
    assert record.bytes_to_client == 8  # the cut head went out; the body did not follow
    assert socks5_server.assert_connected(faults="Truncate*")


def test_raw_answer_instead_of_the_response_head(socks5_server: SOCKS5Server, origin: str) -> None:
    raw = b"HTTP/1.1 418 I'm a teapot\r\nContent-Length: 3\r\n\r\ntea"
    socks5_server.add_fault(faults.RawAnswer(data=raw, at="reply"))
    response = get(socks5_server, origin + "/")
    assert (response.status_code, response.text) == (418, "tea")
    record = ended(socks5_server, protocol="http")
    assert record.message("http response") == raw
    assert record.bytes_to_client == len(raw)  # written in the head's place
    assert socks5_server.assert_connected(faults="RawAnswer*")


def test_wrong_version_in_the_response_head(socks5_server: SOCKS5Server, origin: str) -> None:
    socks5_server.add_fault(faults.WrongVersion(version=ord("X"), at="reply"))
    client = httpx.Client(proxy=socks5_server.http_url, trust_env=False)
    with client, pytest.raises(httpx.RemoteProtocolError):
        client.get(origin + "/")
    record = socks5_server.assert_connected(protocol="http", faults="WrongVersion*")
    message = record.message("http response")
    assert message is not None
    assert message.startswith(b"XTTP/1.1 200 ")


def test_close_instead_of_the_response_head(socks5_server: SOCKS5Server, origin: str) -> None:
    socks5_server.add_fault(faults.Close(at="reply"))
    with pytest.raises(requests.exceptions.ConnectionError):
        get(socks5_server, origin + "/")
    record = ended(socks5_server, protocol="http")
    assert record.outcome is Outcome.FAULT
    assert record.message("http response") is None
    assert socks5_server.assert_connected(faults="Close*")


def test_stall_instead_of_the_response_head(socks5_server: SOCKS5Server, origin: str) -> None:
    socks5_server.add_fault(faults.Stall(at="reply"))
    with pytest.raises(requests.exceptions.ReadTimeout):
        get(socks5_server, origin + "/", timeout=0.5)
    record = ended(socks5_server, protocol="http")
    assert record.message("http response") is None
    assert record.http_statuses == ()
    assert socks5_server.assert_connected(faults="Stall*")


# -- every request on a kept-alive connection ------------------------------------------


def test_two_requests_on_one_connection_are_both_recorded(
    socks5_server: SOCKS5Server, origin: str
) -> None:
    with httpx.Client(proxy=socks5_server.http_url, trust_env=False) as client:
        assert client.get(origin + "/first").status_code == 200
        assert client.get(origin + "/missing").status_code == 404
    record = socks5_server.assert_connected(protocol="http", count=1)
    assert record.http_request == f"GET {origin}/first HTTP/1.1"  # the first stays here
    assert record.http_requests == (
        f"GET {origin}/first HTTP/1.1",
        f"GET {origin}/missing HTTP/1.1",
    )
    assert record.http_statuses == (200, 404)
    assert record.http_status == 404  # the last one sent
    # one value (or glob) finds a connection whose later request matches
    assert socks5_server.assert_connected(http_requests="GET */missing HTTP/1.1") == record
    assert socks5_server.assert_connected(http_statuses=404) == record
    assert ConnectionRecord.from_json(record.to_json()) == record
    transcript = record.transcript()
    assert f"http #1: GET {origin}/first HTTP/1.1 → 200" in transcript
    assert f"http #2: GET {origin}/missing HTTP/1.1 → 404" in transcript


# -- timeouts between and within kept-alive requests -----------------------------------


def _proxy_connection(server: SOCKS5Server) -> http.client.HTTPConnection:
    """A plain HTTP/1.1 connection to the proxy (http.client reads no proxy variables)."""
    host, port = server.address
    return http.client.HTTPConnection(host, port, timeout=5)


def test_idle_timeout_between_kept_alive_requests(socks5_server_factory, origin: str) -> None:
    server = socks5_server_factory(idle_timeout=0.3)
    client = _proxy_connection(server)
    client.request("GET", origin + "/one")
    assert client.getresponse().read() == b"hello from /one"
    # nothing more is sent: the proxy ends the kept-alive connection
    record = ended(server, outcome=Outcome.IDLE_TIMEOUT)
    assert record.error is not None
    assert "idle_timeout" in record.error
    assert record.http_requests == (f"GET {origin}/one HTTP/1.1",)
    assert record.http_statuses == (200,)
    assert client.sock is not None
    assert client.sock.recv(1) == b""  # the client sees the close
    client.close()


def test_handshake_timeout_bounds_a_later_request_head(socks5_server_factory, origin: str) -> None:
    server = socks5_server_factory(handshake_timeout=0.3)
    client = _proxy_connection(server)
    client.request("GET", origin + "/one")
    assert client.getresponse().read() == b"hello from /one"
    assert client.sock is not None
    client.sock.sendall(f"GET {origin}/two HTTP/1.1\r\nHost: x\r\n".encode())  # no end
    record = ended(server, outcome=Outcome.TIMEOUT)
    assert record.error is not None
    assert "handshake_timeout" in record.error
    assert record.http_statuses == (200,)
    assert client.sock.recv(1) == b""
    client.close()
