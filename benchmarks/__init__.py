"""Benchmarks of pytest-socks5 against a direct loopback connection measured in the same run.

Strategy: one module per responsibility — ``settings`` (sizes, targets), ``processes``
(the proxy and echo-target child processes), ``targets`` (direct targets), ``client``
(connects through :mod:`pytest_socks5.rawclient`), ``measure`` (timing, CPU, verdicts), the
workloads (``throughput``, ``connections``, ``inprocess``), ``report`` (the table) and
``cli`` (``main``). ``benchmarks/bench.py`` is the command-line entry point.
"""
