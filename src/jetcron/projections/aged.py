"""Which rows a query is about to show may describe events the log no longer holds.

The views never learn of expiry (JetStream deletes by TTL, without an event), so a query asks
the log (log/retention.Horizon) about the rows it may show. Below the horizon every row has
aged out; above it, a row can only have if it is older than the retention now (a retention
lowered live leaves older, longer-lived events below the ones that expired): those few are
asked about one by one. This module names them; the service asks; the queries mark them.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from jetcron.projections import ledger, runs
from jetcron.projections.limits import FIRES_MAX
from jetcron.projections.state import Views


def candidates(
    query: str, views: Views, params: dict[str, Any], now: datetime, horizon: int
) -> list[int]:
    """Sequences of rows `query` may show, above `horizon`, older than the retention now."""
    retention = params.get("retention_s")
    if not retention:
        return []  # why: forever now; what aged out before is below the horizon or not known
    before = now - timedelta(seconds=float(retention))
    if query in ("fires", "why"):
        found = ledger.query(views.ledger, str(params.get("name", "")), limit=FIRES_MAX)
        seqs = [s for e in found if e.recorded_at <= before for s in (e.seq, e.result_seq)]
    elif query == "run":
        ref = str(params.get("run_id", "")).strip()
        keys = runs.matching(views.runs, ref) if ref else []
        seqs = [views.runs.rows[k].seq for k in keys[:1] if _old(views.runs.rows[k], before)]
    elif query == "schedules":
        seqs = [r.seq for r in _oldest_rows(views) if _old(r, before)]
    else:
        return []
    return [s for s in seqs if s >= horizon]


def _old(row: runs.RunRow, before: datetime) -> bool:
    began = row.triggered_at or row.fire_time
    return began <= before


def _oldest_rows(views: Views) -> list[runs.RunRow]:
    """Each schedule's oldest run the views hold."""
    rows = views.runs.rows
    return [rows[keys[0]] for keys in views.runs.by_schedule.values() if keys and keys[0] in rows]


def gone(params: dict[str, Any]) -> tuple[int, frozenset[int]]:
    """The horizon and the sequences asked about that the log no longer holds, as the service
    added them to a query's parameters."""
    return int(params.get("horizon_seq", 0)), frozenset(params.get("gone_seqs", ()))


def aged(seq: int, horizon: int, missing: frozenset[int]) -> bool:
    """Whether a row whose first event is `seq` describes history the log no longer holds."""
    return 0 < seq < horizon or seq in missing
