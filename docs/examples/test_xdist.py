"""How-to: pytest-xdist. The example in ``xdist_project/`` runs on two workers."""

import re
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).parent / "xdist_project"


def test_two_workers_two_proxies(pytester):
    pytest.importorskip("xdist")
    for path in EXAMPLE.glob("*.py"):
        pytester.makepyfile(**{path.stem: path.read_text(encoding="utf-8")})

    # In-process; -p no:...: plugins this example does not need stay out of its processes.
    options = ["-p", "no:cacheprovider", "-p", "no:asyncio", "-p", "no:hypothesispytest"]
    result = pytester.runpytest("-n", "2", "-rP", *options)

    result.assert_outcomes(passed=4)
    urls = dict(re.findall(r"(gw\d) uses (socks5://\S+)", result.stdout.str()))
    assert sorted(urls) == ["gw0", "gw1"]
    assert urls["gw0"] != urls["gw1"]
