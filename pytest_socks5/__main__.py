"""``python -m pytest_socks5``: the same server in the foreground, one log line a connection."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
from collections.abc import Sequence

from ._recording import ConnectionRecord, describe_record
from ._server import SOCKS5Server

__all__ = ["main"]


def _user(value: str) -> tuple[str, str]:
    name, sep, password = value.partition(":")
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"expected NAME:PASSWORD, got {value!r}")
    return name, password


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m pytest_socks5",
        description="Run the pytest-socks5 SOCKS5 proxy in the foreground until Ctrl-C.",
    )
    parser.add_argument(
        "--host",
        default="127.0.0.1",
        help="listen address: 127.0.0.1 (default), ::1, or localhost for both",
    )
    parser.add_argument(
        "--port", type=int, default=1080, help="listen port (default 1080; 0 picks one)"
    )
    parser.add_argument(
        "--user",
        dest="users",
        action="append",
        type=_user,
        default=[],
        metavar="NAME:PASSWORD",
        help="require username/password auth; repeat for several users",
    )
    parser.add_argument(
        "--no-socks4", dest="socks4", action="store_false", help="refuse SOCKS 4/4a clients"
    )
    parser.add_argument(
        "--allow",
        action="append",
        default=[],
        metavar="PATTERN",
        help="also allow this destination (host glob or network, optionally :port); repeat",
    )
    parser.add_argument(
        "--no-hermetic",
        dest="hermetic",
        action="store_false",
        help="allow every destination, not only loopback (the default refuses the rest)",
    )
    parser.add_argument("--connect-timeout", type=float, default=10.0, metavar="SECONDS")
    parser.add_argument(
        "--uvloop", action="store_true", help="run on uvloop (pip install 'pytest-socks5[fast]')"
    )
    parser.add_argument(
        "--splice", action="store_true", help="relay with Linux splice(2) (zero-copy)"
    )
    parser.add_argument("--quiet", action="store_true", help="do not log connections")
    return parser


def _log(record: ConnectionRecord) -> None:
    print(describe_record(record), flush=True)


async def _serve(args: argparse.Namespace) -> None:
    server = SOCKS5Server(
        args.host,
        args.port,
        users=dict(args.users) or None,
        socks4=args.socks4,
        connect_timeout=args.connect_timeout,
        hermetic=args.hermetic,
        allow=args.allow,
        splice=args.splice,
        on_connection_end=None if args.quiet else _log,
    )
    async with server:
        print(f"pytest-socks5 listening on {server.url}", flush=True)
        await asyncio.Event().wait()


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    loop_factory = None
    if args.uvloop:
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
