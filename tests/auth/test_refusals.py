"""A role's refusal is said as one line, "not permitted: …", as soon as the server refuses,
never as a timeout, a busy service or a silence (newcomer16c #9, #15); real processes, each
with its own identity, against one secured server and one `serve` for the module."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from secured import Secured, secured_server
from test_workflow import env, jetcron, serving

from conftest import require_nats_server
from jetcron.auth.store import AuthDir
from jetcron.client import query
from jetcron.errors import NotPermitted
from jetcron.log import snapshots
from jetcron.log.refusals import refusing


@pytest.fixture(scope="module")
def sec(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Secured]:
    """A secured server with `serve` running as the scheduler (answering queries)."""
    yield from serving(tmp_path_factory.mktemp("refusals"))


def refused(sec: Secured, user: str, *args: str, code: int = 1) -> str:
    """Run the CLI as `user`; its one stderr line, asserting it said "not permitted"."""
    result = jetcron(sec, user, *args)
    lines = [x for x in result.stderr.splitlines() if x.strip()]
    assert result.returncode == code, result.stderr
    assert len(lines) == 1 and lines[0].startswith("error: not permitted: "), result.stderr
    return lines[0]


async def test_a_refused_request_ends_at_the_refusal_not_at_its_timeout(sec: Secured) -> None:
    nc = await sec.client("host-a")
    began = time.monotonic()
    with pytest.raises(NotPermitted, match="not permitted: queries: .* jetcron.q.schedules"):
        await refusing(nc, query(nc, "schedules", timeout=60))
    took = time.monotonic() - began
    await nc.close()
    assert took < 20, f"{took:.1f}s"  # a refusal comes in milliseconds; the timeout is 60 s


def test_an_executor_identity_asking_a_query_is_not_permitted(sec: Secured) -> None:
    line = refused(sec, "host-a", "schedule", "list")
    assert "not permitted: queries: your NATS user may not publish to jetcron.q.schedules" in line
    line = refused(sec, "host-a", "health")  # not "unreachable" (exit 3): the service is there
    assert "not permitted: queries" in line, line


def test_an_auditor_putting_a_secret_is_not_permitted(sec: Secured, tmp_path: Path) -> None:
    (tmp_path / "tok").write_text("s3cr3t\n")
    line = refused(
        sec, "audrey", "schedule", "add", "sec1", "@hourly", "--secret-env",
        f"K=@{tmp_path / 'tok'}", "--", "true",
    )  # fmt: skip
    assert "secrets" in line, line


def test_an_executor_for_a_target_its_identity_lacks_is_refused_in_one_line(
    sec: Secured, tmp_path: Path
) -> None:
    key = next(u.public_key for u in sec.auth.users() if u.name == "scheduler")
    common = ("--journal-dir", str(tmp_path / "j"), "--scheduler-key", key)
    line = refused(
        sec, "host-a", "executor", "--name", "host-a", "--target", "host-b", *common, code=2
    )
    assert "target 'host-b'" in line, line
    line = refused(
        sec, "host-a", "executor", "--name", "other", "--target", "host-a", *common, code=2
    )
    assert "executor name 'other'" in line, line


def test_an_unknown_identity_is_told_so_not_to_pass_creds(sec: Secured, tmp_path: Path) -> None:
    other = AuthDir(tmp_path / "other")  # a valid identity this server does not know (revoked)
    other.init()
    result = subprocess.run(
        [sys.executable, "-m", "jetcron", "schedule", "list"],
        env={**env(sec, "alice"), "NATS_CREDS": str(other.identity_file("admin"))},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 1, result.stderr
    assert "the server refused the identity in" in result.stderr, result.stderr
    assert "pass --creds" not in result.stderr


@pytest.mark.parametrize("user", ["alice", "audrey"])
def test_runs_follow_shows_runs_to_an_operator_and_an_auditor(sec: Secured, user: str) -> None:
    name = f"followed-{user}"
    assert jetcron(sec, "alice", "schedule", "add", name, "@every 1h", "--target", "host-a",
                   "--", "true").returncode == 0  # fmt: skip
    follow = subprocess.Popen(
        [sys.executable, "-m", "jetcron", "runs", "follow", "--schedule", name, "-n", "1",
         "--json"],
        env=env(sec, user), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert follow.stderr is not None
        said = follow.stderr.readline()
        assert said.startswith(f"following {name}"), said + follow.stderr.read()
        assert jetcron(sec, "alice", "schedule", "trigger", name).returncode == 0
        out, err = follow.communicate(timeout=30)
    finally:
        follow.kill()
    assert follow.returncode == 0, err
    event = json.loads(out)
    assert event["event"]["name"] == name and event["event"]["type"] == "run.triggered", event
    assert "violation" not in err, err


def test_runs_follow_says_what_it_may_not_read_instead_of_sitting_silent(sec: Secured) -> None:
    line = refused(sec, "host-a", "runs", "follow")
    assert "reading the log" in line, line


@pytest.mark.parametrize("user", ["alice", "audrey"])
async def test_a_reader_reads_a_large_state_answer_and_may_not_delete_it(
    sec: Secured, user: str
) -> None:
    """replay --verify's answer too large for a message is an object in the snapshot store:
    operators and auditors read it (they timed out on STREAM.INFO, newcomer16c #9b), and only
    read it."""
    scheduler = await sec.client("scheduler")
    data = bytes(range(256)) * 4000  # 1 MB: several chunks
    await snapshots.save(scheduler, f"state-{user}", data)
    nc = await sec.client(user)
    try:
        # under `refusing`: any refused read would have raised
        assert await refusing(nc, snapshots.load(nc, f"state-{user}")) == data
        with pytest.raises(NotPermitted):
            await refusing(nc, snapshots.delete(nc, f"state-{user}"))
    finally:
        await nc.close()
        await scheduler.close()


async def test_the_auditor_verifies_a_replay_whose_live_state_is_an_object(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """newcomer16c #9b end to end: the live state too large for a message (forced here) is read
    from the snapshot store by the auditor's own `replay --verify`, which says identical."""
    import asyncio

    from typer.testing import CliRunner

    from jetcron.cli.main import app
    from jetcron.log.stream import EventLog
    from jetcron.projections import service as module

    monkeypatch.setattr(module, "STATE_INLINE_MAX", 0)
    require_nats_server()
    with secured_server(tmp_path) as s:
        admin = await s.client("admin")
        await EventLog(admin).open(create=True)
        scheduler = await s.client("scheduler")
        views = module.ProjectionService(scheduler, EventLog(scheduler))
        stop, ready = asyncio.Event(), asyncio.Event()
        task = asyncio.create_task(views.run(stop, ready=ready))
        await ready.wait()
        try:
            env = {"NATS_URL": s.url, "NATS_CREDS": s.creds("audrey")}
            result = await asyncio.to_thread(
                CliRunner().invoke, app, ["replay", "--verify"], env=env
            )
        finally:
            stop.set()
            await task
            await scheduler.close()
            await admin.close()
    assert result.exit_code == 0, result.output
    assert "identical to the live service" in result.output


def test_fires_follow_as_the_auditor_prints_fires_and_no_warnings(sec: Secured) -> None:
    import signal

    assert jetcron(sec, "alice", "schedule", "add", "ticking", "@every 1s", "--target", "host-a",
                   "--overlap", "allow", "--", "true").returncode == 0  # fmt: skip
    follow = subprocess.Popen(
        [sys.executable, "-m", "jetcron", "fires", "ticking", "--follow", "--since", "1s",
         "--json"],
        env=env(sec, "audrey"), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert follow.stdout is not None
        lines: list[dict[str, object]] = []
        while sum(line["fate"] == "triggered" for line in lines) < 2 and len(lines) < 8:
            lines.append(json.loads(follow.stdout.readline()))
    finally:
        follow.send_signal(signal.SIGINT)
        _, err = follow.communicate(timeout=20)
    deleted = jetcron(sec, "alice", "schedule", "delete", "ticking")
    assert deleted.returncode == 0, deleted.stderr
    # (the window's first second may be before the schedule was created)
    assert [line["fate"] for line in lines if line["fate"] != "not_created"] == ["triggered"] * 2
    assert follow.returncode == 0, err
    assert "violation" not in err and "WARNING" not in err, err


@pytest.mark.parametrize(
    "args",
    [
        ("status",), ("executors",), ("stats",), ("audit",), ("runs", "list"),
        ("notify", "list"), ("calendar", "list"), ("schedule", "list", "--all"), ("export",),
        ("replay", "--verify"), ("due",), ("conflicts",), ("actions",), ("health",),
    ],
    ids=lambda a: " ".join(a),
)  # fmt: skip
def test_the_auditor_reads_without_a_refusal(sec: Secured, args: tuple[str, ...]) -> None:
    """Every refusal now ends a command: none of the reads may meet one (what they touch
    beside their query is in the auditor's role)."""
    result = jetcron(sec, "audrey", *args)
    assert "not permitted" not in result.stderr and "violation" not in result.stderr, result.stderr
    assert result.returncode in (0, 1), result.stderr
