"""End to end: a manual run fanned out to two real executors (`nas` and `pi`, tagged `lamps`);
`runs last` takes the member that really finished last and names the other one, in text and
`--json` (the HTTP API's `last-run` answers the same query: tests/web/test_api.py); `why`
tells a failed member by the members' tally (newcomer19a #13)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from killed import Executor, as_json, executor, online, wait_for
from served import cli, ok

from jetcron.cli.text import short_id

# why: nas answers later than pi, and the member that sorts last by its id (pi) is not the
# one that finished last; pi fails once told to, so `why` has a failed member to tell
JOB = (
    'if [ "$JETCRON_EXECUTOR" = nas ]; then sleep 2; fi; echo "from $JETCRON_EXECUTOR"; '
    'if [ "$JETCRON_EXECUTOR" = pi ] && [ -e "$FAIL" ]; then exit 3; fi'
)


@pytest.fixture
def nas(scheduler: str, tmp_path: Path) -> Iterator[Executor]:
    yield from executor(scheduler, tmp_path, "nas", "lamps")


@pytest.fixture
def pi(scheduler: str, tmp_path: Path) -> Iterator[Executor]:
    yield from executor(scheduler, tmp_path, "pi", "lamps")


def _members(url: str, trigger: str) -> dict[str, str]:
    return as_json(url, "runs", "show", trigger).get("members", {})  # type: ignore[no-any-return]


def _fan_out(url: str) -> str:
    """A manual run of `lamps`, once both members have ended; its trigger's run id."""
    ok(url, "schedule", "trigger", "lamps")
    rows = as_json(url, "runs", "list", "--schedule", "lamps")
    trigger = next(r["run_id"] for r in rows if r["status"] == "fanned_out")
    ended = {"succeeded", "failed"}
    wait_for(
        "both members to end",
        lambda: len(m := _members(url, trigger)) == 2 and set(m.values()) <= ended,
        60,
    )
    return trigger  # type: ignore[no-any-return]


def test_runs_last_and_why_of_a_fan_out_tell_its_members(
    scheduler: str, nas: Executor, pi: Executor, tmp_path: Path
) -> None:
    url = scheduler
    wait_for("both executors online", lambda: {"nas", "pi"} <= online(url))
    fail = tmp_path / "fail"
    add = ("schedule", "add", "lamps", "0 0 1 1 *", "-t", "all:lamps", "--env", f"FAIL={fail}")
    ok(url, *add, "--", "sh", "-c", JOB)
    trigger = _fan_out(url)

    last = cli(url, "runs", "last", "lamps")
    shown = as_json(url, "runs", "last", "lamps")
    quiet = ok(url, "why", "lamps")
    fail.touch()
    failed = _fan_out(url)
    story = ok(url, "why", "lamps")

    member, other = f"{trigger}-nas", f"{trigger}-pi"
    assert last.exit_code == 0, last.output
    assert last.stdout == "from nas\n"
    said = last.stderr.splitlines()[0]
    assert said.startswith(f"run {short_id(member)} of lamps: succeeded at "), said
    assert said.endswith(f"; 1 other member: {short_id(other)} succeeded"), said
    assert (shown["run_id"], shown["output"]["stdout"]) == (member, "from nas\n")
    assert [(m["run_id"], m["status"]) for m in shown["other_members"]] == [(other, "succeeded")]
    assert "manual run" not in quiet  # it succeeded: named as no succeeded manual run is
    assert story.splitlines()[1].startswith(f"  The last manual run, {failed[:8]} by "), story
    assert ", fanned out: 1 failed, 1 succeeded; pi: exited with code 3  (seq " in story, story
