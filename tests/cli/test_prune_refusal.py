"""An `apply --prune` refusal names the first 10 deletes and says `--dry-run` lists them all
(newcomer20b F8: 260 names made one 3,000-character line that scrolled the plan away)."""

from __future__ import annotations

from pathlib import Path

from served import listed
from test_files import apply, flat, write


def test_a_prune_refusal_names_ten_and_points_to_the_dry_run(
    scheduler: str, tmp_path: Path
) -> None:
    job = {"spec": "@hourly", "command": ["true"]}
    names = [f"s{i:02}" for i in range(13)]
    assert apply(scheduler, write(tmp_path / "all.json", dict.fromkeys(names, job))).exit_code == 0

    refused = apply(scheduler, write(tmp_path / "one.json", {"s00": job}), "--prune")
    assert refused.exit_code == 2
    assert flat(refused.stderr).endswith(
        "error: refusing to delete 12 of 13 live schedules without --yes (s01, s02, s03, s04, "
        "s05, s06, s07, s08, s09, s10 and 2 more: `--dry-run` lists them all); nothing was "
        "changed"
    )
    assert len(listed(scheduler)) == 13
