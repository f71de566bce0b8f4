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


def test_apply_notes_a_capped_jitter_as_add_does(scheduler: str, tmp_path: Path) -> None:
    """One rule, one note: apply names the schedule, then says what `add` says (nc21b #10)."""
    added = cli(scheduler, "schedule", "add", "j1", "0 2 * * *", "--jitter", "13h", "--", "true")
    assert added.exit_code == 0, added.output
    (tmp_path / "j.toml").write_text(
        '[schedules.j2]\nspec = "0 2 * * *"\njitter = "13h"\ncommand = ["true"]\n'
    )
    dry = cli(scheduler, "apply", "-f", str(tmp_path / "j.toml"), "--dry-run")
    assert dry.exit_code == 0, dry.output
    said = [n for n in notes(added.stderr) if "jitter" in n]
    assert len(said) == 1 and "each fire waits less than 12h" in said[0], added.stderr
    assert [n for n in notes(dry.stderr) if "jitter" in n] == [
        said[0].replace("note: ", "note: schedule j2: ")
    ], dry.stderr
    shown = cli(scheduler, "schedule", "show", "j1")
    flat = " ".join(shown.stdout.split())
    assert "jitter 13h (capped: each fire waits less than 12h)" in flat, shown.stdout
