"""`jetcron stats`' table rows (cli/views.py), from rows as the service answers them."""

from __future__ import annotations

from jetcron.cli.views import _stats_rows
from jetcron.projections.tallies import NO_EXECUTOR


def test_runs_no_executor_started_are_named_so_not_a_dash() -> None:
    rows = [
        {"group": "executor", "key": NO_EXECUTOR, "runs": 2, "by_status": {"cancelled": 2}},
        {"group": "executor", "key": "pi1", "runs": 3, "by_status": {"failed": 1, "lost": 1}},
        {"group": "schedule", "key": NO_EXECUTOR, "runs": 1},
    ]

    shown = [row[:3] for row in _stats_rows(rows)]

    assert shown == [["(not started)", 2, 0], ["pi1", 3, 2], [NO_EXECUTOR, 1, 0]]
