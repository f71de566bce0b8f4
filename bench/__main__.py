"""Run the benchmarks: `python -m bench [--quick] [--json PATH] [--only a,b] [--in-process]`.

Each module's `run(quick)` runs in a child process of its own (its own nats-server, event loop
and memory; a hang is killed at a time limit) and reports a dict; a failing one becomes null
figures plus an entry in `errors`. The runner derives the ratios, prints a table and writes
one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any

MODULES = (
    "publish",
    "replay",
    "spec_speed",
    "ticker_load",
    "ticker_burst",
    "native_schedule",
    "executor_speed",
    "apscheduler_peer",
    "cli_latency",
    "web_api",
    "growth",
    "views_memory",
    "stats_query",
    "lost_burst",
    "deleted_churn",
)
REQUIRED = (
    "raw_publish_per_s", "append_events_per_s", "append_ratio",
    "raw_replay_per_s", "replay_events_per_s", "replay_ratio", "rebuild_seconds_1m",
    "nats_native_burst_10k_seconds", "spec_next_us", "ticker_load_seconds", "ticker_rss_mib",
    "burst_10k_seconds", "lateness_p50_ms", "lateness_p99_ms",
    "trigger_to_start_p50_ms", "trigger_to_start_p99_ms", "executor_runs_per_s",
    "executor_true_runs_per_s", "apscheduler_burst_10k_seconds", "apscheduler_lateness_p99_ms",
    "python_startup_ms", "cli_floor_ms", "cli_version_ms", "cli_preview_ms", "cli_list_ms",
    "append_ratio_vs_msgid", "burst_ratio_vs_native", "ticker_load_seconds_1m_est",
    "ticker_rss_mib_1m_est", "serve_rss_mib_1m_events", "serve_rss_mib_3m_events",
    "serve_rss_growth_ratio", "restart_seconds_3m_events", "runs_query_ms", "stats_query_ms",
    "disk_bytes_per_run",
)  # fmt: skip
TIME_LIMIT_S = {True: 150.0, False: 1200.0}
"""Per module, quick and full."""
LONGER_LIMIT_S = {"growth": {True: 780.0, False: 3660.0}}
"""Modules that write millions of events."""

Check = Callable[[float], bool] | None
# (metric, target as text, test) in table order; test None = reference figure, no target
TABLE: tuple[tuple[str, str, Check], ...] = (
    ("raw_publish_per_s", "reference", None),
    ("append_events_per_s", "", None),
    ("append_ratio", ">= 0.8", lambda v: v >= 0.8),
    ("raw_publish_msgid_per_s", "reference", None),
    ("append_ratio_vs_msgid", ">= 0.85", lambda v: v >= 0.85),
    ("raw_replay_per_s", "reference", None),
    ("replay_events_per_s", ">= 150000", lambda v: v >= 150_000),
    ("replay_ratio", ">= 1", lambda v: v >= 1.0),
    ("rebuild_seconds_1m", "<= 6.7", lambda v: v <= 6.7),
    ("spec_next_us", "", None),
    ("spec_next_cold_us", "", None),
    ("spec_next_ext_us", "", None),
    ("ticker_load_seconds", "", None),
    ("ticker_rss_mib", "", None),
    ("ticker_rss_mib_1m", "< 1024 @ 1M", lambda v: v < 1024),
    ("ticker_load_seconds_1m_est", "<= 20", lambda v: v <= 20),
    ("ticker_rss_mib_1m_est", "<= 600", lambda v: v <= 600),
    ("ticker_restore_seconds_1m_est", "", None),
    ("burst_10k_seconds", "< 0.5 (hard <= 1)", lambda v: v < 0.5),
    ("burst_ratio_vs_native", "<= 1.2", lambda v: v <= 1.2),
    ("burst_10k_at_seconds", "< 0.5 (hard <= 1)", lambda v: v < 0.5),
    ("lateness_p50_ms", "", None),
    ("lateness_p99_ms", "< 20", lambda v: v < 20),
    ("nats_native_burst_10k_seconds", "reference", None),
    ("apscheduler_burst_10k_seconds", "reference", None),
    ("apscheduler_lateness_p99_ms", "reference", None),
    ("lost_tick_seconds", "", None),
    ("lost_client_us_per_run", "", None),
    ("trigger_to_start_p50_ms", "< 5", lambda v: v < 5),
    ("trigger_to_start_p99_ms", "< 25", lambda v: v < 25),
    ("executor_runs_per_s", "", None),
    ("executor_true_runs_per_s", "", None),
    ("python_startup_ms", "reference", None),
    ("cli_floor_ms", "reference", None),
    ("cli_version_ms", "", None),
    ("cli_version_over_python_ms", "<= 150", lambda v: v <= 150),
    ("cli_help_over_python_ms", "<= 150", lambda v: v <= 150),
    ("cli_preview_ms", "", None),
    ("cli_preview_over_python_ms", "<= 150", lambda v: v <= 150),
    ("cli_list_ms", "", None),
    ("cli_list_over_floor_ms", "<= 100", lambda v: v <= 100),
    ("api_p50_ms", "", None),
    ("api_list_p50_ms", "", None),
    ("api_get_run_p50_ms", "", None),
    ("api_overhead_ms", "", None),
    ("serve_rss_mib_1m_events", "", None),
    ("serve_rss_mib_3m_events", "", None),
    ("serve_rss_growth_ratio", "<= 1.1 (flat: 1.0)", lambda v: v <= 1.1),
    ("serve_rss_growth_ratio_caught_up", "reference", None),
    ("restart_seconds_1m_events", "", None),
    ("restart_seconds_3m_events", "flat", None),
    ("restart_growth_ratio", "<= 1.1 (flat: 1.0)", lambda v: v <= 1.1),
    ("serve_rss_mib_10m_events_est", "", None),
    ("restart_seconds_10m_events_est", "", None),
    ("runs_query_ms", "<= 50 @ 3M", lambda v: v <= 50),
    ("stats_query_ms", "<= 50 @ 3M", lambda v: v <= 50),
    ("stats_query_inproc_ms", "<= 50", lambda v: v <= 50),
    ("stats_walk_inproc_ms", "reference", None),
    ("disk_bytes_per_run", "", None),
    ("views_rss_mib_folded", "reference", None),
    ("views_rss_mib_restored", "", None),
    ("views_restored_vs_folded", "<= 1.0", lambda v: v <= 1.0),
    ("views_restore_seconds", "", None),
    ("views_rss_mib_restored_3x", "", None),
    ("views_state_growth_ratio", "<= 1.05 (flat: 1.0)", lambda v: v <= 1.05),
)


# ---------------------------------------------------------------- running modules


async def run_module(name: str, quick: bool) -> dict[str, Any]:
    """One benchmark module's figures."""
    module = importlib.import_module(f"bench.{name}")
    result: dict[str, Any] = await module.run(quick)
    return result


def _child(name: str, quick: bool, out: Path) -> int:
    try:
        result = {"result": asyncio.run(run_module(name, quick))}
    except BaseException as err:  # noqa: BLE001 - reported to the parent, which carries on
        result = {"error": f"{type(err).__name__}: {err}", "traceback": traceback.format_exc()}
    out.write_text(json.dumps(result))
    return 0


def _in_child(name: str, quick: bool, limit: float) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="jetcron-bench-") as tmp:
        out = Path(tmp) / "result.json"
        argv = [sys.executable, "-m", "bench", "--child", name, "--out", str(out)] + (
            ["--quick"] if quick else []
        )
        try:
            proc = subprocess.run(argv, timeout=limit, capture_output=True, text=True, check=False)
        except subprocess.TimeoutExpired as err:
            tail = (err.stderr or b"")[-2000:]
            return {"error": f"killed after the {limit:.0f}s time limit", "stderr": str(tail)}
        if not out.exists():
            return {
                "error": f"exited with {proc.returncode} and no result",
                "stderr": proc.stderr[-2000:],
            }
        data: dict[str, Any] = json.loads(out.read_text())
        if proc.stderr.strip():
            data["stderr"] = proc.stderr[-2000:]
        return data


def _in_process(name: str, quick: bool) -> dict[str, Any]:
    try:
        return {"result": asyncio.run(run_module(name, quick))}
    except Exception as err:  # noqa: BLE001 - carry on with the next module
        return {"error": f"{type(err).__name__}: {err}", "traceback": traceback.format_exc()}


def run_all(modules: list[str], quick: bool, *, isolated: bool = True) -> dict[str, Any]:
    """Run the modules in order; one JSON-ready dict of figures, notes and errors."""
    report: dict[str, Any] = dict.fromkeys(REQUIRED)
    report |= {"quick": quick, "notes": [], "errors": {}, "module_seconds": {}, "load_average": {}}
    started = time.perf_counter()
    for name in modules:
        print(f"[bench] {name} ...", file=sys.stderr, flush=True)
        load_before = os.getloadavg()[0]
        t0 = time.perf_counter()
        limit = LONGER_LIMIT_S.get(name, TIME_LIMIT_S)[quick]
        data = _in_child(name, quick, limit) if isolated else _in_process(name, quick)
        report["module_seconds"][name] = round(time.perf_counter() - t0, 1)
        report["load_average"][name] = [round(load_before, 2), round(os.getloadavg()[0], 2)]
        if "error" in data:
            report["errors"][name] = data["error"]
            print(
                f"[bench] {name} FAILED: {data['error']}\n"
                + data.get("traceback", data.get("stderr", "")),
                file=sys.stderr,
                flush=True,
            )
            continue
        result = dict(data["result"])
        report["notes"] += result.pop("notes", [])
        report |= result
    _derive(report)
    report["seconds"] = round(time.perf_counter() - started, 1)
    report["env"] = _environment()
    return report


def _ratio(a: Any, b: Any) -> float | None:
    return (
        round(a / b, 3) if isinstance(a, int | float) and isinstance(b, int | float) and b else None
    )


def _derive(report: dict[str, Any]) -> None:
    """Ratios from figures of this same run."""
    report["append_ratio"] = _ratio(
        report.get("append_events_per_s"), report.get("raw_publish_per_s")
    )
    report["append_ratio_vs_msgid"] = _ratio(
        report.get("append_events_per_s"), report.get("raw_publish_msgid_per_s")
    )
    report["burst_ratio_vs_native"] = _ratio(
        report.get("burst_10k_seconds"), report.get("nats_native_burst_10k_seconds")
    )
    report["replay_ratio"] = _ratio(
        report.get("replay_events_per_s"), report.get("raw_replay_per_s")
    )
    full = report.get("ticker_schedules") == 1_000_000
    report["ticker_rss_mib_1m"] = (
        report.get("ticker_rss_mib") if full else report.get("ticker_rss_mib_1m_est")
    )


def _environment() -> dict[str, Any]:
    from jetcron.serverproc import find_nats_server

    try:
        server = subprocess.run(
            [find_nats_server(), "--version"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        ).stdout.strip()
    except Exception as err:  # noqa: BLE001 - informational only
        server = f"unknown ({err})"
    versions = {}
    for package in ("nats-py", "msgspec", "APScheduler"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    import jetcron

    return {
        "jetcron": str(Path(jetcron.__file__).resolve().parent),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "nats_server": server,
        **versions,
    }


# ---------------------------------------------------------------- output


def _fmt(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, float) and abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:,}" if isinstance(value, int) else f"{value:g}"


def table(report: dict[str, Any]) -> str:
    """metric | value | target | ok?"""
    rows = [("metric", "value", "target", "ok?")]
    for key, target, check in TABLE:
        value = report.get(key)
        ok = (
            "-"
            if check is None
            else ("n/a" if value is None else ("yes" if check(value) else "NO"))
        )
        rows.append((key, _fmt(value), target, ok))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    lines = [" | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    lines.insert(1, "-+-".join("-" * w for w in widths))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Command line entry point."""
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="smaller sizes; under 3 minutes on 2 cores"
    )
    parser.add_argument("--json", type=Path, help="write the JSON report here")
    parser.add_argument("--only", help="comma-separated module names (default: all)")
    parser.add_argument("--in-process", action="store_true", help="run modules in this process")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return _child(args.child, args.quick, args.out)
    modules = args.only.split(",") if args.only else list(MODULES)
    unknown = sorted(set(modules) - set(MODULES))
    if unknown:
        parser.error(f"unknown modules: {', '.join(unknown)}; known: {', '.join(MODULES)}")
    report = run_all(modules, args.quick, isolated=not args.in_process)
    print(table(report))
    print(
        f"\n{len(report['errors'])} module(s) failed; total {report['seconds']}s"
        + (" (quick)" if args.quick else "")
    )
    if args.json:
        args.json.write_text(json.dumps(report, indent=2, sort_keys=False) + "\n")
        print(f"JSON written to {args.json}")
    return 1 if report["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
