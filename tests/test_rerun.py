"""A test run again in the same session starts from nothing: pytest-rerunfailures runs
the same item's protocol again, and the item (its stash) outlives each attempt. An
attempt is not failed by the one before (its leaks, its hooks' errors), and its
transcript, record file, capture and chaos seeds are its own.

The inner runs rerun the way pytest-rerunfailures does (``RERUN`` below: the loop of its
``pytest_runtest_protocol``, without its options), so the suite does not depend on it."""

from __future__ import annotations

import json
import struct

import pytest

from .helpers import PYTESTER_ECHO_CONFTEST
from .test_chaos import _plan
from .test_plugin_reports import run

#: pytest-rerunfailures' loop: while an attempt fails, up to ``ATTEMPTS``, the same
#: item's protocol again (``runtestprotocol`` with ``log=False``, then each report
#: logged, a failure of an attempt that is run again as a "rerun"), and its summary of
#: why each attempt was run again.
RERUN = """
import pytest
from _pytest.runner import runtestprotocol

ATTEMPTS = 2


def pytest_runtest_protocol(item, nextitem):
    item.ihook.pytest_runtest_logstart(nodeid=item.nodeid, location=item.location)
    item.attempt = 0
    while True:
        item.attempt += 1
        reports = runtestprotocol(item, nextitem=nextitem, log=False)
        again = item.attempt < ATTEMPTS and any(r.failed for r in reports)
        for report in reports:
            if again and report.failed:
                report.outcome = "rerun"
            item.ihook.pytest_runtest_logreport(report=report)
        if not again:
            break
    item.ihook.pytest_runtest_logfinish(nodeid=item.nodeid, location=item.location)
    return True


def pytest_report_teststatus(report):
    if report.outcome == "rerun":
        return "rerun", "R", "RERUN"


def pytest_terminal_summary(terminalreporter):
    if reruns := terminalreporter.stats.get("rerun", []):
        terminalreporter.write_sep("-", "why each was run again")
    for report in reruns:
        terminalreporter.write_line(f"RERUN {report.nodeid} {report.when}")
        terminalreporter.write_line(report.longreprtext)
"""

GREET = """
import socket


def greet(server, count=1):
    # count greetings, one a connection; then wait for all of them to end
    for _ in range(count):
        with socket.create_connection(server.address, timeout=3) as sock:
            sock.sendall(b"\\x05\\x01\\x00")
            assert sock.recv(2) == b"\\x05\\x00"
    server.wait_for_connections(count, ended=True)
"""


@pytest.fixture
def pytester(pytester: pytest.Pytester) -> pytest.Pytester:
    from .test_plugin import INI

    pytester.makeini(INI)
    pytester.makeconftest(RERUN + PYTESTER_ECHO_CONFTEST + GREET)
    return pytester


def outcomes(result: pytest.RunResult) -> dict[str, int]:
    return {k: v for k, v in result.parseoutcomes().items() if k not in ("warning", "warnings")}


def test_a_rerun_is_not_failed_by_the_leak_of_the_attempt_before(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        """
        import socket
        import pytest
        from conftest import tunnel

        @pytest.mark.socks5(leak_guard=True)
        def test_it(request, socks5_server, echo):
            if request.node.attempt == 1:
                socket.getaddrinfo("localhost", 9)  # a leak, in the first attempt only
            with tunnel(socks5_server.address, echo) as sock:
                sock.sendall(b"hi")
                assert sock.recv(2) == b"hi"
        """
    )
    result = run(pytester)
    # The first attempt's call passed; its teardown (the guard) failed, and ran it again.
    assert outcomes(result) == {"passed": 2, "rerun": 1}, result.stdout.str()
    result.stdout.fnmatch_lines(
        ["RERUN *::test_it teardown", "*leak guard: DNS leak*", "*getaddrinfo('localhost'*"]
    )


def test_a_rerun_is_not_failed_by_a_hook_error_of_the_attempt_before(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        """
        import pytest
        from conftest import greet

        @pytest.mark.socks5(port=0)  # a dedicated server, a new one for each attempt
        def test_dedicated(request, socks5_server):
            if request.node.attempt == 1:
                socks5_server.on("greeting", lambda record: 1 / 0)
            try:
                greet(socks5_server)
            except (AssertionError, OSError):
                pass  # the hook's error ends the first attempt's connection
            socks5_server.wait_for_connections(1, ended=True)

        def test_factory(request, socks5_server_factory):
            server = socks5_server_factory()
            if request.node.attempt == 1:
                server.on("greeting", lambda record: 1 / 0)
            try:
                greet(server)
            except (AssertionError, OSError):
                pass
            server.wait_for_connections(1, ended=True)
        """
    )
    result = run(pytester)
    assert outcomes(result) == {"passed": 2, "rerun": 2}, result.stdout.str()
    for name in ("test_dedicated", "test_factory"):  # the first attempts' failures
        result.stdout.fnmatch_lines([f"RERUN *::{name} call", "*ZeroDivisionError*"])


def test_the_transcript_of_a_rerun_lists_its_own_proxies(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest
        from conftest import greet

        @pytest.mark.socks5(port=0)
        def test_dedicated(socks5_server):
            greet(socks5_server)
            assert False, "fails in every attempt"

        def test_shared(socks5_server, socks5_server_factory):
            greet(socks5_server)
            greet(socks5_server_factory())
            assert False, "fails in every attempt"
        """
    )
    result = run(pytester)
    assert outcomes(result) == {"failed": 2, "rerun": 2}, result.stdout.str()
    text = result.stdout.str()
    # Each final failure's transcript: its attempt's proxies, once each.
    assert text.count("socks5_server at socks5://") == 2, text
    assert text.count("socks5_server_factory server 1 at") == 1, text
    assert "socks5_server_factory server 2" not in text, text


def _syns(capture: bytes) -> int:
    """The connections in a pcapng capture: the packets with SYN alone (the client's)."""
    count = 0
    while capture:
        kind, length = struct.unpack_from("<II", capture)
        if kind == 6:  # an enhanced packet block: its packet, an IPv4 header, then TCP
            packet = capture[28 : 28 + struct.unpack_from("<I", capture, 20)[0]]
            tcp = packet[(packet[0] & 0x0F) * 4 :]
            count += tcp[13] == 0x02
        capture = capture[length:]
    return count


def test_a_reruns_record_file_and_capture_are_its_own(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        from conftest import greet

        def test_it(request, socks5_server):
            greet(socks5_server, 3 if request.node.attempt == 1 else 1)
            assert request.node.attempt == 2, "the first attempt fails"
        """
    )
    result = run(pytester, "--socks5-record-dir=records", "--socks5-pcap=captures")
    assert outcomes(result) == {"passed": 1, "rerun": 1}, result.stdout.str()
    (records,) = (pytester.path / "records").iterdir()
    lines = [json.loads(line) for line in records.read_text().splitlines()]
    assert [line["proxy"] for line in lines] == [lines[0]["proxy"]], lines  # the last attempt's
    (capture,) = (pytester.path / "captures").iterdir()
    assert _syns(capture.read_bytes()) == 1


def test_every_attempt_of_a_test_draws_the_same_chaos(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_chaotic="""
        import socket
        from pytest_socks5._chaos_settings import seed_for_test

        SEEDS = []
        CONNECT = b"\\x05\\x01\\x00\\x05\\x01\\x00\\x01" + socket.inet_aton("127.0.0.1")

        def test_it(request, socks5_server, socks5_server_factory, echo):
            other = socks5_server_factory()
            chaos = [socks5_server._engine.context.chaos, other._engine.context.chaos]
            SEEDS.append([c.seed for c in chaos])
            try:  # chaos (rate 1) picks a fault for the connection: whatever it does
                with socket.create_connection(socks5_server.address, timeout=0.5) as sock:
                    sock.sendall(CONNECT + echo[1].to_bytes(2, "big") + b"ping")
                    while sock.recv(100):
                        pass
            except OSError:
                pass
            socks5_server.wait_for_connections(1, ended=True)
            assert request.node.attempt == 2, "the first attempt fails"

        def test_seeds():
            # The same in each attempt: the proxies' positions 0 and 1 in the test.
            seeds = [seed_for_test(7, "test_chaotic.py::test_it", i) for i in (0, 1)]
            assert SEEDS == [seeds, seeds]
        """
    )
    result = run(pytester, "--socks5-chaos=1", "--socks5-seed=7")
    assert outcomes(result) == {"passed": 2, "rerun": 1}, result.stdout.str()
    # The plan: the last attempt's fault, once (the first attempt drew the same).
    (line,) = _plan(result.stdout.str())
    assert line.startswith("test_chaotic.py::test_it: socks5_server: "), line
    assert "; " not in line, line
