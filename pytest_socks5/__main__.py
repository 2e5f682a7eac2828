"""``python -m pytest_socks5``: the same server in the foreground, one log line a connection."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
from collections.abc import Callable, Sequence
from typing import Any

from ._options import CLI_MAX_RECORDS, OPTIONS
from ._records import ConnectionRecord
from ._server import SOCKS5Server
from ._transcript import describe_record

__all__ = ["CLI_MAX_RECORDS", "main"]


def _argparse_type(parse: Callable[[str], Any]) -> Callable[[str], Any]:
    """The table's own text parsers raise :class:`ValueError` with a message meant for the
    user; argparse shows only an :class:`argparse.ArgumentTypeError`'s."""
    if getattr(parse, "__module__", None) == "builtins":  # int, float: argparse words those
        return parse

    def convert(text: str) -> Any:
        try:
            return parse(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    convert.__name__ = parse.__name__
    return convert


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m pytest_socks5",
        description="Run the pytest-socks5 SOCKS5 proxy in the foreground until Ctrl-C.",
    )
    for option in OPTIONS:
        if option.main is None:
            continue
        arguments = option.main.argparse_arguments()
        if "type" in arguments:
            arguments["type"] = _argparse_type(arguments["type"])
        parser.add_argument(
            option.main.name,
            dest=option.name,
            default=option.main_default,
            help=option.main.help or option.doc,
            **arguments,
        )
    parser.add_argument(
        "--show-credentials",
        action="store_true",
        help="print the password in the URL on the first line (default: ***)",
    )
    parser.add_argument("--quiet", action="store_true", help="do not log connections")
    return parser


def _log(record: ConnectionRecord) -> None:
    print(describe_record(record), flush=True)


async def _serve(args: argparse.Namespace) -> None:
    options = {o.name: getattr(args, o.name) for o in OPTIONS if o.main is not None}
    server = SOCKS5Server(**options, on_connection_end=None if args.quiet else _log)
    async with server:
        url = server.url if args.show_credentials else server.url_masked
        print(f"pytest-socks5 listening on {url}", flush=True)
        await asyncio.Event().wait()


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    loop_factory = None
    if args.loop == "uvloop":
        try:
            import uvloop
        except ImportError:
            print("--uvloop needs uvloop: pip install 'pytest-socks5[fast]'", file=sys.stderr)
            return 2
        loop_factory = uvloop.new_event_loop
    if hasattr(sys.stdout, "reconfigure"):  # arrows in log lines on a non-UTF-8 terminal
        sys.stdout.reconfigure(errors="backslashreplace")
    with (
        contextlib.suppress(KeyboardInterrupt),
        asyncio.Runner(loop_factory=loop_factory) as runner,
    ):
        runner.run(_serve(args))
    print("pytest-socks5 stopped", file=sys.stderr, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
