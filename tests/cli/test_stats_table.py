"""`jetcron stats`' table rows (cli/views.py), from rows as the service answers them."""

from __future__ import annotations

from typing import Any

import pytest

from jetcron.cli.views import _STATS_COLUMNS, _stats_rows
from jetcron.projections.tallies import NO_EXECUTOR


def test_runs_no_executor_started_are_named_so_not_a_dash() -> None:
    rows = [
        {"group": "executor", "key": NO_EXECUTOR, "runs": 2, "by_status": {"cancelled": 2}},
        {"group": "executor", "key": "pi1", "runs": 3, "by_status": {"failed": 1, "lost": 1}},
        {"group": "schedule", "key": NO_EXECUTOR, "runs": 1},
    ]

    shown = [row[:3] for row in _stats_rows(rows)]

    assert shown == [["(not started)", 2, 0], ["pi1", 3, 2], [NO_EXECUTOR, 1, 0]]


def test_cancelled_and_unfinished_runs_are_shown_not_read_as_ok() -> None:
    """newcomer21c #8: `runs 72  failed 0  ok % 100` with 30 cancelled and 17 not ended."""
    by_status = {"succeeded": 25, "cancelled": 30, "triggered": 14, "running": 3}
    row = {"group": "schedule", "key": "long40c", "runs": 72, "by_status": by_status}
    [shown] = _stats_rows([{**row, "success_rate": 1.0}])
    assert dict(zip(_STATS_COLUMNS[:5], shown[1:6], strict=True)) == {
        "runs": 72, "failed": 0, "cancelled": 30, "in flight": 17, "ok %": "100",
    }  # fmt: skip


def test_the_ok_rule_is_said_under_the_tables_only_when_it_matters(
    capsys: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import jetcron.cli.views as views

    ended = {"group": "overall", "key": "", "runs": 2, "by_status": {"succeeded": 1, "failed": 1}}
    for rows, said in (([ended], False), ([{**ended, "by_status": {"cancelled": 1}}], True)):
        monkeypatch.setattr(views, "ask_view", lambda *_a, rows=rows: rows)
        views.stats.__wrapped__(None, None, "nats://x", False)  # type: ignore[attr-defined]
        assert (views.OK_RULE in capsys.readouterr().out) is said
