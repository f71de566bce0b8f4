"""`jetcron status`: the system at a glance."""

from __future__ import annotations

from typing import Any

from jetcron.cli import text
from jetcron.cli.common import (
    JsonOpt,
    ServerOpt,
    ask_view,
    echo,
    handle_errors,
    print_json,
)


@handle_errors
def status(server: str = ServerOpt, as_json: bool = JsonOpt) -> None:
    """The system at a glance: log, views, schedules, runs in flight, executors."""
    s = ask_view(server, "status")
    if as_json:
        print_json(s)
        return
    for line in status_lines(s):
        echo(line)


def status_lines(s: dict[str, Any]) -> list[str]:
    """The status answer as lines of text."""
    st, pr = s["stream"], s["projection"]
    executors = [e["name"] for e in s["executors"]]
    leader = s.get("ticker_leader") or "none (no lease holder!)"
    online = f"{len(executors)} online" + (f": {', '.join(executors)}" if executors else "")
    if s.get("executors_unknown"):
        online = f"unknown: {s['executors_unknown']}"  # why: not "0 online", which is false
    kept = st.get("retention_s") or 0
    keep = pr.get("keep_runs") or 0
    return [
        f"log        {st['name']}: {st['messages']} events, {text.size(st['bytes'])}, "
        f"last seq {st['last_seq']}, {st['replicas']} replica(s)" + _snapshots(st),
        f"history    runs kept {text.duration(kept) if kept else 'forever'} in the log, "
        + (f"the last {keep} per schedule in the views" if keep else "all in the views"),
        f"views      at seq {pr['position']}, {pr['lag']} behind, "
        f"{pr['poison_events']} unreadable event(s), "
        f"{pr.get('rejected_run_events', 0)} rejected run event(s)",
        f"scheduler  {len(s['scheduler_replicas'])} replica(s), ticker leader {leader}"
        + _versions(s.get("scheduler_versions") or {}),
        f"schedules  {text.counts(s.get('schedules') or {})}; {s['runs_in_flight']} run(s) in flight"
        + _deleted(pr),
        f"executors  {online}",
        *(f"note: {note}" for note in s.get("service", {}).get("notes", [])),
        *(
            [f"warning: run history kept too {_too(kept)}: {short}"]
            if (short := st.get("retention_problem"))
            else []
        ),
    ]


def _versions(versions: dict[str, str]) -> str:
    """`, jetcron 0.2.0`, or each replica's version when they differ (a rolling upgrade)."""
    distinct = sorted(set(versions.values()))
    if len(distinct) <= 1:
        return f", jetcron {distinct[0]}" if distinct else ""
    return ", mixed versions: " + ", ".join(f"{r} {v}" for r, v in sorted(versions.items()))


def _deleted(pr: dict[str, Any]) -> str:
    """`; deleted: 1000 held, 19000 forgotten (the views keep the last 1000)` (forget.py)."""
    held, gone, bound = (
        pr.get(k) or 0 for k in ("deleted_held", "deleted_forgotten", "keep_deleted")
    )
    if not (held or gone):
        return ""
    out = f"; deleted: {held} held" + (f", {gone} forgotten" if gone else "")
    return out + (f" (the views keep the last {bound})" if bound else "")


def _too(retention_s: int) -> str:
    """Which bound a refused retention crosses (the rule: rollups.retention_problem)."""
    from jetcron.log.retention import MAX_RETENTION_S

    return "long" if retention_s > MAX_RETENTION_S else "short"


def _snapshots(stream: dict[str, Any]) -> str:
    """The checkpoints' store beside the log (newcomer20b F3: it held more than the log)."""
    size = stream.get("snapshot_bytes")
    return "" if size is None else f"; checkpoints {text.size(size)}"
