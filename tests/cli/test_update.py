"""`schedule update` as an operator uses it: each flag alone changes its field and nothing else."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from served import cli, listed, ok, scheduler_in_thread

from jetcron.domain.fields import FIELDS
from polling import wait_until


@pytest.fixture
def scheduler(nats_url: str) -> Iterator[str]:
    """A scheduler service on this test's nats-server, with the calendars FULL names."""
    for url in scheduler_in_thread(nats_url):
        for cal in ("maint", "office"):
            assert cli(url, "calendar", "add", cal, "--dates", "2026-12-25").exit_code == 0
        yield url


FULL = [
    "--tz", "Europe/Berlin", "-p", "channel=blue", "--cwd", "/srv", "-e", "A=1",
    "-t", "nas", "--timeout", "20s", "--retries", "2", "--retry-backoff", "1m",
    "--retry-multiplier", "3", "--retry-max-backoff", "1h", "--overlap", "allow",
    "--catchup", "all", "--catchup-window", "10m", "--catchup-max-fires", "5",
    "--start", "2026-01-01T00:00:00Z", "--end", "2030-01-01T00:00:00Z", "--jitter", "5s",
    "--max-runs", "7", "--breaker", "0", "--breaker-cooldown", "30m", "--max-cpu", "80",
    "--max-memory", "70", "--max-load", "1.5", "--disk-path", "/tank", "--disk-above", "85",
    "--disk-below", "95", "--idle-minutes", "5", "--max-defer", "5m", "--on-expire", "force",
    "-d", "nightly backup", "--tag", "ops", "--tag", "nas", "--meta", "team=storage",
    "--expect-success-within", "26h", "--expect-done-by", "06:00",
    "--exclude", "maint", "--only-within", "office", "--secret-env", "S=kv:full.S",
    "--action", "log",
]  # fmt: skip
"""`schedule add` options that set every field (but command and shell: an action, as params
need one) to a non-default value."""

CONDITIONS = [k for k, f in FIELDS.items() if f.at[0] == "conditions"]
GONE = None
"""Expected value of a field back at its default (export leaves it out)."""

CASES: list[tuple[str, list[str], dict[str, Any]]] = [
    ("spec", ["--spec", "0 * * * *"], {"spec": "0 * * * *"}),
    # a command or shell replaces the action, and its params with it (nothing would read them)
    ("command", ["--", "echo", "hi"], {"command": ["echo", "hi"], "action": GONE, "params": GONE}),
    (
        "shell",
        ["--shell", "echo hi | wc"],
        {"shell": "echo hi | wc", "action": GONE, "params": GONE},
    ),
    ("action", ["--action", "noop"], {"action": "noop"}),
    ("params", ["-p", "level=80"], {"params": {"level": 80}}),
    ("cwd", ["--cwd", "/tmp"], {"cwd": "/tmp"}),
    ("env", ["-e", "B=2"], {"env": {"B": "2"}}),
    ("secret_env", ["--secret-env", "T=kv:t"], {"secret_env": {"T": "kv:t"}}),
    ("tz", ["--tz", "Asia/Tokyo"], {"tz": "Asia/Tokyo"}),
    ("target", ["-t", "pi"], {"target": "pi"}),
    ("timeout", ["--timeout", "5m"], {"timeout": "5m"}),
    ("retries", ["--retries", "5"], {"retries": 5}),
    ("retry_backoff", ["--retry-backoff", "30s"], {"retry_backoff": "30s"}),
    ("retry_multiplier", ["--retry-multiplier", "1.5"], {"retry_multiplier": 1.5}),
    ("retry_max_backoff", ["--retry-max-backoff", "2h"], {"retry_max_backoff": "2h"}),
    ("overlap", ["--overlap", "cancel_previous"], {"overlap": "cancel_previous"}),
    ("catchup", ["--catchup", "none"], {"catchup": "none"}),
    ("catchup_window", ["--catchup-window", "2h"], {"catchup_window": "2h"}),
    ("catchup_max_fires", ["--catchup-max-fires", "9"], {"catchup_max_fires": 9}),
    ("start", ["--start", "2026-02-01T00:00:00Z"], {"start": "2026-02-01T00:00:00Z"}),
    ("end", ["--end", "2031-01-01T00:00:00Z"], {"end": "2031-01-01T00:00:00Z"}),
    ("jitter", ["--jitter", "9s"], {"jitter": "9s"}),
    ("max_runs", ["--max-runs", "8"], {"max_runs": 8}),
    ("breaker", ["--breaker", "4"], {"breaker": 4}),
    ("breaker_cooldown", ["--breaker-cooldown", "none"], {"breaker_cooldown": GONE}),
    ("max_cpu", ["--max-cpu", "50"], {"max_cpu": 50.0}),
    ("max_memory", ["--max-memory", "60"], {"max_memory": 60.0}),
    ("max_load", ["--max-load", "2"], {"max_load": 2.0}),
    ("disk_path", ["--disk-path", "/pool"], {"disk_path": "/pool"}),
    ("disk_above", ["--disk-above", "80"], {"disk_above": 80.0}),
    ("disk_below", ["--disk-below", "90"], {"disk_below": 90.0}),
    ("idle_minutes", ["--idle-minutes", "10"], {"idle_minutes": 10.0}),
    ("max_defer", ["--max-defer", "10m"], {"max_defer": "10m"}),
    ("on_expire", ["--on-expire", "skip"], {"on_expire": GONE}),
    ("description", ["-d", "other"], {"description": "other"}),
    ("tags", ["--tag", "x"], {"tags": ["x"]}),
    ("metadata", ["--meta", "team=ops"], {"metadata": {"team": "ops"}}),
    ("expect_success_within", ["--expect-success-within", "1h"], {"expect_success_within": "1h"}),
    ("expect_done_by", ["--expect-done-by", "none"], {"expect_done_by": GONE}),
    ("exclude", ["--exclude", "office"], {"exclude": ["office"]}),
    ("only_within", ["--only-within", "maint"], {"only_within": ["maint"]}),
    # clears: back to the default, nothing else moves
    ("no-conditions", ["--no-conditions"], dict.fromkeys(CONDITIONS, GONE)),
    ("clear-env", ["--clear-env"], {"env": GONE}),
    ("no-start", ["--no-start"], {"start": GONE}),
    ("no-end", ["--no-end"], {"end": GONE}),
    ("reset-tags", ["--reset", "tags"], {"tags": GONE}),
    ("reset-max-runs", ["--reset", "max_runs"], {"max_runs": GONE}),
    ("reset-timeout", ["--reset", "timeout"], {"timeout": GONE}),
    ("reset-one-condition", ["--reset", "max-cpu"], {"max_cpu": GONE}),
    ("timeout-none", ["--timeout", "none"], {"timeout": "none"}),
]


def test_the_table_covers_every_field() -> None:
    assert {case for case, _, _ in CASES} >= set(FIELDS)
    assert {key for _, _, changed in CASES for key in changed} == set(FIELDS)


def exported(server: str, name: str) -> dict[str, Any]:
    result = cli(server, "export", name)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)["schedules"][name]


@pytest.mark.parametrize(("flags", "changed"), [pytest.param(f, c, id=i) for i, f, c in CASES])
def test_one_flag_changes_one_field(
    scheduler: str, flags: list[str], changed: dict[str, Any]
) -> None:
    added = cli(scheduler, "schedule", "add", "full", "*/5 * * * *", *FULL)
    assert added.exit_code == 0, added.output
    before = exported(scheduler, "full")

    result = cli(scheduler, "schedule", "update", "full", *flags)

    assert result.exit_code == 0, result.output
    assert "updated schedule 'full'" in result.stdout
    kept = {k: v for k, v in before.items() if k not in changed}
    assert exported(scheduler, "full") == kept | {k: v for k, v in changed.items() if v is not GONE}


def test_the_full_schedule_sets_every_field_but_the_other_job_kinds(scheduler: str) -> None:
    assert cli(scheduler, "schedule", "add", "full", "*/5 * * * *", *FULL).exit_code == 0
    assert set(exported(scheduler, "full")) == set(FIELDS) - {"shell", "command"}


@pytest.mark.parametrize(
    ("flags", "needle"),
    [
        (["--reset", "retires"], "--reset retires: no such field (did you mean 'retries'?)"),
        (["--reset", "spec"], "--reset spec: has no default"),
        (["--retries", "-1"], "--retries: -1: must be at least 0"),
        (["--timeout", "soon"], "--timeout: invalid duration 'soon'"),
        (["--overlap", "queue"], "--overlap: 'queue': use one of skip, buffer_one"),
        (["--max-cpu", "150"], "--max-cpu: 150.0: must be at most 100.0"),
        (["--env", "A"], "--env expects KEY=VALUE, got 'A'"),
    ],
    ids=["reset-typo", "reset-spec", "retries", "timeout", "overlap", "max-cpu", "env"],
)
def test_bad_update_flags_change_nothing(scheduler: str, flags: list[str], needle: str) -> None:
    assert cli(scheduler, "schedule", "add", "x", "@daily", "--", "true").exit_code == 0
    before = exported(scheduler, "x")

    result = cli(scheduler, "schedule", "update", "x", *flags)

    assert result.exit_code == 2, result.output
    assert needle in " ".join(result.stderr.split())
    assert exported(scheduler, "x") == before


def test_backoff_beyond_the_max_says_which_flag_to_add(scheduler: str) -> None:
    assert cli(scheduler, "schedule", "add", "x", "@daily", "--", "true").exit_code == 0
    result = cli(scheduler, "schedule", "update", "x", "--retry-backoff", "20m")
    assert result.exit_code == 2
    assert "max backoff" in result.stderr


def test_an_update_with_nothing_given_is_a_slip_exit_2(scheduler: str) -> None:
    assert cli(scheduler, "schedule", "add", "x", "@daily", "--", "true").exit_code == 0
    before = exported(scheduler, "x")

    result = cli(scheduler, "schedule", "update", "x")

    assert result.exit_code == 2, result.output
    [line] = result.stderr.strip().splitlines()
    assert "schedule update x: nothing given to change; name a field" in line, line
    assert exported(scheduler, "x") == before


def test_an_update_to_the_values_it_has_is_a_no_op(scheduler: str) -> None:
    assert cli(scheduler, "schedule", "add", "x", "@daily", "--", "true").exit_code == 0
    result = cli(scheduler, "schedule", "update", "x", "--spec", "@daily")
    assert result.exit_code == 0 and "nothing to change" in result.stdout


PARAMS_REFUSED = "params (level) go with an action (--action NAME); a command or shell job"


@pytest.mark.parametrize(
    "job", [["--", "echo", "hi"], ["--shell", "echo hi"]], ids=["command", "shell"]
)
def test_params_with_a_command_are_refused_on_add(scheduler: str, job: list[str]) -> None:
    result = cli(scheduler, "schedule", "add", "x", "@daily", "-p", "level=80", *job)

    assert result.exit_code == 2, result.output
    [line] = result.stderr.strip().splitlines()
    assert PARAMS_REFUSED in line, line
    assert cli(scheduler, "schedule", "show", "x").exit_code == 2  # nothing was created


def test_params_on_a_command_schedule_are_refused_on_update(scheduler: str) -> None:
    assert cli(scheduler, "schedule", "add", "x", "@daily", "--", "true").exit_code == 0
    before = exported(scheduler, "x")

    result = cli(scheduler, "schedule", "update", "x", "-p", "level=80")

    assert result.exit_code == 2, result.output
    assert PARAMS_REFUSED in " ".join(result.stderr.split())
    assert exported(scheduler, "x") == before


def test_an_update_that_only_rotates_a_secret_says_so(scheduler: str, tmp_path: Any) -> None:
    (tmp_path / "pw").write_text("first")
    added = cli(scheduler, "schedule", "add", "db", "@daily", "--secret-env", f"PW=@{tmp_path}/pw",
                "--", "true")  # fmt: skip
    assert added.exit_code == 0, added.output
    (tmp_path / "pw").write_text("second")

    rotated = cli(scheduler, "schedule", "update", "db", "--secret-env", f"PW=@{tmp_path}/pw")

    assert rotated.exit_code == 0, rotated.output
    assert rotated.stdout == "db: definition unchanged; secret(s) db.PW put again\n"


def _until_completed(server: str, name: str) -> dict[str, Any]:
    return wait_until(lambda: listed(server)[name], 20, done=lambda r: r["state"] == "completed")


def test_a_completed_schedule_stays_completed_unless_the_update_gives_it_fires(
    scheduler: str,
) -> None:
    """newcomer16a 4: a new timeout made a schedule past its run limit 'active' for good."""
    # why --overlap allow: no executor here, so the first run stays in flight
    ok(
        scheduler,
        "schedule",
        "add",
        "three",
        "@every 1s",
        "--max-runs",
        "1",
        "--overlap",
        "allow",
        "--",
        "true",
    )
    _until_completed(scheduler, "three")
    out = ok(scheduler, "schedule", "update", "three", "--timeout", "5m")
    assert "it stays completed: the change gives it no fires again" in out
    time.sleep(1.5)
    row = listed(scheduler)["three"]
    assert (row["state"], row["definition"]["timeout_s"]) == ("completed", 300.0)
    out = ok(scheduler, "schedule", "update", "three", "--max-runs", "2")
    assert "stays completed" not in out
    # reopened, it runs once more and is completed again (its completion used to be refused
    # as a repeat of the first, and it stayed active with no fires)
    assert _until_completed(scheduler, "three")["runs_total"] == 2


def test_a_blank_actor_is_no_actor_and_an_oversized_reason_is_bad_input(scheduler: str) -> None:
    ok(scheduler, "schedule", "add", "blank", "@daily", "--", "true")
    ok(scheduler, "schedule", "update", "blank", "-d", "hi", "--actor", "   ")
    ok(scheduler, "schedule", "update", "blank", "-d", "hi2", "--actor", "")
    actors = [e["actor"] for e in json.loads(ok(scheduler, "audit", "blank", "--json"))]
    assert len(actors) == 3 and actors[1].strip() and actors[1] == actors[2]
    for reason, needle in [
        ("r" * 2000, "the reason is too long (2000 characters, at most 1024)"),
        ("r" * 1_100_000, "`pause` is too large to send"),
    ]:
        result = cli(scheduler, "schedule", "pause", "blank", "-r", reason)
        assert result.exit_code == 2, result.output
        [line] = result.stderr.strip().splitlines()
        assert needle in line
    assert listed(scheduler)["blank"]["state"] == "active"


@pytest.mark.parametrize(
    ("flags", "needle"),
    [
        (
            ["--reset", "retries", "conditions"],
            "unexpected argument 'conditions': a new command goes after `--` "
            "(several fields: --reset retries,conditions)",
        ),
        (["--timeout", "5m", "oops"], "unexpected argument 'oops': a new command goes after `--`"),
        (["--tag", "a", "b"], "unexpected argument 'b': a new command goes after `--`"),
        (["oops", "--", "echo", "hi"], "unexpected argument 'oops'"),
    ],
    ids=["reset-two", "after-an-option", "tag-two", "before-dashdash"],
)
def test_a_stray_word_is_no_new_command(scheduler: str, flags: list[str], needle: str) -> None:
    """newcomer19a #1: a word without `--` replaced the job's command, exit 0."""
    assert (
        cli(scheduler, "schedule", "add", "x", "@daily", "--retries", "2", "--", "true").exit_code
        == 0
    )
    before = exported(scheduler, "x")

    result = cli(scheduler, "schedule", "update", "x", *flags)

    assert result.exit_code == 2, result.output
    [line] = result.stderr.strip().splitlines()
    assert needle in line, line
    assert exported(scheduler, "x") == before


def test_reset_takes_several_fields_at_once(scheduler: str) -> None:
    flags = ["--retries", "2", "--timeout", "5m", "--max-cpu", "50", "--", "true"]
    assert cli(scheduler, "schedule", "add", "x", "@daily", *flags).exit_code == 0

    ok(scheduler, "schedule", "update", "x", "--reset", "retries,conditions", "--reset", "timeout")

    assert exported(scheduler, "x")["command"] == ["true"]
    assert not {"retries", "timeout", "max_cpu"} & set(exported(scheduler, "x"))


def test_show_names_the_defaults_an_operator_asks_about(scheduler: str) -> None:
    assert (
        cli(scheduler, "schedule", "add", "x", "@daily", "--retries", "2", "--", "true").exit_code
        == 0
    )
    lines = ok(scheduler, "schedule", "show", "x").splitlines()
    assert "  retries   2" in lines, lines
    [defaults] = [line for line in lines if line.startswith("  defaults")]
    assert (
        defaults.split(None, 1)[1]
        == "tz UTC, target default, timeout 1h, overlap skip, catchup latest"
    )
    ok(scheduler, "schedule", "update", "x", "--timeout", "none", "--target", "pi")
    [defaults] = [
        line for line in ok(scheduler, "schedule", "show", "x").splitlines() if "defaults" in line
    ]
    assert defaults.split(None, 1)[1] == "tz UTC, overlap skip, catchup latest"
