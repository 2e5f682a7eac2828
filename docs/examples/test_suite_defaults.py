"""How-to: suite-wide defaults. Session fixtures are overridden for a whole suite, so the
example in ``suite_defaults/`` runs as a pytest session of its own."""

from pathlib import Path

EXAMPLE = Path(__file__).parent / "suite_defaults"


def test_suite_defaults(pytester):
    for path in EXAMPLE.glob("*.py"):
        pytester.makepyfile(**{path.stem: path.read_text(encoding="utf-8")})

    result = pytester.runpytest("-p", "no:cacheprovider", "-p", "no:asyncio")

    result.assert_outcomes(passed=3)
