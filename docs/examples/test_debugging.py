"""How-to: debug a failing proxied test. The failing test lives in ``debugging/`` and runs
as a pytest session of its own, so that its failure is what this test checks."""

import json
from pathlib import Path

from pytest_socks5 import ConnectionRecord

EXAMPLE = Path(__file__).parent / "debugging" / "test_forecast.py"


def run_example(pytester, *options):
    pytester.makepyfile(test_forecast=EXAMPLE.read_text(encoding="utf-8"))
    return pytester.runpytest_subprocess("-p", "no:cacheprovider", "-p", "no:randomly", *options)


def test_the_transcript_of_a_failing_test(pytester):
    result = run_example(pytester)

    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "E*httpx.ProxyError: Proxy Server could not connect: Connection refused.",
            "*- socks5 transcript call -*",
            "socks5_server at socks5://127.0.0.1:*: 1 connection(s)",
            "#1 127.0.0.1:* SOCKS5 CONNECT localhost:* (ATYP 0x03 (DOMAIN)) → REP 0x05 *",
            "    +   0.000 ms  accepted        from 127.0.0.1:*",
            "    + * ms  client → proxy  greeting: VER 5, METHODS 0x00 (NO_AUTHENTICATION_*",
            "                                  05 01 00",
            "    + * ms  proxy → client  method selection: METHOD 0x00 (NO_AUTHENTICATION_*",
            "                                  05 00",
            "    + * ms  client → proxy  request: CONNECT localhost:*, ATYP 0x03 (DOMAIN)",
            "                                  05 01 00 03 09 6c 6f 63 61 6c 68 6f 73 74 *",
            "                  proxy dialled   *127.0.0.1:*",
            "                  connected to    nothing (see error)",
            "    + * ms  proxy → client  reply: REP 0x05 (CONNECTION_REFUSED), BND 0.0.0.0:0 *",
            "                                  05 05 00 01 00 00 00 00 00 00",
            "    + * ms  ended           rejected by server (FIN)",
            "    error:   dialling localhost:* failed: ConnectionRefusedError(*",
            "    faults:  none",
            "    payload: 0 bytes client → destination, 0 bytes destination → client *",
        ]
    )


def test_records_as_json_lines_for_ci(pytester):
    run_example(pytester, "--socks5-record-dir=proxy-records")

    (path,) = (pytester.path / "proxy-records").iterdir()
    # the test id made a file name, and a short hash of the exact id: one file per test
    assert path.name.startswith("test_forecast.py__test_forecast_through_the_proxy-")
    lines = path.read_text(encoding="utf-8").splitlines()
    assert json.loads(lines[0])["test"] == "test_forecast.py::test_forecast_through_the_proxy"

    records = [ConnectionRecord.from_json(line) for line in lines]

    assert records[0].reply == 0x05
    assert "rejected by server (FIN)" in records[0].transcript()
