"""``python -m pytest_socks5``: the same server in the foreground, one log line a connection.

Strategy: the flags are built from the option table (plus the command line's own:
``--fault``, ``--show-credentials``, ``--quiet``), and every value is checked by its
declaration before anything listens, so what the server cannot run with — a bad value, a
port it cannot listen on — is one line on stderr naming the flag and the value, and exit
status 2, never a traceback. The server runs on this process's event loop, which handles
SIGINT and SIGTERM itself (SIGINT even when it was inherited as ignored, as a script's
``&`` starts it): either stops it gracefully — the listeners close, open connections are
ended and logged — then ``pytest-socks5 stopped (SIGTERM)`` on stderr and exit status 0.
A log line is the record's one-line description after a timestamp; a refusal by the
hermetic default names this command's flags, ``--allow`` and ``--no-hermetic``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import shlex
import signal
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

from ._fault_spec import parse_fault
from ._option_parsers import resolve_loop
from ._options import CLI_MAX_RECORDS, OPTIONS
from ._options import option as declared
from ._records import ConnectionRecord
from ._runner import loop_factory
from ._server import SOCKS5Server
from ._server_addresses import listen_failure
from ._transcript import describe_record

__all__ = ["CLI_MAX_RECORDS", "main"]

PROG = "python -m pytest_socks5"
_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class _Parser(argparse.ArgumentParser):
    """An argparse parser whose errors are one line: no usage block above them."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (--help lists the options)\n")


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
    parser = _Parser(
        prog=PROG,
        description="Run the pytest-socks5 SOCKS5 proxy in the foreground until Ctrl-C "
        "or SIGTERM.",
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
    parser.add_argument(  # the flag of releases before --loop
        "--uvloop", dest="loop", action="store_const", const="uvloop", help=argparse.SUPPRESS
    )
    parser.add_argument(
        "--fault",
        dest="faults",
        action="append",
        type=_argparse_type(parse_fault),
        default=[],
        metavar="SPEC",
        help="inject a fault from pytest_socks5.faults, as NAME[:VALUES][,KEY=VALUE...] "
        "(delay:request:0.5, replywith:connection_refused,host=*.test); a value with ':' "
        "(IPv6) as KEY=VALUE or, bare, in brackets ([::1]); repeat for several",
    )
    parser.add_argument(
        "--show-credentials",
        action="store_true",
        help="print the password in the URL on the first line (default: ***)",
    )
    parser.add_argument("--quiet", action="store_true", help="do not log connections")
    return parser


def _check(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Every value through its declaration's check, before anything listens: a bad one is
    a one-line error naming the flag and the value (for a repeated flag, the bad one)."""
    for option in OPTIONS:
        if option.main is None:
            continue
        value = getattr(args, option.name)
        try:
            option.normalise(value)
        except (TypeError, ValueError) as exc:
            for item in value if isinstance(value, list) else ():
                try:
                    option.normalise([item])
                except (TypeError, ValueError):
                    value = item
                    break
            message = str(exc)
            # A --user message names the user and never shows the password: no value added.
            said = repr(value) in message or (str(value) and str(value) in message)
            if option.name != "users" and not said:
                message += f" (got {value!r})"
            parser.error(f"argument {option.main.name}: {message}")


class _Log:
    """Prints each ended connection: a timestamp, then its one-line description. Cheap:
    the date and time are formatted once a second, only a refusal is re-worded, and the
    lines are flushed together, at most :data:`LOG_FLUSH` seconds after the first of them
    (one write for a burst of connections instead of one each)."""

    def __init__(self) -> None:
        self._second = -1
        self._prefix = ""
        self._flush: asyncio.TimerHandle | None = None

    def __call__(self, record: ConnectionRecord) -> None:
        at = record.ended_at or time.time()
        second = int(at)
        if second != self._second:
            self._second = second
            self._prefix = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(second))
        if record.denied_by is not None or record.error:
            record = _with_cli_hint(record)
        millis = int((at - second) * 1000)
        sys.stdout.write(f"{self._prefix}.{millis:03d} {describe_record(record)}\n")
        if self._flush is None:
            self._flush = asyncio.get_running_loop().call_later(LOG_FLUSH, self.flush)

    def flush(self) -> None:
        """Write out the lines not flushed yet (also at the stop, before its message)."""
        if self._flush is not None:
            self._flush.cancel()
            self._flush = None
        sys.stdout.flush()


def _cli_flag(name: str) -> str:
    """The flag this command line gives the option ``name`` (from its one declaration)."""
    flag = declared(name).main
    assert flag is not None
    return flag.name


_USER_IDS = _cli_flag("socks4_user_ids")  # --socks4-user-id


def _with_cli_hint(record: ConnectionRecord) -> ConnectionRecord:
    """A refusal by the hermetic default, with how to allow it in this command's flags
    (the record's own error names the pytest marker and ini options); a SOCKS 4 USERID
    refusal naming ``--socks4-user-id``, not the keyword argument."""
    reason, error, host = record.denied_by, record.error, record.host
    if error and "socks4_user_ids" in error:  # the option's name, as this command spells it
        return dataclasses.replace(record, error=error.replace("socks4_user_ids", _USER_IDS))
    if reason is None or not reason.startswith("hermetic default") or not error or not host:
        return record
    what, denied, _ = error.partition(f" denied by the {reason}")
    if not denied:
        return record
    pattern = shlex.quote(f"[{host}]" if ":" in host else host)
    return dataclasses.replace(
        record,
        error=f"{what} denied by the {reason}: the proxy is hermetic and refuses "
        "destinations outside loopback, without any DNS lookup or dial. To allow it, "
        f"restart with --allow {pattern} (repeatable: host globs or networks, optionally "
        ":port), or with --no-hermetic to allow every destination.",
    )


#: Seconds a log line may wait to be written with the ones that follow it.
LOG_FLUSH = 0.05


def _error(message: str) -> int:
    print(f"{PROG}: error: {message}", file=sys.stderr, flush=True)
    return 2


async def _serve(args: argparse.Namespace) -> int:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    received: list[signal.Signals] = []

    def on_signal(signum: signal.Signals) -> None:
        received.append(signum)
        stop.set()

    # Before listening, so a signal after the first line always finds them. SIGINT too
    # when inherited as ignored: a script's "proxy &" should not outlive its Ctrl-C.
    for signum in _STOP_SIGNALS:
        with contextlib.suppress(ValueError, RuntimeError):  # not the main thread
            loop.add_signal_handler(signum, on_signal, signum)

    options = {o.name: getattr(args, o.name) for o in OPTIONS if o.main is not None}
    log = None if args.quiet else _Log()
    with warnings.catch_warnings(record=True) as caught:  # the text only, not a source line
        server = SOCKS5Server(**options, faults=args.faults, on_connection_end=log)
    for warning in caught:
        print(f"{PROG}: warning: {warning.message}", file=sys.stderr, flush=True)
    try:
        await server.astart()
    except OSError as exc:
        given = f"--host {args.host} --port {args.port}"
        return _error(listen_failure(args.host, args.port, exc, given))
    try:
        url = server.url if args.show_credentials else server.url_masked
        print(f"pytest-socks5 listening on {url}", flush=True)
        print(f"pytest-socks5: event loop {args.loop}", file=sys.stderr, flush=True)
        await stop.wait()
    finally:
        await server.aclose()
        if log is not None:
            log.flush()  # the connections the stop ended, before "stopped"
    print(f"pytest-socks5 stopped ({received[0].name})", file=sys.stderr, flush=True)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    _check(parser, args)
    args.loop = resolve_loop(args.loop)
    try:
        factory = loop_factory(args.loop)
    except ImportError as exc:
        return _error(f"--loop uvloop: {exc}")
    if hasattr(sys.stdout, "reconfigure"):  # arrows in log lines on a non-UTF-8 terminal
        sys.stdout.reconfigure(errors="backslashreplace")
    try:
        with asyncio.Runner(loop_factory=factory) as runner:
            return runner.run(_serve(args))
    except KeyboardInterrupt:  # Ctrl-C before the handlers were in place
        print("pytest-socks5 stopped (SIGINT)", file=sys.stderr, flush=True)
        return 0


if __name__ == "__main__":
    sys.exit(main())
