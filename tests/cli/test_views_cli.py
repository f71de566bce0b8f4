"""The query side of the CLI against a live service and executor, as an operator meets it.

What is stored is shown (trigger reason and actor, action results), health says failing from
the first failed run with distinct exit codes, run ids resolve by prefix, and the global
options work before and after the subcommand.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import nats
import pytest
from typer.testing import CliRunner, Result

from conftest import free_port
from jetcron import service
from jetcron.cli import text
from jetcron.cli.main import app
from jetcron.executors.agent import Executor, ExecutorConfig
from jetcron.server import NatsServer
from polling import wait_until

runner = CliRunner()
SRC = str(Path(__file__).resolve().parents[2] / "src")


class Live:
    """A scheduler service and an executor (`host-a`) in a background thread; the CLI in ours."""

    def __init__(self, url: str, journal: Path) -> None:
        self.url = url
        self._journal = journal
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._loop.run_until_complete, args=(self._main(),))

    async def _main(self) -> None:
        self._stop = stop = asyncio.Event()
        nc = await nats.connect(self.url)
        up = asyncio.Event()
        config = ExecutorConfig(
            name="host-a", targets=["host-a", "default"], journal_dir=str(self._journal),
            heartbeat_s=1, ack_wait_s=5, drain_timeout_s=1, kill_grace_s=0.5,
        )  # fmt: skip
        async with asyncio.TaskGroup() as tg:
            tg.create_task(service.run(nc, stop=stop, ready=up))
            await up.wait()
            tg.create_task(Executor(nc, config).run(stop))
            self._ready.set()
        await nc.close()

    def __enter__(self) -> Live:
        self._thread.start()
        assert self._ready.wait(30), "service did not come up"
        self.until(lambda: "host-a" in self.cli("executors").stdout)
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._stop is not None
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(30)
        self._loop.close()

    def cli(self, *args: str, env: dict[str, str] | None = None) -> Result:
        """`jetcron -s URL ARGS`: the server given before the subcommand."""
        return runner.invoke(app, ["-s", self.url, *args], env=env)

    def ok(self, *args: str) -> Result:
        result = self.cli(*args)
        assert result.exit_code == 0, result.output
        return result

    def runs(self, schedule: str) -> list[dict[str, Any]]:
        return json.loads(self.ok("runs", "list", "--schedule", schedule, "--json").stdout)

    def until(self, check: Callable[[], Any], within: float = 20.0) -> Any:
        return wait_until(check, within, every=0.1)

    def finished(self, schedule: str, n: int = 1) -> list[dict[str, Any]]:
        """Wait until `schedule` has n finished runs; its runs, newest first."""
        done = ("succeeded", "failed", "timed_out")
        return self.until(  # type: ignore[no-any-return]
            lambda: (
                (rows := self.runs(schedule))
                and sum(r["status"] in done for r in rows) >= n
                and rows
            )
        )


@pytest.fixture
def live(nats_url: str, tmp_path: Path) -> Iterator[Live]:
    with Live(nats_url, tmp_path / "journal") as running:
        yield running


def test_trigger_reason_and_actor_in_runs_show_and_audit(live: Live) -> None:
    live.ok("schedule", "add", "backup", "@daily", "--", "true")
    live.ok("--actor", "bob", "schedule", "trigger", "backup", "--reason", "verify the fix")
    run = live.finished("backup")[0]
    short = run["run_id"][:8]

    shown = live.ok("runs", "show", short)
    audit = live.ok("audit", "backup")
    listed = live.ok("runs", "list", "--schedule", "backup")
    # newcomer18a #9: a window's runs, both ends included (as `fires --since --until`)
    fired = run["fire_time"]
    window = live.ok("runs", "list", "--since", fired, "--until", fired, "--json").stdout
    before = live.ok("runs", "list", "--until", "2000-01-01T00:00Z", "--json").stdout
    reversed_window = live.cli("runs", "list", "--since", "1h", "--until", "2h")

    assert (run["triggered_by"], run["trigger_reason"], run["manual"]) == (
        "bob",
        "verify the fix",
        True,
    )
    assert "triggered  " in shown.stdout and "manually by bob: verify the fix" in shown.stdout
    assert f"backup triggered run {short} by bob: verify the fix" in audit.stdout
    assert f"{short}  backup" in listed.stdout and "manual by bob: verify the fix" in listed.stdout
    assert [r["run_id"] for r in json.loads(window)] == [run["run_id"]]
    assert json.loads(before) == []
    assert reversed_window.exit_code == 2 and "is after --until" in reversed_window.stderr
    entries = json.loads(live.ok("audit", "backup", "--json").stdout)
    assert [e["type"] for e in entries] == ["schedule.created", "run.triggered"]
    assert (entries[1]["actor"], entries[1]["run_id"]) == ("bob", run["run_id"])


def test_add_warns_only_when_true_and_audit_says_the_options_as_typed(live: Live) -> None:
    # host-a (target default) runs without --allow-shell; no executor serves `nowhere`
    refused = live.ok("schedule", "add", "sh", "@daily", "--shell", "ls | wc")
    unknown = live.ok("schedule", "add", "sh2", "@daily", "--shell", "ls | wc", "-t", "nowhere")
    plain = live.ok("schedule", "add", "argv", "@daily", "--", "ls")
    typo = live.ok("schedule", "add", "argv2", "@daily", "-t", "defualt", "--", "ls")
    moved = live.ok("schedule", "update", "argv", "-t", "mars")
    assert "executor host-a of target 'default' refuses shell strings" in refused.stderr
    assert "no executor of target 'nowhere' is online" in unknown.stderr
    assert "shell" not in plain.stderr and "no executor" not in plain.stderr
    assert "note: no executor online serves target 'defualt'" in typo.stderr
    assert "note: no executor online serves target 'mars'" in moved.stderr

    live.ok("schedule", "add", "tidy", "0 3 * * *", "--retries", "2", "--", "echo", "hi")
    live.ok("schedule", "update", "tidy", "--retries", "3", "--timeout", "30s", "--max-runs", "5")
    live.ok("schedule", "skip", "tidy", "03:00")

    lines = [x.strip() for x in live.ok("audit", "tidy").stdout.splitlines()]
    entries = json.loads(live.ok("audit", "tidy", "--json").stdout)

    assert lines[1:4] == ["spec: 0 3 * * *", "command: echo hi", "retries: 2"]
    assert lines[5:8] == ["timeout: 1h → 30s", "retries: 2 → 3", "max_runs: none → 5"]
    assert " tidy skip planned (v3) by " in lines[8] and lines[9].startswith("skip: 20")
    assert entries[1]["changes"] == [
        ["timeout", "1h", "30s"],
        ["retries", 2, 3],
        ["max_runs", None, 5],
    ]
    assert entries[1]["diff"]["retry.max_attempts"] == [3, 4]  # why: the stored shape stays


def test_runs_show_lists_every_attempt_with_its_fate(live: Live) -> None:
    live.ok("schedule", "add", "flaky", "@daily", "--retries", "1", "--retry-backoff", "1s",
            "--", "sh", "-c", "exit 3")  # fmt: skip
    live.ok("schedule", "trigger", "flaky")
    run = live.until(lambda: [r for r in live.runs("flaky") if r["status"] == "failed"])[0]

    shown = live.ok("runs", "show", run["run_id"][:8]).stdout.splitlines()
    tried = json.loads(live.ok("runs", "show", run["run_id"], "--json").stdout)["attempts"]

    [first] = [i for i, x in enumerate(shown) if x.startswith("attempts ")]
    assert " on host-a: retried after " in shown[first]
    assert shown[first].endswith("(exited with code 3)")
    assert ": failed " in shown[first + 1] and shown[first + 1].lstrip().startswith("#2 ")
    assert [(a["attempt"], a["fate"]) for a in tried] == [(1, "retried"), (2, "failed")]
    # why: the header's `started` is attempt 1's; its `finished` names whose result it is
    [finished] = [x for x in shown if x.startswith("finished ")]
    began = tried[1]["started_at"][11:19]
    assert finished.endswith(f"(attempt 2 on host-a, started {began})")


def test_health_fails_from_the_first_failed_run_and_exit_codes(live: Live, tmp_path: Path) -> None:
    healthy = live.cli("health")
    live.ok("schedule", "add", "nightly", "@daily", "--", "false")
    live.ok("schedule", "trigger", "nightly")
    live.finished("nightly")

    unhealthy = live.cli("health")
    report = json.loads(live.cli("health", "--json").stdout)
    no_nats = runner.invoke(app, ["health", "-s", f"nats://127.0.0.1:{free_port()}"])
    with NatsServer(data_dir=tmp_path / "bare") as bare:  # NATS, but no jetcron service
        no_service = runner.invoke(app, ["-s", bare.url, "health", "--json"])

    assert (healthy.exit_code, healthy.stdout.strip()) == (0, "healthy")
    assert unhealthy.exit_code == 1
    assert "failing" in unhealthy.stdout and "(the last run failed)" in unhealthy.stdout
    [problem] = report["problems"]
    assert (problem["kind"], problem["subject"], problem["streak"]) == ("failing", "nightly", 1)
    assert problem["since"].endswith("Z") and "exited with code 1" in problem["detail"]
    assert no_nats.exit_code == 3 and "unreachable" in no_nats.stderr
    assert no_service.exit_code == 3
    assert json.loads(no_service.stdout)["reachable"] is False


def test_unknown_names_and_runs_exit_2(live: Live) -> None:
    audit = live.cli("audit", "nope")
    show = live.cli("runs", "show", "ffffffffff")
    last = live.cli("runs", "last", "nope")

    assert (audit.exit_code, audit.stderr.strip()) == (2, "error: schedule 'nope' not found")
    assert show.exit_code == 2 and "no run 'ffffffffff'" in show.stderr
    assert last.exit_code == 2


def test_an_unknown_name_close_to_a_live_one_asks_did_you_mean(live: Live) -> None:
    # nc21b #11: `notify add --schedule exq` suggested a name; `schedule show hell` did not
    live.ok("schedule", "add", "hello", "@daily", "--", "true")
    typo = live.cli("schedule", "show", "hell")
    far = live.cli("schedule", "show", "zzz")

    assert (typo.exit_code, typo.stderr.strip()) == (
        2,
        "error: schedule 'hell' not found: did you mean 'hello'?",
    )
    assert far.stderr.strip() == "error: schedule 'zzz' not found", far.stderr


def test_next_of_a_paused_schedule_says_it_is_paused(live: Live) -> None:
    live.ok("schedule", "add", "resting", "@daily", "--", "true")
    live.ok("schedule", "pause", "resting")
    paused = live.ok("schedule", "next", "resting")
    shown = live.ok("schedule", "show", "resting")
    live.ok("schedule", "resume", "resting")
    resumed = live.ok("schedule", "next", "resting", "-n", "1")

    assert "resting: it is paused: no fires until `jetcron schedule resume`" in paused.stdout
    # nc21b #11: show says it too, not an empty table with headers
    assert "next fires: none (it is paused: no fires until `jetcron schedule resume`)" in (
        shown.stdout
    )
    assert "00:00:00Z" in resumed.stdout


def test_run_ids_resolve_by_prefix_and_an_ambiguous_one_names_the_candidates(
    live: Live,
) -> None:
    live.ok("schedule", "add", "often", "@daily", "--", "true")
    for _ in range(17):  # why: 17 hex ids share a first character for sure
        live.ok("schedule", "trigger", "often")
    ids = [r["run_id"] for r in live.finished("often", 17)]
    first = next(c for c in "0123456789abcdef" if sum(i.startswith(c) for i in ids) > 1)
    candidates = sorted(i for i in ids if i.startswith(first))

    ambiguous = live.cli("runs", "show", first)
    logs = live.cli("runs", "logs", ids[0][:8])
    cancel = live.cli("runs", "cancel", ids[0][:8])

    assert ambiguous.exit_code == 2
    assert f"run id '{first}' is ambiguous: it starts {candidates[0]}, {candidates[1]}" in (
        ambiguous.stderr
    )
    assert logs.exit_code == 0, logs.output
    assert cancel.exit_code == 2 and f"run {ids[0]} already ended" in cancel.stderr


def test_global_options_before_or_after_the_subcommand(live: Live, tmp_path: Path) -> None:
    live.ok("schedule", "add", "g", "@daily", "--", "true")
    wrong = {"NATS_URL": f"nats://127.0.0.1:{free_port()}"}
    missing = str(tmp_path / "missing.creds")

    before = runner.invoke(app, ["-s", live.url, "schedule", "list", "--json"], env=wrong)
    after = runner.invoke(app, ["schedule", "list", "--json", "-s", live.url], env=wrong)
    from_env = runner.invoke(app, ["schedule", "list"], env={"NATS_URL": live.url})
    creds_before = runner.invoke(app, ["--creds", missing, "-s", live.url, "status"])
    creds_after = runner.invoke(app, ["status", "-s", live.url, "--creds", missing])
    actor_before = runner.invoke(
        app, ["--actor", "carol", "-s", live.url, "schedule", "pause", "g"]
    )
    actor_after = live.cli("schedule", "resume", "g", "--actor", "dave")

    assert [r["name"] for r in json.loads(before.stdout)] == ["g"]
    assert [r["name"] for r in json.loads(after.stdout)] == ["g"]
    assert from_env.exit_code == 0 and "g" in from_env.stdout
    for result in (creds_before, creds_after):  # the creds reached the connection
        assert result.exit_code == 2, result.stderr
        assert "missing.creds: no such readable file" in result.stderr
    assert actor_before.exit_code == 0 and actor_after.exit_code == 0
    audit = json.loads(live.ok("audit", "g", "--json").stdout)
    assert [(e["type"], e["actor"]) for e in audit[1:]] == [
        ("schedule.paused", "carol"),
        ("schedule.resumed", "dave"),
    ]


def test_action_results_are_shown_and_executors_list_their_actions(live: Live) -> None:
    live.ok("schedule", "add", "ping", "@daily", "--action", "log", "--param", "message=pong")
    live.ok("schedule", "trigger", "ping")
    run = live.finished("ping")[0]

    last = live.ok("runs", "last", "ping")
    shown = live.ok("runs", "show", run["run_id"][:8])
    as_json = json.loads(live.ok("runs", "show", run["run_id"], "--json").stdout)
    offered = {a["action"]: a for a in json.loads(live.ok("actions", "--json").stdout)}

    assert run["status"] == "succeeded"
    assert last.stdout == '"pong"\n'
    assert '── result (the action\'s return value) ──\n"pong"' in shown.stdout
    assert as_json["output"]["result"] == "pong"
    assert offered["log"] == {
        "action": "log",
        "parameters": ['message=""'],
        "executors": ["host-a"],
        "targets": ["default", "host-a"],
    }
    assert offered["http"]["parameters"][0] == "url"  # required: no default
    assert {"http", "sleep", "noop"} <= set(offered)


def test_add_warns_when_no_online_executor_offers_the_action(live: Live) -> None:
    offered = live.ok("schedule", "add", "fine", "@daily", "--action", "log")
    typo = live.ok("schedule", "add", "typo", "@daily", "--action", "lgo")
    nobody = live.ok("schedule", "add", "far", "@daily", "--action", "log", "--target", "mars")

    assert "warning" not in offered.stderr
    assert "no executor of target 'default' offers action 'lgo'" in typo.stderr
    assert "no executor online serves target 'mars'" in nobody.stderr


def test_add_warns_when_a_param_is_not_of_the_advertised_defaults_type(live: Live) -> None:
    # newcomer20c #4: `sleep seconds=1.0` with seconds=abc failed only when the run started
    bad = live.ok("schedule", "add", "act2", "@daily", "--action", "sleep", "-p", "seconds=abc")
    good = live.ok("schedule", "add", "act3", "@daily", "--action", "sleep", "-p", "seconds=2")
    assert " ".join(bad.stderr.split()) == (
        "warning: action 'sleep' of executor host-a: seconds takes a number (default 1.0), "
        'not "abc": its runs would fail; see `jetcron actions`'
    )
    assert "warning" not in good.stderr


def test_tables_fit_80_columns_and_show_no_python_reprs(live: Live) -> None:
    live.ok("schedule", "add", "a-rather-long-schedule-name", "@daily", "--", "sh", "-c", "exit 7")
    live.ok("schedule", "trigger", "a-rather-long-schedule-name", "--reason", "x" * 100)
    live.finished("a-rather-long-schedule-name")
    narrow = {"COLUMNS": "80"}

    outputs = [
        live.cli(*args, env=narrow).stdout
        for args in (("runs", "list"), ("stats",), ("executors",), ("status",), ("actions",))
    ]

    for out in outputs:
        assert out.strip() and max(len(line) for line in out.splitlines()) <= 80, out
        for repr_ in ("None", "False", "True", "{'", "+00:00"):
            assert repr_ not in out, out
    runs_table = outputs[0].splitlines()
    assert len(runs_table) == 3  # header, rule, one row: nothing wraps
    assert "failed" in runs_table[2] and runs_table[2].endswith("…")


def test_runs_follow_prints_triggers_starts_and_results_as_they_land(live: Live) -> None:
    live.ok("schedule", "add", "watched", "@daily", "--", "true")
    env = {**os.environ, "PYTHONPATH": SRC, "NATS_URL": live.url}
    follow = subprocess.Popen(
        [sys.executable, "-m", "jetcron", "runs", "follow", "--schedule", "watched", "-n", "3"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert follow.stderr is not None
        assert "following watched" in follow.stderr.readline()  # subscribed: trigger now
        live.ok("schedule", "trigger", "watched", "--reason", "look")
        out, _ = follow.communicate(timeout=30)
    finally:
        follow.kill()

    lines = out.splitlines()
    assert [line.split()[1:3] for line in lines] == [
        ["watched", "triggered"],
        ["watched", "started"],
        ["watched", "succeeded"],
    ]
    assert lines[0].endswith("(look), for default") and "manual by " in lines[0]
    assert lines[1].endswith(": on host-a") and lines[0][:20].endswith("Z")


def test_runs_follow_of_an_unknown_schedule_exits_2_instead_of_waiting(live: Live) -> None:
    follow = live.cli("runs", "follow", "--schedule", "nosuch", "-n", "1")

    assert (follow.exit_code, follow.stderr) == (2, "error: schedule 'nosuch' not found\n")


def test_runs_logs_of_a_run_that_failed_silently_says_why_on_stderr(live: Live) -> None:
    live.ok("schedule", "add", "typo", "@daily", "--action", "lgo")
    live.ok("schedule", "add", "quiet", "@daily", "--", "true")
    live.ok("schedule", "trigger", "typo")
    live.ok("schedule", "trigger", "quiet")
    failed = live.finished("typo")[0]
    live.finished("quiet")

    logs = live.cli("runs", "logs", failed["run_id"][:8])
    last = live.cli("runs", "last", "typo")
    fine = live.cli("runs", "last", "quiet")

    assert failed["status"] == "failed" and failed["error"]
    said = f"run {failed['run_id'][:8]} failed with no output: {failed['error'].splitlines()[0]}"
    assert (logs.exit_code, logs.stdout, logs.stderr) == (0, "", said + "\n")
    assert last.exit_code == 0 and last.stderr.splitlines()[-1] == said
    assert (fine.exit_code, fine.stdout, len(fine.stderr.splitlines())) == (0, "", 2)
    quiet = live.finished("quiet")[0]
    assert fine.stderr.splitlines()[-1] == f"run {quiet['run_id'][:8]} succeeded with no output"
    empty = live.cli("runs", "logs", quiet["run_id"][:8])
    assert (empty.exit_code, empty.stdout) == (0, "")
    assert empty.stderr == f"run {quiet['run_id'][:8]} succeeded with no output\n"


def test_a_name_deleted_and_added_again_shows_the_new_schedules_runs_only(live: Live) -> None:
    live.ok("schedule", "add", "hello", "@daily", "--", "true")
    live.ok("schedule", "trigger", "hello")
    [old] = live.finished("hello")
    live.ok("schedule", "delete", "hello")
    live.ok("schedule", "add", "hello", "@daily", "--", "true")

    shown = json.loads(live.ok("schedule", "show", "hello", "--json").stdout)
    assert shown["runs"] == [] and shown["runs_total"] == 0
    stats = json.loads(live.ok("stats", "--schedule", "hello", "--json").stdout)
    assert [r for r in stats if r["runs"]] == []
    assert live.ok("stats", "--schedule", "hello").stdout == "no finished runs of 'hello' yet\n"
    last = live.cli("runs", "last", "hello")
    assert last.exit_code == 2 and "'hello' has no finished run yet" in last.output
    # history keeps the earlier schedule's run, marked as such
    [listed] = live.runs("hello")
    assert (listed["run_id"], listed["previous"]) == (old["run_id"], True)
    table = live.ok("runs", "list", "--schedule", "hello").stdout
    assert f"{old['run_id'][:8]}  hello (previous)" in table
    shown_run = live.ok("runs", "show", old["run_id"][:8]).stdout
    assert "schedule   hello (previous)" in shown_run.splitlines()[1]


def test_why_of_a_deleted_schedule_says_who_deleted_it_and_when(live: Live) -> None:
    live.ok("schedule", "add", "gone", "@every 10s", "--", "true")
    live.ok("--actor", "bob", "schedule", "delete", "gone", "--reason", "done with it")
    [deleted] = [e for e in json.loads(live.ok("audit", "gone", "--json").stdout)][-1:]
    later = live.ok("why", "gone", "2099-01-01T00:00:05Z").stdout
    now = live.ok("why", "gone").stdout
    before = live.ok("why", "gone", "2000-01-01T00:00:10Z").stdout
    # newcomer18a #4: no fire time of the spec either: that first, exit 2, one line
    typo = live.cli("why", "gone", "2000-01-01T00:00:05Z")

    said = f"The schedule was deleted by bob at {deleted['at'][:19]}"
    assert later.startswith("2099-01-01T00:00:05Z: no fire\n") and said in later
    assert "done with it" in later and "not a fire time" not in later
    assert now.startswith(said)
    assert before.startswith("2000-01-01T00:00:10Z: not created\n")
    assert "Not fired: the schedule was created only at" in before
    assert (typo.exit_code, typo.stdout) == (2, ""), typo.output
    [line] = typo.stderr.splitlines()
    assert "is not a fire time of '@every 10s' in UTC; the nearest are " in line
    assert "; the schedule did not exist yet: it was created only at " in line


def test_an_attempt_line_says_its_fate_once() -> None:
    from jetcron.cli.run_facts import _attempt

    base = {"attempt": 2, "started_at": "2026-12-02T03:00:00Z", "executor": "vm", "duration_s": 5}
    timed_out = _attempt(base | {"fate": "timed_out", "detail": "timed out after 5s"})
    retried = _attempt(base | {"fate": "retried", "detail": "timed out after 5s"})

    assert timed_out == "#2 2026-12-02T03:00:00Z on vm: timed out after 5s"
    assert retried == "#2 2026-12-02T03:00:00Z on vm: retried after 5s (timed out after 5s)"


def test_a_reason_or_description_with_a_control_character_is_refused(live: Live) -> None:
    live.ok("schedule", "add", "plain", "@daily", "--", "true")
    forged = "ok\n2026-12-02T17:00:00Z plain deleted (v99) by admin: forged line"

    paused = live.cli("schedule", "pause", "plain", "--reason", forged)
    described = live.cli("schedule", "update", "plain", "--description", "\x1b[31mred")
    audit = live.ok("audit", "plain")

    assert paused.exit_code == described.exit_code == 2
    assert "the reason holds a control character (U+000A at 2)" in paused.output
    assert "the description holds a control character (U+001B at 0)" in described.output
    heads = [line.split()[2] for line in audit.stdout.splitlines() if not line.startswith(" ")]
    assert heads == ["created"]


async def _append_again(url: str, subject: str) -> None:
    """Copy the last message on `subject` back into the log with a fresh msg id, as an admin
    (or anyone on a server without auth) can."""
    nc = await nats.connect(url)
    try:
        js = nc.jetstream()
        last = await js.get_last_msg("JETCRON", subject)
        await js.publish(subject, last.data or b"", headers={"Nats-Msg-Id": "copy-1"})
    finally:
        await nc.close()


def test_a_trigger_copied_back_into_the_log_blocks_no_later_fire(live: Live) -> None:
    live.ok("schedule", "add", "pz", "@every 2s", "--overlap", "skip", "--", "true")
    first = live.finished("pz")[-1]
    asyncio.run(_append_again(live.url, "jetcron.trigger.default"))

    # the run copied stays ended, and the fires after it run (not skipped as overlapping it)
    later = live.until(lambda: [r for r in live.runs("pz") if r["fire_time"] > first["fire_time"]
                                and r["status"] == "succeeded"][3:])  # fmt: skip
    health = live.cli("health")
    fires = json.loads(live.ok("fires", "pz", "--since", "1m", "--json").stdout)

    assert later
    assert not [f for f in fires if "overlap" in f.get("reason", "")]
    assert health.exit_code == 1 and "rejected run events" in health.stdout
    assert "the run was already triggered" in health.stdout


def test_add_warns_of_a_conflict_only_past_the_slots_of_the_targets_executors(live: Live) -> None:
    """newcomer18a #6: on one host every job shares `default`, and nearly every add warned.
    host-a runs 4 at once (its heartbeat says so): four jobs at one time fit, a fifth waits."""
    said = [
        live.ok("schedule", "add", f"night{i}", "30 2 * * *", "--", "true").stderr for i in range(5)
    ]
    executors = json.loads(live.ok("executors", "--json").stdout)

    assert [e.get("concurrency") for e in executors if e["name"] == "host-a"] == [4]
    assert said[:4] == ["", "", "", ""], said
    assert said[4].startswith("warning: night4 would overlap night0, night1, night2 and 1 more "), (
        said[4]
    )
    assert " with more runs at once than its executors run (4), the first at " in said[4]
    assert said[4].endswith("; see `jetcron conflicts --crowded`\n"), said[4]


def test_status_shows_the_checkpoints_store_beside_the_log(live: Live) -> None:
    # newcomer20b F3: the snapshot store took more disk than the log; status showed the log's
    async def on_disk() -> int:
        nc = await nats.connect(live.url)
        info = await nc.jetstream().stream_info("OBJ_jetcron_snapshots")
        await nc.close()
        return int(info.state.bytes)

    size = asyncio.run(on_disk())
    stream = json.loads(live.ok("status", "--json").stdout)["stream"]
    [line] = [x for x in live.ok("status").stdout.splitlines() if x.startswith("log ")]
    assert stream["snapshot_bytes"] == size
    assert line.endswith(f"replica(s); checkpoints {text.size(size)}")


def test_stats_marks_a_bucket_bound_and_not_an_exact_percentile() -> None:
    # newcomer20b F4: a 40 s job read p50 46.3s (a bucket's upper bound) with no mark
    from jetcron.cli.views import _stats_rows

    row = {"group": "schedule", "key": "slow30", "runs": 5, "success_rate": 1.0}
    times = {"duration_p50": 46.3, "duration_p95": 46.3, "lateness_p99": None}
    [bounded] = _stats_rows([{**row, **times, "bounded": True}])
    [exact] = _stats_rows([{**row, **times, "duration_p50": 40, "duration_p95": 40}])
    assert bounded[4:7] == ["≤46.3s", "≤46.3s", "-"]
    assert exact[4:7] == ["40s", "40s", "-"]
