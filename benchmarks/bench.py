#!/usr/bin/env python
"""Benchmarks of pytest-socks5 against a direct loopback connection in the same run.

Usage: python benchmarks/bench.py [--quick] [--json-only] [--only NAME ...]
       [--loops asyncio,uvloop] [--proxy-arg=ARG ...]

Every proxied figure is compared with the same client and target code talking to the
target directly. Clients and targets run in this process (plain blocking sockets and
threads, or one ``selectors`` loop); the proxy runs in a separate process
(``python -m pytest_socks5 --port 0 --quiet --loop NAME``, once per loop of ``--loops``)
for the network benchmarks and the command line's start-up, and in this process
(``SOCKS5Server`` on its own thread, as the fixture does) for fixture, request and
start/stop. ``scale`` puts its echo target in a third process (``--echo-target``), so no
process needs more than two file descriptors per tunnel. Only loopback (127.0.0.1) is
used. The last stdout line is one JSON object.

Strategy: this file is only the entry point; the code is the ``benchmarks`` package next
to it (see ``benchmarks/__init__.py``). Run as a script, it puts the project root first on
``sys.path`` instead of this directory, so the package's modules are imported as
``benchmarks.*`` and never shadow top-level modules of the same name.
"""

from __future__ import annotations

import sys
from pathlib import Path

if __name__ == "__main__":
    HERE = Path(__file__).resolve().parent
    if sys.path and Path(sys.path[0] or ".").resolve() == HERE:
        sys.path[0] = str(HERE.parent)
    elif str(HERE.parent) not in sys.path:
        sys.path.insert(0, str(HERE.parent))

    from benchmarks.cli import main

    sys.exit(main())
