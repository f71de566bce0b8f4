"""How `jetcron runs show` lays out one run: its facts, in the order things happened."""

from __future__ import annotations

from typing import Any

from jetcron.cli import text


def facts(r: dict[str, Any]) -> list[tuple[str, str]]:
    """A run as (label, text) lines, in the order things happened; empty ones left out."""
    schedule = f"{r['schedule']} (previous)" if r.get("previous") else r["schedule"]
    out = [("run", r["run_id"]), ("schedule", schedule), ("status", _status(r))]
    out.append(("fired", text.utc(r["fire_time"])))
    if r.get("triggered_at"):
        how = "manually" if r.get("manual") else "on schedule"
        how = "as a backfill of that fire" if r.get("backfill_of") else how
        who = f" by {r['triggered_by']}" if r.get("triggered_by") else ""
        why = f": {r['trigger_reason']}" if r.get("trigger_reason") else ""
        out.append(("triggered", f"{text.utc(r['triggered_at'])} {how}{who}{why}"))
    if r.get("target"):
        out.append(("target", r["target"]))
    if r.get("status") == "fanned_out":
        members = r.get("members") or {}
        said = ", ".join(f"{text.short_id(k)} {v.replace('_', ' ')}" for k, v in members.items())
        out.append(("members", said or "none has started it yet"))
    if r.get("started_at"):
        out.append(("started", _started(r)))
    if r.get("finished_at"):
        took = r.get("duration_s")
        out.append(
            (
                "finished",
                text.utc(r["finished_at"])
                + (f" after {text.duration(took)}" if took else "")
                + _whose(r),
            )
        )
    if r.get("exit_code") is not None:
        out.append(("exit code", str(r["exit_code"])))
    if r.get("error"):
        out.append(("error", _error(r)))
    if r.get("reason"):
        out.append(("reason", r["reason"]))
    if r.get("next_retry_at"):
        out.append(("next try", text.utc(r["next_retry_at"])))
    tried = r.get("attempts") or []
    if len(tried) > 1 or any(a["fate"] == "abandoned" for a in tried):
        out += [("attempts" if i == 0 else "", _attempt(a)) for i, a in enumerate(tried)]
    if r.get("aged_out") is not None:
        out.append(("aged out", aged_out(r) + "; the facts above are the views'"))
    return out


def aged_out(r: dict[str, Any]) -> str:
    """Why a run's events and output are not shown: the log no longer has them."""
    kept = (r.get("aged_out") or {}).get("retention_s")
    why = f"run history is kept {text.duration(kept)}" if kept else "retention"
    return f"run {text.short_id(r['run_id'])}'s events and output have aged out of the log ({why})"


def _started(r: dict[str, Any]) -> str:
    """When and where the run's job first started, and how late: the first attempt that did
    (newcomer18b F7: one handed back before it started read as the start, 63 ms late)."""
    tried = r.get("attempts") or [{}]
    unstarted = [a for a in tried if a.get("fate") == "handed_back"]
    first: dict[str, Any] = next((a for a in tried if a.get("fate") != "handed_back"), {})
    # why: started_at is the first attempt's; the row's executor is the latest one's
    began, late = r["started_at"], r.get("lateness_s")
    if unstarted and first.get("started_at"):
        began = first["started_at"]
        late = (text.parse_time(began) - text.parse_time(r["fire_time"])).total_seconds()
    who = first.get("executor") or r.get("executor")
    where = f" on {who}" if who else ""
    said = f"{text.utc(began)}{where}" + (
        f", {text.duration(late)} after the fire time" if late else ""
    )
    if unstarted:
        which = ", ".join(str(a["attempt"]) for a in unstarted)
        said += f" (attempt {which} handed back before it started)"
    return said


def _whose(r: dict[str, Any]) -> str:
    """` (attempt 2 on exA, started 03:55:50)`: the attempt whose result the header shows, when
    it is not the one the `started` line names (newcomer18b F6: 03:55:00 + 40.5 s read as 03:56:30)."""
    n, tried = r.get("attempt", 1), r.get("attempts") or []
    mine = [a for a in tried if a.get("attempt") == n]
    if n == 1 or not mine or all(a.get("fate") == "handed_back" for a in tried[: n - 1]):
        return ""  # why: the `started` line names this attempt already (_started)
    where = f" on {mine[0]['executor']}" if mine[0].get("executor") else ""
    began = mine[0].get("started_at")
    when = f", started {text.utc(began)[11:19]}" if began else ""
    return f" (attempt {n}{where}{when})"


def _attempt(a: dict[str, Any]) -> str:
    """One attempt: `#1 2026-12-02T03:00:00Z on host-a: abandoned (no result; attempt 2 took over)`."""
    where = f" on {a['executor']}" if a.get("executor") else ""
    if a["fate"] == "handed_back":
        why = f" ({a['detail']})" if a.get("detail") else ""
        return f"#{a['attempt']}{where}: handed back before it started{why}"
    took = f" after {text.duration(a['duration_s'])}" if a.get("duration_s") else ""
    fate = a["fate"].replace("_", " ") + took
    if a.get("detail") and a["detail"] != fate:  # why: "timed out after 5s (timed out after 5s)"
        fate += f" ({a['detail']})"
    return f"#{a['attempt']} {text.utc(a.get('started_at'))}{where}: {fate}"


def _status(r: dict[str, Any]) -> str:
    attempt = r.get("attempt", 1)
    if r["status"] == "deferred":
        return f"deferred {r.get('deferrals', 1)} time(s) (attempt {attempt})"
    if r.get("offline"):  # why: its executor is away, its job may be stopped (held.py)
        which = f"attempt {attempt}; " if attempt > 1 else ""
        return f"{r['status']}? ({which}{r['offline']})"
    return r["status"] if attempt == 1 else f"{r['status']} (attempt {attempt})"


def _error(r: dict[str, Any]) -> str:
    """The run's error, labelled `attempt N: …` when it is an earlier attempt's (the answer's
    `error_attempt`; newcomer19b F12: attempt 1's error read as attempt 2's)."""
    earlier = r.get("error_attempt")
    return f"attempt {earlier}: {r['error']}" if earlier else str(r["error"])
