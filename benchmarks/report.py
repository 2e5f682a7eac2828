"""The output: the table of direct and proxied figures with ratios, and its footnotes.

Strategy: the results are plain dicts (the same ones the JSON line carries); this module
only formats them, so what the table says is always what the JSON says.
"""

from __future__ import annotations

from typing import Any

from .settings import NETWORK, PROXY_ARGS

SUBPROCESS = "proxy: separate process (python -m pytest_socks5 --port 0 --quiet --loop NAME)"

IN_PROCESS = "proxy: in-process SOCKS5Server (thread)"


def table_rows(results: dict[str, dict[str, Any]]) -> list[list[str]]:
    rows: list[list[str]] = []

    def add(*cells: Any, met: bool | None = None) -> None:
        status = "" if met is None else ("met" if met else "gap")
        rows.append([*(str(c) for c in cells), status])

    def ratio(title: str, metric: str, r: dict[str, Any], d: str, p: str) -> None:
        add(title, metric, r[d], r[p], f"{r['ratio']:.2f}x", f"{r['target']}x", met=r["met"])

    def cpu(r: dict[str, Any]) -> None:
        c = r["cpu"]
        proxied = f"{c['client_target_proxied']} / {c['proxy']}"
        add("", "cpu cores: client+target / proxy", c["client_target_direct"], proxied, "", "")

    if r := results.get("oneway"):
        ratio(f"one-way {r['mib']} MiB", "MB/s", r, "direct_mb_s", "proxied_mb_s")
        cpu(r)
    if r := results.get("echo"):
        ratio(f"echo {r['mib']} MiB", "MB/s each way", r, "direct_mb_s", "proxied_mb_s")
        cpu(r)
    if r := results.get("parallel"):
        for k, t in r["tunnels"].items():
            title = f"parallel {k} x {r['mib'] / int(k):g} MiB"
            add(
                title,
                "MB/s, all tunnels",
                t["direct_mb_s"],
                t["proxied_mb_s"],
                f"{t['ratio']:.2f}x",
                "",
            )
            cpu(t)
    if r := results.get("handshake"):
        ratio(f"handshake x{r['count']}", "per second", r, "direct_per_s", "proxied_per_s")
        p50 = (r["direct_p50_us"], r["proxied_p50_us"], f"{r['p50_ratio']:.2f}x")
        add("", "latency p50 µs", *p50, f"{r['p50_target']}x", met=r["p50_met"])
        add("", "latency p99 µs", r["direct_p99_us"], r["proxied_p99_us"], "", "")
        ms = r["proxy_cpu_per_handshake_ms"]
        cpu_t = f"{r['cpu_target']} ms"
        add("", "proxy CPU per handshake ms", "-", ms, f"{ms:.3f} ms", cpu_t, met=r["cpu_met"])
        cpu(r)
    if r := results.get("at_once"):
        ratio(f"{r['count']} at once", "ms until all established", r, "direct_ms", "proxied_ms")
        scaled = "" if r["count"] == 1000 else f" (result x{1000 / r['count']:g})"
        add(
            "",
            f"proxy RSS increase MiB{scaled}",
            "-",
            r["rss_increase_mib"],
            f"{r['rss_increase_per_1000_mib']:.1f} MiB/1000",
            f"{r['mem_target']} MiB",
            met=r["mem_met"],
        )
        est = " (est.)" if r["pss_1000_estimated"] else ""
        add(
            "",
            f"proxy PSS MiB: idle / {r['count']} open",
            "-",
            f"{r['pss_before_mib']} / {r['pss_with_tunnels_mib']}",
            f"{r['pss_1000_mib']:.1f} MiB at 1000{est}",
            f"{r['pss_target']} MiB",
            met=r["pss_met"],
        )
        cpu(r)
    if r := results.get("scale"):
        title = f"scale {r['count']} tunnels"
        if r["count"] != r["requested"]:
            title += f" (of {r['requested']})"
        metric = "ms until all open + echoed"
        add(title, metric, r["direct_ms"], r["proxied_ms"], f"{r['ratio']:.2f}x", "")
        errs = f"{r['errors']} errors"
        add("", "failed tunnels", r["direct_errors"], r["errors"], errs, r["target"], met=r["met"])
        add(
            "",
            "proxy RSS increase MiB",
            "-",
            r["rss_increase_mib"],
            f"{r['rss_per_tunnel_kib']:.1f} KiB/tunnel, "
            f"{r['rss_increase_per_1000_mib']:.1f} MiB/1000",
            f"{r['mem_target']} MiB",
            met=r["mem_met"],
        )
        add(
            "",
            "proxy open fds, idle / with tunnels",
            "",
            f"{r['proxy_fds_idle']} / {r['proxy_fds_with_tunnels']}",
            "",
            "",
        )
        cpu(r)
    if r := results.get("pingpong"):
        ratio(f"ping-pong x{r['round_trips']}", "RTT p50 µs", r, "direct_p50_us", "proxied_p50_us")
        add(
            "", "RTT p99 µs", r["direct_p99_us"], r["proxied_p99_us"], f"{r['p99_ratio']:.2f}x", ""
        )
        cpu(r)
    if r := results.get("startup"):
        title = f"CLI start x{r['count']}"
        direct = f"{r['direct_start_ms']} ({r['direct_start_best_ms']})"
        proxied = f"{r['start_ms']} ({r['start_best_ms']})"
        value, target = f"{r['start_ms']:.0f} ms", f"{r['start_target']} ms"
        add(
            title,
            "ms to listening, median (best)",
            direct,
            proxied,
            value,
            target,
            met=r["start_met"],
        )
        value, target = f"{r['idle_pss_mib']:.1f} MiB", f"{r['pss_target']} MiB"
        pss = (r["direct_pss_mib"], r["idle_pss_mib"], value, target)
        add("", "idle PSS MiB, median", *pss, met=r["pss_met"])
    if r := results.get("fixture"):
        add(
            f"fixture x{r['tests']}",
            f"pytest wall s (min of {r['runs']})",
            r["without_s"],
            r["with_s"],
            f"{r['ms_per_test']:.3f} ms/test",
            f"{r['target']} ms",
            met=r["met"],
        )
        per_phase = f"{r['ms_per_test_from_phase_durations']:.3f} ms/test"
        add("", "same, from phase durations", "", "", per_phase, "")
        noop = f"{r['noop_fixture_ms_per_test']:.3f} ms/test"
        add("", "ref: no-op yield fixture", "", r["noop_fixture_s"], noop, "")
    if r := results.get("request"):
        add(
            f"requests.get x{r['requests']}",
            "median ms",
            r["direct_median_ms"],
            r["proxied_median_ms"],
            f"+{r['ms_added']:.3f} ms",
            f"{r['target']} ms",
            met=r["met"],
        )
    if r := results.get("startstop"):
        title = f"SOCKS5Server x{r['count']}"
        for i, what in enumerate(("start", "stop")):
            value = f"{r[what + '_ms']:.2f} ms"
            target = f"{r[what + '_target']} ms"
            metric = f"{what}() ms, median"
            add(
                title if i == 0 else "",
                metric,
                "",
                r[what + "_ms"],
                value,
                target,
                met=r[what + "_met"],
            )
    if r := results.get("bytecodes"):
        # Counted, not timed: the proxy's own Python work, with no direct counterpart.
        split = f"ours {r['pytest_socks5']}, asyncio {r['asyncio']}, other {r['other']}"
        title, metric = f"bytecodes x{r['count']}", "per handshake (server thread)"
        add(title, metric, "", r["per_handshake"], split, "")
    if r := results.get("audit"):
        # A cost to know, not a target: shown as a ratio, never met or missed.
        for i, (what, metric) in enumerate(
            (("lookup", "getaddrinfo(literal) µs"), ("socket", "socket() + close() µs"))
        ):
            add(
                "audit hook, idle x" + str(r["calls"]) if i == 0 else "",
                metric,
                r[f"{what}_without_us"],
                r[f"{what}_with_us"],
                f"{r[f'{what}_ratio']:.2f}x",
                "",
            )
    if r := results.get("plugin_load"):
        # A cost to know, not a target: what an installed plugin adds to a run not using it.
        for i, (env, metric) in enumerate(
            (("cached", "pytest wall ms, min (median)"), ("no_bytecode", "same, no .pyc written"))
        ):
            e = r[env]
            add(
                f"plugin load x{r['runs']}" if i == 0 else "",
                metric,
                f"{e['baseline_ms']:.0f} ({e['baseline_median_ms']:.0f})",
                f"{e['loaded_ms']:.0f} ({e['loaded_median_ms']:.0f})",
                f"{e['ms_added']:+.0f} ms, {e['ratio']:.2f}x",
                "",
            )
        base, loaded = r["modules"]["baseline"], r["modules"]["loaded"]
        add(
            "",
            "modules: pytest_socks5 / all",
            f"{base['pytest_socks5_modules']} / {base['modules']}",
            f"{loaded['pytest_socks5_modules']} / {loaded['modules']}",
            f"+{loaded['modules'] - base['modules']} modules",
            "",
        )
        add("", "imported: _server, asyncio", _imported(base), _imported(loaded), "", "")
    return rows


def _imported(found: dict[str, Any]) -> str:
    return ", ".join("yes" if found[k] else "no" for k in ("server", "asyncio"))


def print_table(sections: dict[str, dict[str, dict[str, Any]]], errors: dict[str, str]) -> None:
    """One table, a section per heading (``proxy on asyncio``, ``proxy on uvloop``, ``in
    this process``), then the footnotes."""
    header = ["benchmark", "metric", "direct", "proxied", "result", "target", ""]
    parts = {title: table_rows(results) for title, results in sections.items() if results}
    rows = [row for part in parts.values() for row in part]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    line = "  ".join("-" * w for w in widths)
    print(line)
    print("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)))
    for title, part in parts.items():
        print(line)
        print(f"[{title}]")
        for row in part:
            print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
    print(line)
    merged = {n: r for results in sections.values() for n, r in results.items()}
    net = [n for n in NETWORK if n in merged and n != "scale"]
    if net:
        print(f"{', '.join(net)}: {SUBPROCESS}; client and targets: threads of this process")
    if "startup" in merged:
        print(f"CLI start: {SUBPROCESS}, alone; direct: python -c (print a line, sleep)")
    for title, results in sections.items():
        if r := results.get("scale"):
            print(
                f"scale ({title}): {SUBPROCESS}; client: one selectors loop; echo target: a "
                f"third process; at most {r['window']} tunnels connecting at a time; "
                f"RLIMIT_NOFILE {r['nofile'][0]}"
                + (f" ({r['nofile_note']})" if r["nofile_note"] else "")
            )
            if r["error_samples"]:
                print(f"scale errors, for example: {'; '.join(r['error_samples'])}")
            if r["proxy_stderr"]:
                print(f"scale: the proxy's stderr: {r['proxy_stderr']}")
    pins = {n: r["pinned_cpu"] for n, r in merged.items() if r.get("pinned_cpu") is not None}
    if pins:
        cpus = sorted(set(pins.values()))
        print(f"{', '.join(pins)}: client, targets and proxy pinned to CPU {cpus[0]} (--no-pin)")
    local = [n for n in ("fixture", "request", "startstop") if n in merged]
    if local:
        args = f"; {' '.join(PROXY_ARGS)} does not apply" if PROXY_ARGS else ""
        loop = f" (loop 'auto': uvloop when installed{args})"
        print(f"{', '.join(local)}: {IN_PROCESS}{loop}")
    if "bytecodes" in merged:
        print(
            "bytecodes: a child process, SOCKS5Server on the run's loop, its thread traced "
            "(Python bytecodes only, not the C code of uvloop or the interpreter)"
        )
    if "audit" in merged:
        print("audit: a child process, without the leak hook and then with it installed, idle")
    if "plugin_load" in merged:
        print(
            "plugin load: child pytest runs of one test using no fixture, with -p no:socks5 "
            "(direct) and the plugin loaded (proxied), alternating; cached .pyc, then "
            "PYTHONDONTWRITEBYTECODE=1 (pytest re-compiles the plugins it rewrites each run)"
        )
    for name, err in errors.items():
        print(f"ERROR in {name}: {err}")
