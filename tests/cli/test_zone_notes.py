"""The fixed-offset zone note (EST keeps no DST) wherever a zone is given: `--what-if`, schedule
files and calendars, as `schedule add/update` and `preview` say it (newcomer20c #9)."""

from __future__ import annotations

from pathlib import Path

from served import cli, ok

NOTE = "EST is a fixed UTC offset all year (no daylight saving time)"


def notes(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("note:")]


def test_what_if_a_calendar_and_a_file_note_a_fixed_offset_zone(
    scheduler: str, tmp_path: Path
) -> None:
    ok(scheduler, "schedule", "add", "ny", "0 2 * * *", "--tz", "America/New_York", "--", "true")
    tried = cli(scheduler, "schedule", "update", "ny", "--tz", "EST", "--what-if", "-n", "1")
    assert tried.exit_code == 0, tried.output
    assert notes(tried.stderr) == [
        f"note: {NOTE}; for local time where clocks change, use a "
        "region zone such as America/New_York"
    ], tried.stderr

    cal = cli(scheduler, "calendar", "add", "estcal", "--tz", "EST", "--dates", "2027-01-01")
    assert cal.exit_code == 0 and NOTE in cal.stderr, cal.output
    moved = cli(scheduler, "calendar", "update", "estcal", "--tz", "MST")
    assert moved.exit_code == 0 and "MST is a fixed UTC offset" in moved.stderr, moved.output

    (tmp_path / "tz.toml").write_text(
        '[schedules.tzt]\nspec = "0 2 * * *"\ntz = "EST"\ncommand = ["true"]\n'
        '[calendars.hols]\ntz = "EST"\ndates = ["2027-12-25"]\n'
    )
    dry = cli(scheduler, "apply", "-f", str(tmp_path / "tz.toml"), "--dry-run")
    assert dry.exit_code == 0, dry.output
    shown = " ".join(dry.stderr.split())
    assert f"note: schedule tzt: {NOTE}" in shown and f"note: calendar hols: {NOTE}" in shown
    # a zone with DST says nothing
    quiet = cli(scheduler, "schedule", "update", "ny", "--tz", "Europe/Berlin", "--what-if")
    assert notes(quiet.stderr) == [], quiet.stderr
