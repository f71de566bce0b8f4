"""How the CLI writes values, tables and event lines: words and ISO times, never a Python repr."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from jetcron.cli import follow, run_facts, runs, text, views
from jetcron.domain.definition import Job
from jetcron.domain.envelope import Envelope
from jetcron.domain.events import FireMissed, RunFailed, RunSkipped, RunTriggered

AT = datetime(2026, 3, 3, 14, 0, 5, 123456, tzinfo=UTC)


@pytest.mark.parametrize(
    ("seconds", "words"),
    [
        (None, "-"),
        (0, "0s"),
        (0.25, "250ms"),
        (12.5, "12.5s"),
        (30.0, "30s"),
        (303, "5m3s"),
        (3600.0, "1h"),
        (5400, "1h30m"),
        (5412, "1h30m"),
        (2 * 86400 + 3 * 3600, "2d3h"),
    ],
)
def test_durations_in_words(seconds: float | None, words: str) -> None:
    assert text.duration(seconds) == words


def test_times_are_iso_utc_with_a_z() -> None:
    assert text.utc(AT) == "2026-03-03T14:00:05Z"
    assert text.utc("2026-03-03T15:00:05+01:00") == "2026-03-03T14:00:05Z"
    assert text.utc(None) == text.utc("") == "-"


def test_diffs_read_field_old_arrow_new() -> None:
    diff = {
        "spec": [None, "@every 10s"],
        "timeout_s": [3600.0, 1800.0],
        "paused": [False, True],
        "tags": [[], ["nightly", "db"]],
        "job.command": [["echo", "hi"], ["rsync", "-a", "/my src"]],
        "end": ["2026-01-01T00:00:00Z", None],
        "job": [None, {"action": "http", "params": {"url": "http://x"}, "cwd": "/srv"}],
    }

    assert text.diff_lines(diff) == [
        "spec: @every 10s",
        "timeout: 1h → 30m",
        "paused: no → yes",
        "tags: none → nightly, db",
        "job.command: echo hi → rsync -a '/my src'",
        "end: 2026-01-01T00:00:00Z → none",
        'job: action http url="http://x" (in /srv)',
    ]
    assert text.counts({"active": 4, "paused": 1, "deleted": 0}) == "4 active, 1 paused"
    assert text.size(65536) == "64 KiB" and text.size(1536) == "1.5 KiB"


def test_a_table_fits_the_width_by_cutting_the_named_column_first() -> None:
    rows = [["3f2a9c1b", "backup", "exited with code 1: " + "x" * 80]]

    narrow = text.render_table(None, ["run", "schedule", "note"], rows, width=40, cut=("note",))
    piped = text.render_table("runs", ["run", "schedule", "note"], rows)

    assert narrow.splitlines() == [
        "run       schedule  note",
        "────────  ────────  ────────────────────",
        "3f2a9c1b  backup    exited with code 1:…",
    ]
    assert piped.splitlines()[0] == "runs" and piped.splitlines()[-1].endswith("x" * 80)


def envelope(
    event: RunTriggered | RunFailed | FireMissed | RunSkipped,
    actor: str = "system:ticker",
    reason: str = "",
) -> Envelope:
    return Envelope(id="e1", at=AT, actor=actor, event=event, reason=reason)


FIRE = {
    "schedule_id": "s1", "name": "backup", "fire_id": "f1",
    "fire_time": datetime(2026, 3, 3, 14, tzinfo=UTC), "run_id": "3f2a9c1b8e7d6a5b4c3d",
}  # fmt: skip


def test_event_lines() -> None:
    clock = RunTriggered(**FIRE, version=1, target="default", job=Job(command=["true"]))
    manual = RunTriggered(**FIRE, version=1, target="nas", job=Job(command=["true"]), manual=True)
    failed = RunFailed(**FIRE, executor="host-a", error="exited with code 3\nmore", exit_code=3)

    assert [
        follow.event_line(envelope(clock)),
        follow.event_line(envelope(manual, "bob", "check")),
        follow.event_line(envelope(failed, "host-a")),
    ] == [
        "2026-03-03T14:00:05Z backup triggered 3f2a9c1b: fire 2026-03-03T14:00:00Z, for default",
        "2026-03-03T14:00:05Z backup triggered 3f2a9c1b: manual by bob (check), for nas",
        "2026-03-03T14:00:05Z backup failed 3f2a9c1b: exited with code 3",
    ]


def test_a_fire_not_run_names_its_fire_time() -> None:
    """newcomer19a #16: 18 lines '07:09:03Z tick5 missed: …' could not be told apart."""
    fire = {k: v for k, v in FIRE.items() if k != "run_id"}
    missed = FireMissed(**fire, reason="scheduler down: catch-up policy latest runs only …")
    skipped = RunSkipped(**fire, reason="overlap: previous run still in flight")

    assert [follow.event_line(envelope(missed)), follow.event_line(envelope(skipped))] == [
        "2026-03-03T14:00:05Z backup missed fire 2026-03-03T14:00:00Z: scheduler down: "
        "catch-up policy latest runs only …",
        "2026-03-03T14:00:05Z backup skipped fire 2026-03-03T14:00:00Z: "
        "overlap: previous run still in flight",
    ]


def test_run_facts_and_truncation_marker() -> None:
    row = {
        "run_id": "3f2a9c1b8e7d6a5b4c3d", "schedule": "backup", "status": "failed", "attempt": 2,
        "fire_time": "2026-03-03T14:00:00Z", "triggered_at": "2026-03-03T14:00:00.5Z",
        "triggered_by": "bob", "trigger_reason": "verify", "manual": True, "target": "default",
        "started_at": "2026-03-03T14:00:01Z", "executor": "host-a", "lateness_s": 1.0,
        "finished_at": "2026-03-03T14:00:05Z", "duration_s": 4.0, "exit_code": 1,
        "error": "exited with code 1", "reason": "",
    }  # fmt: skip

    assert run_facts.facts(row) == [
        ("run", "3f2a9c1b8e7d6a5b4c3d"),
        ("schedule", "backup"),
        ("status", "failed (attempt 2)"),
        ("fired", "2026-03-03T14:00:00Z"),
        ("triggered", "2026-03-03T14:00:00Z manually by bob: verify"),
        ("target", "default"),
        ("started", "2026-03-03T14:00:01Z on host-a, 1s after the fire time"),
        ("finished", "2026-03-03T14:00:05Z after 4s"),
        ("exit code", "1"),
        ("error", "exited with code 1"),
    ]
    capped = {"stdout": "x" * 65536, "stdout_truncated": True}
    assert runs.truncation(capped, "stdout") == (
        "[stdout truncated: 65,536 bytes kept; the original was larger (size not recorded)]"
    )
    assert runs.truncation(capped | {"stdout_size": 200_000}, "stdout") == (
        "[stdout truncated: 65,536 of 200,000 bytes kept]"
    )
    assert runs.truncation(capped | {"stdout_size": 65_544}, "stdout") == (
        "[stdout truncated: 65,536 of 65,544 bytes kept]"
    )
    assert runs.truncation(capped, "stderr") is None


def test_audit_lines_for_an_update_and_a_manual_trigger() -> None:
    update = {
        "seq": 7, "at": "2026-03-03T14:00:00Z", "actor": "bob", "type": "schedule.updated",
        "name": "backup", "schedule_id": "s1", "version": 2, "reason": "slower",
        "diff": {"spec": ["*/5 * * * *", "*/10 * * * *"]},
    }  # fmt: skip
    trigger = {
        "seq": 8, "at": "2026-03-03T14:01:00Z", "actor": "carol", "type": "run.triggered",
        "name": "backup", "schedule_id": "s1", "version": 2, "run_id": "3f2a9c1b8e7d6a5b4c3d",
    }  # fmt: skip

    assert views.audit_lines(update) == [
        "2026-03-03T14:00:00Z backup updated (v2) by bob: slower",
        "    spec: */5 * * * * → */10 * * * *",
    ]
    assert views.audit_lines(trigger) == [
        "2026-03-03T14:01:00Z backup triggered run 3f2a9c1b by carol"
    ]


FORGED = "ok\n2026-12-02T17:00:00Z plain deleted (v99) by admin: forged line"


@pytest.mark.parametrize(
    ("free", "line"),
    [
        pytest.param("plain words, ünïcode → ok", "plain words, ünïcode → ok", id="plain"),
        pytest.param("a\nb\r\tc", "a\\nb\\r\\tc", id="newline-return-tab"),
        pytest.param(
            "\x1b[31mRED\x1b[0m \x1b]0;title\x07",
            "\\x1b[31mRED\\x1b[0m \\x1b]0;title\\x07",
            id="terminal-escapes",
        ),  # fmt: skip
        pytest.param("\x9b2J\x7f", "\\x9b2J\\x7f", id="c1-and-del"),
        pytest.param("abc\u202edcba", "abc\\u202edcba", id="bidi-override"),
    ],
)
def test_free_text_is_one_line_with_its_controls_escaped(free: str, line: str) -> None:
    assert text.clean(free) == line
    assert text.visible(free + "\nnext") == text.visible(free) + "\nnext"


def test_a_block_keeps_its_lines_and_tabs_but_not_its_escapes() -> None:
    assert text.visible("one\n\ttwo\x1b[2K\r") == "one\n\ttwo\\x1b[2K\\r"


def test_an_audit_line_cannot_be_forged_by_a_reason() -> None:
    entry = {"at": "2026-12-02T17:24:52Z", "name": "plain", "type": "schedule.paused",
             "version": 6, "actor": "operator", "reason": FORGED, "changes": []}  # fmt: skip
    assert views.audit_lines(entry) == [
        "2026-12-02T17:24:52Z plain paused (v6) by operator: ok\\n2026-12-02T17:00:00Z plain "
        "deleted (v99) by admin: forged line"
    ]


def test_why_fires_and_tables_print_free_text_on_one_line() -> None:
    from jetcron.cli import fires

    sentence = {"text": f"Not fired: paused ({FORGED})", "evidence": None}
    [line] = fires.story_lines([sentence])
    table = text.render_table(None, ["reason"], [["\x1b[2Ka\nb"]])
    assert "\n" not in line and "\\n2026" in line
    assert table.splitlines()[2] == "\\x1b[2Ka\\nb"


def test_echo_escapes_what_it_prints(capsys: pytest.CaptureFixture[str]) -> None:
    from jetcron.cli.common import echo

    echo("two\nlines \x1b]0;title\x07")
    assert capsys.readouterr().out == "two\nlines \\x1b]0;title\\x07\n"


def test_a_creation_in_the_second_of_a_fire_says_just_after_it() -> None:
    """newcomer16a #12: `fires` said `created only at 17:33:20Z` of the 17:33:20 fire."""
    from jetcron.cli.fires import _created

    row = {"utc": "2026-12-02T17:33:20Z", "evidence": [{"at": "2026-12-02T17:33:20.412Z"}]}
    assert _created(row) == "created only at 2026-12-02T17:33:20.41Z, just after this fire time"
    row["utc"] = "2026-12-02T17:33:10Z"
    assert _created(row) == "created only at 2026-12-02T17:33:20Z"


def test_a_narrow_table_gives_up_low_value_columns_before_a_name_or_a_time() -> None:
    """newcomer19a #4: `schedule list` at 80 columns cut the next fire's minute, at 60 names."""
    columns = ["name", "spec", "tz", "state", "target", "next fire (UTC)", "last run", "runs"]
    rows = [
        ["act-log", "@every 10s", "UTC", "active", "default", "2026-12-03T07:00:10Z",
         "succeeded 2026-12-03T07:00:00Z", "20"],
        ["b14", "@at 2027-03-28T02:30", "Europe/Berlin", "active", "default",
         "2027-03-28T01:00:00Z", "-", "0"],
    ]  # fmt: skip
    fit = {
        "drop": ("runs", "target"),
        "cut": ("last run", "tz", "spec", "state"),
        "keep": ("name", "next fire (UTC)"),
    }

    for width in (80, 60):
        lines = text.render_table(None, columns, rows, width=width, **fit).splitlines()  # type: ignore[arg-type]
        assert all(len(line) <= width for line in lines), lines
        assert lines[0].split()[:1] == ["name"] and "runs" not in lines[0]
        assert "target" not in lines[0]
        assert lines[2].startswith("act-log ") and lines[3].startswith("b14 ")
        assert "2026-12-03T07:00:10Z" in lines[2] and "2027-03-28T01:00:00Z" in lines[3]
    wide = text.render_table(None, columns, rows, width=200, **fit).splitlines()  # type: ignore[arg-type]
    assert wide[0].split()[-1] == "runs"  # why: with room, nothing is left out
