"""`jetcron apply` / `export` as an operator meets them: files converge and never destroy by surprise."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import nats
import pytest
from nats.aio.client import Client
from served import cli, listed

from jetcron import ids
from jetcron.cli import applying, files
from jetcron.cli.reconcile import Step, command_of
from jetcron.client import send_command
from jetcron.domain.commands import PauseSchedule
from jetcron.domain.definition import Job, ScheduleDefinition
from jetcron.errors import InvalidInput
from polling import wait_until

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "schedules"

TOML = """
[schedules.reef-lights-on]
spec = "0 9 * * *"
tz = "Europe/Berlin"
target = "reef-pi"
action = "set_level"
params = { channel = "blue", level = 80 }

[schedules.nas-rebalance]
spec = "@every 1h"
command = ["/usr/local/bin/rebalance", "--pool", "tank"]
disk_path = "/tank"
disk_above = 85
"""


def apply(server: str, path: Path, *extra: str) -> Any:
    return cli(server, "apply", "-f", str(path), *extra)


def export(server: str, to: Path) -> dict[str, Any]:
    result = cli(server, "export")
    assert result.exit_code == 0, result.output
    to.write_text(result.stdout)
    return json.loads(result.stdout)["schedules"]


def write(path: Path, schedules: dict[str, Any]) -> Path:
    path.write_text(json.dumps({"schedules": schedules}))
    return path


def flat(text: str) -> str:
    """Output without rich's line wrapping."""
    return " ".join(text.split())


def send(server: str, call: Callable[[Client], Awaitable[Any]]) -> Any:
    async def go() -> Any:
        nc = await nats.connect(server)
        try:
            return await call(nc)
        finally:
            await nc.close()

    return asyncio.run(go())


def breaker_pause(server: str, name: str) -> None:
    """Pause `name` the way the circuit breaker does (by_system)."""
    command = PauseSchedule(
        name=name,
        command_id=ids.new_id(),
        at=datetime.now(UTC),
        actor="system",
        reason="circuit open: 3 consecutive failures",
        by_system=True,
    )
    send(server, lambda nc: send_command(nc, command))


def test_the_examples_apply_and_converge(scheduler: str, tmp_path: Path) -> None:
    first = apply(scheduler, EXAMPLES)
    assert first.exit_code == 0, first.output
    live = listed(scheduler)
    assert set(live) == {
        "nas-backup",
        "nas-rebalance",
        "reef-sunrise",
        "reef-moon",
        "reef-night",
        "status-ping",
    }
    assert live["reef-night"]["state"] == "paused"
    assert live["reef-night"]["paused_reason"] == "tank maintenance: lights stay on"

    again = apply(scheduler, EXAMPLES)
    assert (again.exit_code, again.stdout.strip()) == (0, "up to date: nothing to change")
    export(scheduler, tmp_path / "exported.json")
    round_trip = apply(scheduler, tmp_path / "exported.json")
    assert (round_trip.exit_code, round_trip.stdout.strip()) == (0, "up to date: nothing to change")


def test_plan_apply_export_prune(scheduler: str, tmp_path: Path) -> None:
    (tmp_path / "defs").mkdir()
    (tmp_path / "defs" / "reef.toml").write_text(TOML)
    plan = apply(scheduler, tmp_path / "defs", "--dry-run")
    assert plan.exit_code == 0 and "create" in plan.stdout and "reef-lights-on" in plan.stdout
    assert listed(scheduler) == {}

    assert apply(scheduler, tmp_path / "defs").exit_code == 0
    assert "up to date" in apply(scheduler, tmp_path / "defs").stdout

    data = export(scheduler, tmp_path / "exported.json")
    assert data["reef-lights-on"]["params"] == {"channel": "blue", "level": 80}
    data["nas-rebalance"]["spec"] = "@every 2h"
    del data["reef-lights-on"]
    pruned = apply(scheduler, write(tmp_path / "edited.json", data), "--prune")
    assert pruned.exit_code == 0, pruned.output
    assert "update" in pruned.stdout and "delete" in pruned.stdout
    assert "spec: @every 1h → @every 2h" in flat(pruned.stdout)
    assert [(n, r["spec"]) for n, r in listed(scheduler).items()] == [
        ("nas-rebalance", "@every 2h")
    ]


def test_a_field_removed_from_the_file_goes_back_to_its_default(
    scheduler: str, tmp_path: Path
) -> None:
    rich = {
        "spec": "@daily",
        "command": ["backup"],
        "timeout": "20s",
        "retries": 3,
        "overlap": "allow",
        "end": "2030-01-01T00:00:00Z",
        "max_cpu": 80,
        "description": "nightly",
        "tags": ["a"],
    }
    assert apply(scheduler, write(tmp_path / "s.json", {"b": rich})).exit_code == 0

    bare = apply(
        scheduler, write(tmp_path / "s.json", {"b": {"spec": "@daily", "command": ["backup"]}})
    )

    assert bare.exit_code == 0, bare.output
    assert "timeout: 20s → 1h" in flat(bare.stdout) and 'tags: ["a"] → []' in flat(bare.stdout)
    assert export(scheduler, tmp_path / "out.json") == {
        "b": {"spec": "@daily", "command": ["backup"]}
    }
    assert "up to date" in apply(scheduler, tmp_path / "s.json").stdout


def test_export_then_apply_keeps_everything_paused_and_done(scheduler: str, tmp_path: Path) -> None:
    at = (datetime.now(UTC) + timedelta(seconds=3)).strftime("%Y-%m-%dT%H:%M:%SZ")
    for args in (
        ["hand", "@hourly", "--retries", "2", "--max-cpu", "70", "--", "true"],
        ["breaker", "@hourly", "--", "false"],
        ["once", f"@at {at}", "--", "true"],
        ["plain", "@daily", "--", "true"],
    ):
        assert cli(scheduler, "schedule", "add", *args).exit_code == 0
    assert cli(scheduler, "schedule", "pause", "hand", "--reason", "disk swap").exit_code == 0
    breaker_pause(scheduler, "breaker")
    wait_until(lambda: listed(scheduler)["once"]["state"] == "completed")

    exported = export(scheduler, tmp_path / "all.json")
    assert exported["hand"]["paused"] is True and exported["hand"]["paused_reason"] == "disk swap"
    assert exported["breaker"]["paused"] is True
    assert exported["breaker"]["paused_reason"].startswith("circuit open")
    assert "paused" not in exported["plain"]
    same = apply(scheduler, tmp_path / "all.json")
    assert (same.exit_code, same.stdout.strip()) == (0, "up to date: nothing to change")

    # the same file on an emptied system: everything back, the spent one-off reported, not fatal
    emptied = apply(scheduler, write(tmp_path / "none.json", {}), "--prune", "--yes")
    assert emptied.exit_code == 0 and listed(scheduler) == {}
    restored = apply(scheduler, tmp_path / "all.json")
    assert restored.exit_code == 0, restored.output
    assert "skipped once: no fire left" in flat(restored.stderr)
    live = listed(scheduler)
    assert set(live) == {"hand", "breaker", "plain"}
    assert (live["hand"]["state"], live["hand"]["paused_reason"]) == ("paused", "disk swap")
    assert live["breaker"]["state"] == "paused" and live["plain"]["state"] == "active"


def test_paused_in_a_file(scheduler: str, tmp_path: Path) -> None:
    job = {"spec": "@hourly", "command": ["true"]}
    path = write(
        tmp_path / "p.json", {"a": {**job, "paused": True, "paused_reason": "why"}, "b": job}
    )
    assert apply(scheduler, path).exit_code == 0
    assert listed(scheduler)["a"]["state"] == "paused"

    # left out: an operator's pause is undone, a breaker pause is kept (and said so)
    breaker_pause(scheduler, "b")
    resumed = apply(scheduler, write(path, {"a": job, "b": job}))
    assert resumed.exit_code == 0, resumed.output
    assert "resume" in resumed.stdout and "kept b: paused by the breaker" in flat(resumed.stderr)
    assert {n: r["state"] for n, r in listed(scheduler).items()} == {"a": "active", "b": "paused"}

    forced = apply(scheduler, write(path, {"a": job, "b": {**job, "paused": False}}))
    assert forced.exit_code == 0 and listed(scheduler)["b"]["state"] == "active"


@pytest.mark.parametrize(
    ("name", "content", "needle"),
    [
        ("typo.toml", '[schedule.x]\nspec = "@daily"\ncommand = ["true"]\n', "unknown key 'schedule' (did you mean 'schedules'?)"),
        ("typo.json", '{"schedlues": {"x": {"spec": "@daily", "command": ["true"]}}}', "unknown key 'schedlues' (did you mean 'schedules'?)"),
    ],
    ids=["toml-schedule", "json-schedlues"],
)  # fmt: skip
def test_a_top_level_typo_exits_2_and_deletes_nothing(
    scheduler: str, tmp_path: Path, name: str, content: str, needle: str
) -> None:
    (tmp_path / "good.toml").write_text(TOML)
    assert apply(scheduler, tmp_path / "good.toml").exit_code == 0
    (tmp_path / name).write_text(content)

    result = apply(scheduler, tmp_path / name, "--prune", "--yes")

    assert result.exit_code == 2, result.output
    assert str(tmp_path / name) in flat(result.stderr) and needle in flat(result.stderr)
    assert set(listed(scheduler)) == {"reef-lights-on", "nas-rebalance"}


def test_a_dry_run_plan_is_one_line_per_step_and_no_empty_table(
    scheduler: str, tmp_path: Path
) -> None:
    """newcomer16a #12: changes were joined without a separator, and a plan with only a
    calendar change printed an empty schedule table."""
    doc = {
        "calendars": {"hols": {"dates": ["2026-12-25"]}, "maint": {"dates": ["2026-12-26"]}},
        "schedules": {"a": {"spec": "@daily", "command": ["true"], "exclude": ["hols"]}},
    }
    file = tmp_path / "f.json"
    file.write_text(json.dumps(doc))
    assert apply(scheduler, file).exit_code == 0
    doc["schedules"]["a"] |= {"retries": 2, "exclude": ["maint"]}
    file.write_text(json.dumps(doc))
    both = apply(scheduler, file, "--dry-run")
    assert 'retries: 0 → 2; exclude: ["hols"] → ["maint"]' in both.stdout, both.output
    doc["schedules"]["a"] |= {"retries": 0, "exclude": ["hols"]}
    doc["calendars"]["maint"]["dates"] = ["2026-12-27"]
    file.write_text(json.dumps(doc))
    calendars_only = apply(scheduler, file, "--dry-run")
    assert "schedules: up to date (dry run)" in calendars_only.stdout, calendars_only.output
    assert "plan (dry run)" not in calendars_only.stdout


def test_prune_of_everything_needs_yes(scheduler: str, tmp_path: Path) -> None:
    (tmp_path / "good.toml").write_text(TOML)
    assert apply(scheduler, tmp_path / "good.toml").exit_code == 0
    empty = write(tmp_path / "empty.json", {})

    refused = apply(scheduler, empty, "--prune")
    assert refused.exit_code == 2
    assert "refusing to delete 2 of 2 live schedules without --yes" in flat(refused.stderr)
    assert "delete" in refused.stdout and "nas-rebalance" in refused.stdout
    assert len(listed(scheduler)) == 2

    # newcomer20c #15: the dry run shows the plan and exits 2 as the real run will
    dry = apply(scheduler, empty, "--prune", "--dry-run")
    assert dry.exit_code == 2 and "delete" in dry.stdout, dry.output
    assert flat(dry.stderr).endswith(
        "error: refusing to delete 2 of 2 live schedules without --yes (nas-rebalance, "
        "reef-lights-on): the real run refuses this plan (nothing was changed)"
    )
    assert len(listed(scheduler)) == 2
    assert apply(scheduler, empty, "--prune", "--dry-run", "--yes").exit_code == 0

    assert apply(scheduler, empty, "--prune", "--yes").exit_code == 0
    assert listed(scheduler) == {}


def test_prune_of_most_needs_yes(scheduler: str, tmp_path: Path) -> None:
    job = {"spec": "@hourly", "command": ["true"]}
    assert (
        apply(scheduler, write(tmp_path / "five.json", dict.fromkeys("abcde", job))).exit_code == 0
    )

    refused = apply(scheduler, write(tmp_path / "one.json", {"a": job}), "--prune")
    assert refused.exit_code == 2 and "refusing to delete 4 of 5" in flat(refused.stderr)
    assert (
        apply(
            scheduler, write(tmp_path / "three.json", dict.fromkeys("abc", job)), "--prune"
        ).exit_code
        == 0
    )
    assert set(listed(scheduler)) == {"a", "b", "c"}


def test_a_failure_midway_says_what_was_applied(scheduler: str) -> None:
    d = ScheduleDefinition(spec="@hourly", job=Job(command=["true"]))
    steps = [
        Step(action="create", name="first", definition=d),
        Step(action="update", name="ghost", definition=d),
        Step(action="create", name="third", definition=d),
    ]
    commands = [command_of(s, applying._meta(s.name, "t", "test")) for s in steps]

    with pytest.raises(
        InvalidInput,
        match=r"update ghost failed: .*not found.*1 of 3 step\(s\) were applied, 1 after it were not",
    ):
        send(scheduler, lambda nc: applying._carry_out(nc, steps, commands))
    assert set(listed(scheduler)) == {"first"}


@pytest.mark.parametrize(
    ("content", "suffix", "needle"),
    [
        ('[schedules.x]\nspecc = "@daily"\n', ".toml", "schedules.x: unknown key 'specc' (did you mean 'spec'?)"),
        ('[schedules.x]\nspec = "@daily"\ncommand = ["true"]\nretires = 2\n', ".toml", "schedules.x: unknown key 'retires' (did you mean 'retries'?)"),
        ('[schedules.x]\nspec = "@daily"\ncommand = ["true"]\ntimeout_s = 20\n', ".toml", "schedules.x: 'timeout_s' is the old file format: write timeout"),
        ('[schedules.x]\nspec = "@daily"\njob = { command = ["true"] }\n', ".toml", "'job' is the old file format: write command, shell, action, params, cwd, env"),
        ('[schedules.x]\nspec = "@daily"\ncommand = ["true"]\ncatchup = { policy = "all" }\n', ".toml", "'catchup' is the old file format: write catchup, catchup_window, catchup_max_fires"),
        ('[schedules.x]\nspec = "@daily"\ncommand = ["true"]\ntimeout = 20\n', ".toml", 'schedules.x.timeout: 20: write a duration with its unit, e.g. "20s"'),
        ('{"schedules": {"x": {"spec": "61 * * * *", "command": ["true"]}}}', ".json", "schedules.x: invalid spec"),
        ('{"schedules": {"x": {"spec": "@daily", "command": "true"}}}', ".json", "schedules.x.command: 'true': a command is a list of its program and arguments, e.g. [\"true\"]; for a line a shell should run, use the shell field instead: \"true\""),
        ('{"schedules": {"x": {"command": ["true"]}}}', ".json", "schedules.x: spec is missing"),
        ('{"schedules": {"bad name": {"spec": "@daily", "command": ["true"]}}}', ".json", "invalid schedule name 'bad name'"),
        ('{"schedules": {"x": {"spec": "@daily", "command": ["true"], "paused": "yes"}}}', ".json", "schedules.x.paused: expected true or false, got 'yes'"),
        ('{"schedules": {"x": {"spec": "@daily"}}}', ".json", "schedules.x: a job needs exactly one of"),
        ("[schedules.x\n", ".toml", "bad.toml: not valid TOML"),
        ("", ".json", 'bad.json: empty file, not a definition file: it has no schedules, calendars or notifications table'),
        ("", ".toml", "bad.toml: empty file, not a definition file"),
        (" \n\n", ".toml", "bad.toml: empty file, not a definition file"),
        ("# only a comment\n", ".toml", "bad.toml: not a definition file: it has no schedules, calendars or notifications table"),
        ("{}", ".json", 'bad.json: not a definition file: it has no schedules, calendars or notifications table (to say "none", write {"schedules": {}} or [schedules])'),
        ('{"schedule": {}}', ".json", "bad.json: unknown key 'schedule' (did you mean 'schedules'?)"),
        ('[calendars.c]\ndates = ["2026-02-30"]\n', ".toml", "calendars.c.dates[0]: '2026-02-30' does not exist: February 2026 has 28 days"),
        ('[calendars.c]\nwindows = "0 2 * * *"\n', ".toml", "calendars.c.windows: '0 2 * * *': must be a list"),
        ('[calendars.c]\ndates = [1]\n', ".toml", "calendars.c.dates[0]: 1: must be a date (YYYY-MM-DD)"),
        ('[schedules.x]\nspec = "@daily"\ncommand = ["true"]\ntags = "x"\n', ".toml", 'schedules.x.tags: \'x\': must be a list (e.g. ["x"])'),
        ('[schedules.x]\nspec = "@daily"\ncommand = ["true"]\ntags = ["a", 1]\n', ".toml", "schedules.x.tags: 1 (item [1]): must be a string"),
        ('[schedules.x]\nspec = "@daily"\ncommand = ["true"]\nenv = { A = 1 }\n', ".toml", "schedules.x.env: 1 (under 'A'): each value must be a string"),
        ('[schedules.x]\nspec = "@daily"\ncommand = ["true"]\ntimeout = true\n', ".toml", "schedules.x.timeout: true: must be a string"),
        ('[calendars.c]\nwindows = ["0 2 * * *"]\n', ".toml", "calendars.c.windows[0]: window '0 2 * * *': write 'CRON for DURATION'"),
        ('[calendars.c]\ndescription = "nothing"\n', ".toml", "calendars.c: a calendar needs at least one of windows, dates or ranges"),
        ('{"schedules": {"d1": {"spec": "@daily", "command": ["true"], "spec": "@hourly"}}}', ".json", "schedules.d1.spec: given twice in one object"),
        ('{"schedules": {"x": {"spec": "@daily", "command": ["true"]}, "x": {"spec": "@hourly", "command": ["true"]}}}', ".json", "schedules.x: given twice in one object"),
        ('[schedules.x]\nspec = "@daily"\ncommand = ["true"]\nretries = 99999999999\n', ".toml", "schedules.x.retries: 99999999999: must be at most 999"),
        # newcomer19a #5, #7: the JSON the user wrote, not Python's True/None or msgspec's `$[...]`
        ('{"schedules": {"x": {"spec": "@daily", "command": ["true"], "retries": true}}}', ".json", "schedules.x.retries: true: must be a whole number"),
        ('{"schedules": {"x": {"spec": "@daily", "command": ["true"], "tz": null}}}', ".json", "schedules.x.tz: null: must be a string"),
        ('{"schedules": {"x": {"spec": "@daily", "command": ["true"], "retries": 1e400}}}', ".json", "bad.json: not valid JSON: schedules.x.retries: 1e400: out of range (at most 64 bits)"),
        ('[calendars.c]\ndates = ["2026-02-29"]\n', ".toml", "calendars.c.dates[0]: '2026-02-29' does not exist: February 2026 has 28 days"),
        ('[calendars.c]\ndates = ["Feb 3"]\n', ".toml", "calendars.c.dates[0]: 'Feb 3' is not a date: write YYYY-MM-DD"),
        ('{"schedules": {}}', ".toml", "bad.toml: not valid TOML: Invalid statement (at line 1, column 1) (it looks like JSON: name it .json)"),
    ],
    ids=["unknown-key", "typo-suggests", "old-timeout_s", "old-job", "old-catchup", "number-duration", "bad-spec", "wrong-type", "no-spec", "bad-name", "paused-not-bool", "no-job", "syntax",
         "empty-json", "empty-toml", "blank-toml", "comment-only-toml", "no-table-json", "table-typo", "calendar-bad-date", "calendar-wrong-type", "calendar-date-not-a-date", "tags-not-a-list", "tags-item-not-a-string",
         "env-value-not-a-string", "duration-not-bool", "calendar-bad-window", "calendar-empty",
         "json-key-twice", "json-schedule-twice", "huge-retries", "bool-as-json", "null-as-json", "number-out-of-range",
         "calendar-no-feb-29", "calendar-not-iso", "json-named-toml"],
)  # fmt: skip
def test_bad_files_name_the_file_and_key(
    scheduler: str, tmp_path: Path, content: str, suffix: str, needle: str
) -> None:
    path = tmp_path / f"bad{suffix}"
    path.write_text(content)
    result = apply(scheduler, path)
    assert result.exit_code == 2, result.output
    assert str(path) in flat(result.stderr) and needle in flat(result.stderr)
    assert listed(scheduler) == {}


def test_the_file_may_be_given_without_f_but_once(scheduler: str, tmp_path: Path) -> None:
    path = tmp_path / "defs.toml"
    path.write_text('[schedules.x]\nspec = "@daily"\ncommand = ["true"]\n')
    assert cli(scheduler, "apply", str(path)).exit_code == 0
    assert set(listed(scheduler)) == {"x"}
    other = tmp_path / "other.toml"
    other.write_text('[schedules.y]\nspec = "@daily"\ncommand = ["true"]\n')
    both = cli(scheduler, "apply", str(path), "-f", str(other), "--prune", "--yes")
    assert both.exit_code == 2 and "two files given" in flat(both.stderr), both.output
    neither = cli(scheduler, "apply", "--prune")
    assert neither.exit_code == 2 and "missing the file" in flat(neither.stderr), neither.output
    assert set(listed(scheduler)) == {"x"}


def test_a_definition_too_large_for_a_message_is_refused_before_any_is_applied(
    scheduler: str, tmp_path: Path
) -> None:
    small = {"spec": "@yearly", "command": ["true"]}
    big = {**small, "description": "a" * 1_100_000}
    (tmp_path / "a.json").write_text(
        json.dumps({"schedules": {"aaa-small": small, "zzz-big": big}})
    )
    result = apply(scheduler, tmp_path)
    assert result.exit_code == 2, result.output
    assert flat(result.stderr).startswith("error: ") and "Traceback" not in result.output
    assert "schedules.zzz-big: the description is too long (1100000 characters" in flat(
        result.stderr
    )
    env = {**small, "env": {"BLOB": "x" * 70_000}}
    (tmp_path / "a.json").write_text(
        json.dumps({"schedules": {"aaa-small": small, "zzz-env": env}})
    )
    result = apply(scheduler, tmp_path)
    assert result.exit_code == 2 and "the definition is too large" in flat(result.stderr)
    assert listed(scheduler) == {}  # why: checked whole before the first command is sent


def test_a_file_with_two_schedules_of_one_name_is_refused(tmp_path: Path) -> None:
    (tmp_path / "a.json").write_text('{"schedules": {"x": {"spec": "@daily", "command": ["a"]}}}')
    (tmp_path / "b.json").write_text('{"schedules": {"x": {"spec": "@daily", "command": ["b"]}}}')
    with pytest.raises(InvalidInput, match="schedule 'x' is defined twice") as raised:
        files.load_desired(tmp_path)
    assert str(raised.value) == (
        f"{tmp_path / 'b.json'}: schedule 'x' is defined twice (first in {tmp_path / 'a.json'})"
    )


def test_a_calendar_defined_in_two_files_names_both(tmp_path: Path) -> None:
    from jetcron.cli.calendar_files import load_calendars

    for name in ("a", "b"):
        (tmp_path / f"{name}.toml").write_text('[calendars.hols]\ndates = ["2026-12-25"]\n')
    with pytest.raises(InvalidInput, match="defined twice") as raised:
        load_calendars(tmp_path)
    assert str(raised.value) == (
        f"{tmp_path / 'b.toml'}: calendar 'hols' is defined twice (first in {tmp_path / 'a.toml'})"
    )


def test_the_readme_example_loads(tmp_path: Path) -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = readme[readme.index("A schedule file for `jetcron apply`") :]
    example = section[section.index("```toml") + len("```toml") : section.index("```\n", 10)]
    (tmp_path / "readme.toml").write_text(example)
    desired = files.load_desired(tmp_path / "readme.toml")
    assert set(desired) == {"reef-lights-on", "nas-rebalance"}
    assert desired["nas-rebalance"].paused is True


def test_a_files_secret_is_read_relative_to_it_and_only_referred_to(tmp_path: Path) -> None:
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "pw.txt").write_text("pa55\n")
    (tmp_path / "conf" / "s.toml").write_text(
        '[schedules.db]\nspec = "@hourly"\ncommand = ["backup"]\n'
        'secret_env = { PW = "@pw.txt", API = "kv:shared.api" }\n'
    )
    (desired,) = files.load_desired(tmp_path / "conf").values()
    assert desired.definition.job.secrets == {"PW": "kv:db.PW", "API": "kv:shared.api"}
    assert desired.secret_values == {"db.PW": "pa55"}

    (tmp_path / "conf" / "s.toml").write_text(
        '[schedules.db]\nspec = "@hourly"\ncommand = ["backup"]\nsecret_env = { PW = "@gone" }\n'
    )
    with pytest.raises(InvalidInput, match="schedules.db: secret_env PW: cannot read"):
        files.load_desired(tmp_path / "conf")


def test_applying_a_file_whose_secret_changed_rotates_it(scheduler: str, tmp_path: Path) -> None:
    from jetcron.log import secrets

    async def stored() -> str | None:
        nc = await nats.connect(scheduler)
        try:
            return await secrets.get(nc, "default", "db.PW")
        finally:
            await nc.close()

    f = tmp_path / "db.toml"
    f.write_text(
        '[schedules.db]\nspec = "@daily"\ncommand = ["true"]\nsecret_env = { PW = "@pw" }\n'
    )
    (tmp_path / "pw").write_text("first")
    assert cli(scheduler, "apply", "-f", str(f)).exit_code == 0
    (tmp_path / "pw").write_text("second")

    dry = cli(scheduler, "apply", "-f", str(f), "--dry-run")
    assert asyncio.run(stored()) == "first"
    again = cli(scheduler, "apply", "-f", str(f))

    assert dry.stdout == "up to date: nothing to change; 1 secret(s) would be put again\n"
    assert again.stdout == "up to date: nothing to change; 1 secret(s) put again\n"
    assert asyncio.run(stored()) == "second"
