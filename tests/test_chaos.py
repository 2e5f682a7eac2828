"""Chaos mode: the same seed gives the same faults alone, under ``-n 2`` and in reverse
order, and a failing test's replay line, pasted, reproduces its failure."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from pytest_socks5 import faults
from pytest_socks5._chaos import CATALOG, Chaos, constructor, replay_line
from pytest_socks5._chaos_settings import rate_for_test, seed_for_test, text_chaos
from pytest_socks5._live_record import LiveRecord

from .helpers import TWO_WORKERS
from .test_plugin import INI

pytest_plugins = ["pytester"]

CONFTEST = """
import os
import socket
import threading

import pytest


def pytest_collection_modifyitems(items):
    if os.environ.get("CHAOS_REVERSED"):
        items.reverse()


@pytest.fixture(scope="session")
def echo_port():
    listener = socket.create_server(("127.0.0.1", 0))

    def serve(conn):
        with conn:
            try:
                while data := conn.recv(4096):
                    conn.sendall(data)
            except OSError:
                pass  # chaos reset the tunnel, and so this side

    def accept():
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            threading.Thread(target=serve, args=(conn,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    yield listener.getsockname()[1]
    listener.close()
"""

SUITE = """
import pytest

from pytest_socks5 import rawclient


def talk(proxy, port):
    # Long enough that a loaded machine never fails a connection chaos left alone (0.5 s
    # did, once, under coverage with two workers), short enough that a Stall costs little.
    with rawclient.tunnel(proxy, "127.0.0.1", port, timeout=2) as (sock, reply):
        assert rawclient.reply_code(reply) == 0
        sock.sendall(b"ping")
        assert rawclient.recv_exactly(sock, 4) == b"ping"


@pytest.mark.parametrize("n", range(20))
def test_app(socks5_server, echo_port, n):
    for _ in range(3):
        talk(socks5_server.address, echo_port)
"""


def _plan(output: str) -> list[str]:
    lines = output.splitlines()
    starts = [i for i, line in enumerate(lines) if "socks5 chaos plan" in line]
    assert starts, output
    start = starts[0]
    plan = []
    for line in lines[start + 1 :]:
        if line.startswith(("=", "-")):
            break
        plan.append(line)
    return plan


@pytest.fixture
def pytester(pytester: pytest.Pytester) -> pytest.Pytester:
    """Inner runs get the ini a real project has, so pytest-asyncio stays quiet. They run
    in this process (a subprocess pays pytest's start-up, seconds under coverage, for each
    run); ``-n 2`` runs still put their tests in two worker processes."""
    pytester.makeini(INI)
    return pytester


def _run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest(
        "--socks5-chaos=0.3", "--socks5-seed", "42", "-p", "no:cacheprovider", *args
    )


def test_same_faults_alone_under_xdist_and_reversed(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_suite=SUITE)
    first = _run(pytester)
    first.stdout.fnmatch_lines(["*pytest-socks5 chaos: rate 0.3, seed 42*"])
    plan = _plan(first.stdout.str())
    assert len(plan) >= 5, plan  # 60 connections at 0.3: chaos hit many tests
    assert all(re.match(r"test_suite.py::test_app\[\d+\]: socks5_server: \w+\(", p) for p in plan)
    assert _plan(_run(pytester).stdout.str()) == plan
    assert _plan(_run(pytester, *TWO_WORKERS).stdout.str()) == plan
    monkeypatch.setenv("CHAOS_REVERSED", "1")
    records = pytester.path / "records"
    reversed_run = _run(pytester, "-v", f"--socks5-record-dir={records}")
    names = re.findall(r"test_app\[(\d+)\] \w+", reversed_run.stdout.str())
    assert names[:2] == ["19", "18"]
    assert _plan(reversed_run.stdout.str()) == plan
    # The plan is what the records (of the reversed run) say acted.
    acted = sorted(
        fault
        for path in records.iterdir()
        for line in path.read_text().splitlines()
        for fault in json.loads(line)["faults"]
    )
    assert len(acted) == sum(p.count("; ") + 1 for p in plan)


FAILING = """
import pytest

from pytest_socks5 import rawclient


def test_app(socks5_server, echo_port):
    for _ in range(5):
        with rawclient.tunnel(socks5_server.address, "127.0.0.1", echo_port, timeout=0.5) as (
            sock,
            reply,
        ):
            assert rawclient.reply_code(reply) == 0
            sock.sendall(b"ping")
            assert rawclient.recv_exactly(sock, 4) == b"ping"
"""


def _faults(records: Path) -> list[str]:
    return [
        f
        for p in records.iterdir()
        for line in p.read_text().splitlines()
        for f in json.loads(line)["faults"]
    ]


def test_replay_line_reproduces_the_failure(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(CONFTEST)
    path = pytester.makepyfile(test_app=FAILING)
    chaos = pytester.runpytest(
        "--socks5-chaos=1",
        "--socks5-seed",
        "3",
        "--socks5-record-dir=chaos",
        "-p",
        "no:cacheprovider",
    )
    chaos.assert_outcomes(failed=1)
    out = chaos.stdout.str()
    assert "chaos faults that fired on socks5_server at" in out
    imports = next(
        line.strip() for line in out.splitlines() if "from pytest_socks5.faults import" in line
    )
    marker = next(
        line.strip() for line in out.splitlines() if "@pytest.mark.socks5(chaos=False" in line
    )
    error = next(line for line in out.splitlines() if line.startswith("E "))
    text = path.read_text()
    path.write_text(imports + "\n" + text.replace("def test_app", marker + "\ndef test_app"))
    replay = pytester.runpytest("--socks5-record-dir=replay", "-p", "no:cacheprovider")
    replay.assert_outcomes(failed=1)
    assert error in replay.stdout.str().splitlines()
    assert _faults(pytester.path / "replay") == _faults(pytester.path / "chaos")
    # Under chaos too, the marker's chaos=False keeps it to the pasted faults.
    again = pytester.runpytest(
        "--socks5-chaos=1",
        "--socks5-seed",
        "99",
        "--socks5-record-dir=again",
        "-p",
        "no:cacheprovider",
    )
    again.assert_outcomes(failed=1)
    assert _faults(pytester.path / "again") == _faults(pytester.path / "chaos")


def test_off_unless_asked(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_suite=SUITE)
    result = pytester.runpytest("-p", "no:cacheprovider", *TWO_WORKERS)
    result.assert_outcomes(passed=20)
    assert "chaos" not in result.stdout.str()


def test_opt_out_and_pcap_marker(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(
        test_suite=SUITE.replace(
            '@pytest.mark.parametrize("n", range(20))',
            '@pytest.mark.socks5(chaos=False, pcap=True)\n@pytest.mark.parametrize("n", range(4))',
        )
    )
    result = pytester.runpytest("--socks5-chaos=1", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=4)
    result.stdout.fnmatch_lines(["*no chaos fault acted*"])
    assert len(list((pytester.path / "socks5-pcap").iterdir())) == 4


@pytest.mark.parametrize("chaos", [[], ["--socks5-chaos=1"]])
def test_a_suites_own_user_properties_of_any_shape_pass_by(
    pytester: pytest.Pytester, chaos: list[str]
) -> None:
    """pytest does not check ``user_properties``: the chaos plan reads only its own pairs,
    so a suite's triple (or anything else) is no INTERNALERROR, chaos on or off."""
    pytester.makepyfile(
        test_properties="""
        import pytest

        @pytest.mark.parametrize(
            "entry", [("key", "value", "extra"), "plain", ("one",), None, ("socks5_chaos", "x")]
        )
        def test_property(request, entry):
            request.node.user_properties.append(entry)
        """
    )
    result = pytester.runpytest("-p", "no:cacheprovider", *chaos)
    result.assert_outcomes(passed=5)
    assert "INTERNALERROR" not in result.stdout.str() + result.stderr.str()
    if chaos:
        assert _plan(result.stdout.str()) == ["no chaos fault acted"]


def test_seeds_are_stable_and_per_test() -> None:
    assert seed_for_test(1, "t.py::a") == seed_for_test(1, "t.py::a")
    assert seed_for_test(1, "t.py::a") != seed_for_test(1, "t.py::b")
    assert seed_for_test(1, "t.py::a") != seed_for_test(2, "t.py::a")
    assert seed_for_test(1, "t.py::a", 0) != seed_for_test(1, "t.py::a", 1)
    # SHA-256, not Python's salted hash: the same in every process.
    assert seed_for_test(0, "x") == seed_for_test(0, "x")


def test_chaos_counts_connections_like_nth() -> None:
    chaos = Chaos(1.0, 5)
    records = [LiveRecord(id=i, client_address=("127.0.0.1", 1)) for i in range(20)]
    for record in records:
        for phase in (faults.Phase.GREETING, faults.Phase.REQUEST, faults.Phase.REPLY, None):
            chaos.pick(phase, record)
    assert len(chaos.picked) == 20  # one fault per connection at rate 1
    assert [f.nth for _, f in chaos.picked] == list(range(1, 21))
    assert Chaos(0.0, 5).pick(faults.Phase.REQUEST, records[0]) == []


def test_catalog_replays_as_python() -> None:
    for fault in CATALOG:
        placed = fault.__class__(**{**_fields(fault), "nth": 3})
        assert eval(constructor(placed), vars(faults)) == placed
    imports, marker = replay_line([faults.ReplyWith(reply=5, nth=2), faults.Stall(nth=1)])
    assert imports == "from pytest_socks5.faults import ReplyWith, Stall"
    assert (
        marker
        == "@pytest.mark.socks5(chaos=False, faults=[ReplyWith(reply=0x05, nth=2), Stall(nth=1)])"
    )


def _fields(fault: faults.Fault) -> dict[str, object]:
    import dataclasses

    return {f.name: getattr(fault, f.name) for f in dataclasses.fields(fault)}


@pytest.mark.parametrize(
    ("text", "rate"), [("", 0.0), ("0.1", 0.1), ("1", 1.0), ("true", 0.1), ("off", 0.0)]
)
def test_rates(text: str, rate: float) -> None:
    assert text_chaos(text) == rate
    assert rate_for_test(0.5, None) == 0.5
    assert rate_for_test(0.5, False) == 0.0
    assert rate_for_test(0.0, True) == 0.1
    assert rate_for_test(0.0, 0.25) == 0.25


@pytest.mark.parametrize("text", ["2", "-0.1", "lots"])
def test_bad_rates(text: str) -> None:
    with pytest.raises(ValueError, match="socks5_chaos must be a rate"):
        text_chaos(text)


@pytest.mark.parametrize(
    ("args", "shown"),
    [
        (
            ("--socks5-chaos", "test_app.py"),
            "got 'test_app.py', which looks like a test path: ",
        ),
        (("--socks5-chaos", "test_suite.py::test_app"), "got 'test_suite.py::test_app', which "),
        (("--socks5-chaos", "."), "got '.'"),
    ],
)
def test_a_test_path_taken_as_the_rate_says_how_to_write_the_flag(
    pytester: pytest.Pytester, args: tuple[str, ...], shown: str
) -> None:
    pytester.makepyfile(test_suite="def test_app():\n    pass\n")
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider", *args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    (line,) = [line for line in result.stderr.lines if line.startswith("ERROR:")]
    assert line.startswith("ERROR: pytest-socks5: --socks5-chaos: socks5_chaos must be a rate")
    assert shown in line
    assert line.endswith(
        "a bare --socks5-chaos takes the next argument as its RATE; write --socks5-chaos=0.1 "
        "(or any RATE) with '=', or put it after the test paths"
    )
    if args[1] == "test_app.py":  # the chaos how-to shows this one as pytest prints it
        page = Path(__file__).parent.parent / "docs" / "howto" / "chaos.rst"
        assert f"   $ pytest --socks5-chaos test_app.py\n   {line}\n" in page.read_text("utf-8")
    # After the paths, or with '=', the flag leaves them alone.
    for ok in (("test_suite.py", "--socks5-chaos"), ("--socks5-chaos=0.1", "test_suite.py")):
        assert pytester.runpytest_inprocess("-p", "no:cacheprovider", *ok).ret == 0


@pytest.mark.parametrize(
    "args",
    [("--socks5-chaos=abc",), ("-o", "socks5_chaos=abc"), ("--socks5-chaos=test_app.py",)],
)
def test_a_bad_rate_given_with_an_equals_sign_or_in_the_ini_gets_no_bare_flag_hint(
    pytester: pytest.Pytester, args: tuple[str, ...]
) -> None:
    """The hint about a bare flag taking the next argument is only true of a bare flag."""
    pytester.makepyfile(test_app="def test_app():\n    pass\n")
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider", *args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    (line,) = [line for line in result.stderr.lines if line.startswith("ERROR:")]
    where = "--socks5-chaos" if args[0] != "-o" else "ini option socks5_chaos"
    value = args[-1].partition("=")[2]
    assert line == (
        f"ERROR: pytest-socks5: {where}: socks5_chaos must be a rate from 0 to 1 "
        f"(or true: 0.1, false: off), got {value!r}"
    )


def test_unseeded_run_prints_a_seed_that_replays_it(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_suite=SUITE)
    options = ("--socks5-chaos=0.3", "-p", "no:cacheprovider")
    first = pytester.runpytest(*options, *TWO_WORKERS)  # the workers share the seed
    seed = re.search(r"chaos: rate 0\.3, seed (\d+)", first.stdout.str())
    assert seed is not None
    plan = _plan(first.stdout.str())
    assert f"socks5 chaos plan (seed {seed[1]})" in first.stdout.str()
    again = pytester.runpytest(*options, "--socks5-seed", seed[1])
    assert _plan(again.stdout.str()) == plan


def test_pytest_randomly_seed_is_used(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(
        CONFTEST
        + """

def pytest_addoption(parser):  # stands in for pytest-randomly's option
    parser.addoption("--randomly-seed", dest="randomly_seed", type=int, default=777)
"""
    )
    pytester.makepyfile(test_suite=SUITE)
    result = pytester.runpytest("--socks5-chaos=0.3", "-p", "no:cacheprovider")
    result.stdout.fnmatch_lines(["*chaos: rate 0.3, seed 777*", "*socks5 chaos plan (seed 777)*"])
    given = pytester.runpytest(
        "--socks5-chaos=0.3", "--socks5-seed", "5", "-p", "no:cacheprovider"
    )
    given.stdout.fnmatch_lines(["*chaos: rate 0.3, seed 5 *"])
