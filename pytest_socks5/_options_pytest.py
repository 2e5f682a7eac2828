"""The options only the pytest plugin reads (reports, records, the leak guard): a part
of the table in :mod:`._options`, kept apart for its size.

Strategy: declarations only, as in :mod:`._options`; they are never ``SOCKS5Server``
arguments, so the plugin takes them out of a marker before it configures a server.
Pure.
"""

from __future__ import annotations

from ._chaos_settings import DEFAULT_RATE, marker_chaos, text_chaos
from ._option_model import Flag, Ini, Option, Site
from ._option_parsers import (
    leak_guard,
    pcap_switch,
    text_choice,
    text_pcap,
    text_record_dir,
    text_switch,
)

__all__ = ["PYTEST_OPTIONS"]

_PYTEST = frozenset[Site]()  # only as an ini option and a pytest flag


PYTEST_OPTIONS: tuple[Option, ...] = (
    # -- reports: pytest only ---------------------------------------------------------------
    Option(
        name="transcript",
        default="failed",
        doc="Which reports of proxy-using tests get a transcript: failed, all or never.",
        given_to=_PYTEST,
        ini=Ini(default="failed"),
        flag=Flag(
            name="--socks5-transcript",
            choices=("failed", "all", "never"),
            help="add a transcript of the proxy's connections to the report of tests that "
            "used it: failed (default), all (passing tests too; pytest shows their sections "
            "with -rP) or never",
        ),
        from_text=text_choice("socks5_transcript", ("failed", "all", "never")),
    ),
    Option(
        name="record_dir",
        default="",
        doc="Write each proxy-using test's connection records to this directory as JSON lines.",
        given_to=_PYTEST,
        ini=Ini(help="directory (relative to the rootdir) for each test's records as JSON lines"),
        flag=Flag(name="--socks5-record-dir", metavar="DIR"),
        from_text=text_record_dir,
        default_doc="off",
    ),
    Option(
        name="pcap",
        default="",
        doc="Write each proxy-using test's connections to this directory as a pcapng file; "
        "the marker's pcap=True writes this test's (to socks5-pcap if no directory is "
        "given), pcap=False none.",
        given_to=frozenset({Site.MARKER}),
        check=pcap_switch,
        ini=Ini(
            help="directory (relative to the rootdir) for each test's pcapng capture; "
            "true: socks5-pcap"
        ),
        flag=Flag(
            name="--socks5-pcap",
            metavar="DIR",
            help="write each proxy-using test's connections to DIR as a pcapng file "
            "(true: socks5-pcap; default: ini socks5_pcap, or none)",
        ),
        from_text=text_pcap,
        default_doc="off",
    ),
    Option(
        name="chaos",
        default=0.0,
        doc="Chaos mode: give each connection, with this probability, one fault of a "
        "faithful catalog, seeded per test from socks5_seed; the marker's chaos=False "
        "opts a test out.",
        given_to=frozenset({Site.MARKER}),
        check=marker_chaos,
        ini=Ini(help="chaos mode's rate, from 0 (off, the default) to 1"),
        flag=Flag(
            name="--socks5-chaos",
            nargs="?",
            const=str(DEFAULT_RATE),
            metavar="RATE",
            help="chaos mode: each connection gets, with probability RATE (default "
            f"{DEFAULT_RATE}), one fault real proxies and networks produce; seeded by "
            "--socks5-seed. Give a RATE with '=' (--socks5-chaos=0.3): a bare "
            "--socks5-chaos before a test path would take the path as its RATE",
        ),
        from_text=text_chaos,
        default_doc="off",
    ),
    Option(
        name="show_passwords",
        default=False,
        doc="Show RFC 1929 passwords in transcripts and record files instead of ***.",
        given_to=_PYTEST,
        ini=Ini(type="bool", default=False),
        flag=Flag(name="--socks5-show-passwords", action="store_true"),
        from_text=text_switch("socks5_show_passwords"),
    ),
    Option(
        name="leak_guard",
        default=None,
        doc="Fail a test whose client looked a name up itself (a DNS leak) or connected "
        'around the proxy: True, or {"allow": [patterns]}.',
        given_to=frozenset({Site.MARKER}),
        check=leak_guard,
        ini=Ini(
            type="bool",
            default=False,
            help="fail proxy-using tests whose client resolves names itself or connects "
            "around the proxy (default false)",
        ),
        flag=Flag(
            name="--socks5-leak-guard",
            action="store_const",
            const=True,
            help="fail proxy-using tests whose client resolves names itself or connects "
            "around the proxy (DNS leaks, bypasses)",
        ),
        from_text=text_switch("socks5_leak_guard"),
        default_doc="off",
    ),
)
