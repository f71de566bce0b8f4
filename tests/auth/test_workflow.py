"""The normal workflow under roles: `serve` as the scheduler, an executor as its host, the CLI
as an operator; each a real process with its own identity file."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from secured import Secured, secured_server

from conftest import require_nats_server

SRC = str(Path(__file__).resolve().parents[2] / "src")


@pytest.fixture
def sec(tmp_path: Path) -> Iterator[Secured]:
    require_nats_server()
    with secured_server(tmp_path) as s:
        yield s


def env(sec: Secured, user: str) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": SRC, "NATS_URL": sec.url, "NATS_CREDS": sec.creds(user)}


def start(sec: Secured, user: str, *args: str, log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "jetcron", *args],
            env=env(sec, user),
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def jetcron(sec: Secured, user: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "jetcron", *args],
        env=env(sec, user),
        capture_output=True,
        text=True,
        timeout=30,
    )


def serving(tmp: Path) -> Iterator[Secured]:
    """A secured server with `serve` running as the scheduler, once it answers an operator
    (a module's `sec` fixture yields from this)."""
    require_nats_server()
    with secured_server(tmp) as s:
        serve = start(s, "scheduler", "serve", log=tmp / "serve.out")
        try:
            deadline = time.monotonic() + 30
            while jetcron(s, "alice", "status").returncode != 0:
                assert time.monotonic() < deadline, (tmp / "serve.out").read_text()
                time.sleep(0.3)
            yield s
        finally:
            serve.terminate()
            serve.wait(20)


def ok(sec: Secured, *args: str, user: str = "alice") -> str:
    result = jetcron(sec, user, *args)
    assert result.returncode == 0, f"{args}: {result.stderr}"
    return result.stdout


def test_the_whole_workflow_runs_with_each_process_in_its_role(
    sec: Secured, tmp_path: Path
) -> None:
    (scheduler_key,) = [u.public_key for u in sec.auth.users() if u.name == "scheduler"]
    procs = [start(sec, "scheduler", "serve", log=tmp_path / "serve.out")]
    try:
        deadline = time.monotonic() + 30
        while jetcron(sec, "alice", "status").returncode != 0:
            assert time.monotonic() < deadline, (tmp_path / "serve.out").read_text()
            time.sleep(0.3)
        procs.append(
            start(
                sec,
                "host-a",
                "executor",
                "--name",
                "host-a",
                "--target",
                "host-a",
                "--journal-dir",
                str(tmp_path / "journal"),
                "--scheduler-key",
                scheduler_key,
                log=tmp_path / "executor.out",
            )  # fmt: skip
        )
        ok(sec, "schedule", "add", "hello", "@every 1h", "--target", "host-a", "--", "echo", "hi")
        ok(sec, "schedule", "update", "hello", "--description", "greets", "--actor", "mallory")
        ok(sec, "schedule", "trigger", "hello")
        deadline = time.monotonic() + 30
        while "succeeded" not in ok(sec, "runs", "list", "--schedule", "hello"):
            assert time.monotonic() < deadline, (tmp_path / "executor.out").read_text()
            time.sleep(0.3)
        assert "hi" in ok(sec, "runs", "last", "hello")
        assert "hello" in ok(sec, "stats")
        # the actor is who sent it (alice's key); the --actor she claimed is only a note
        actors = [e["actor"] for e in json.loads(ok(sec, "audit", "hello", "--json"))]
        assert actors[:2] == ["alice", "alice (on behalf of mallory)"], actors
        assert "hello" in ok(sec, "replay")
        exported = ok(sec, "export")
        (tmp_path / "s.json").write_text(exported)
        ok(sec, "apply", "-f", str(tmp_path / "s.json"))
        assert "host-a" in ok(sec, "executors")
        ok(sec, "schedule", "pause", "hello")
        # notifications go through the scheduler too: a command sink only the admin adds (it
        # runs as the scheduler's OS user); the operator tests and removes it
        sink = ("notify", "add", "ops", "--command", "true", "--actor", "mallory")
        refused = jetcron(sec, "alice", *sink)
        assert refused.returncode == 1 and "not permitted" in refused.stderr, refused.stderr
        ok(sec, *sink, user="admin")
        # sinks travel in files: the auditor exports them, the operator applies them back
        hook = ("notify", "add", "hook", "--webhook", "https://hooks.example/x", "--secret", "k")
        ok(sec, *hook)
        exported = ok(sec, "export", user="audrey")
        assert set(json.loads(exported)["notifications"]) == {"ops", "hook"}
        (tmp_path / "all.json").write_text(exported)
        assert "nothing to change" in ok(sec, "apply", "-f", str(tmp_path / "all.json"))
        moved = {"notifications": {"hook": {"webhook": "https://h/x", "secret": "kv:hook.nope"}}}
        (tmp_path / "moved.json").write_text(json.dumps(moved))
        refused = jetcron(sec, "alice", "apply", "-f", str(tmp_path / "moved.json"))
        assert refused.returncode == 2 and "not in this cluster's" in refused.stderr
        ok(sec, "notify", "remove", "hook")
        assert "delivered" in ok(sec, "notify", "test", "ops")
        refused = jetcron(sec, "audrey", "notify", "test", "ops")
        assert refused.returncode == 1 and "not permitted" in refused.stderr, refused.stderr
        assert jetcron(sec, "audrey", "notify", "remove", "ops").returncode != 0
        ok(sec, "notify", "remove", "ops")
        assert json.loads(ok(sec, "notify", "list", "--json")) == []
        # the auditor reads everything, and is refused commands
        assert "hello" in ok(sec, "schedule", "list", "--all", user="audrey")
        assert "hello" in ok(sec, "replay", user="audrey")
        refused = jetcron(sec, "audrey", "schedule", "resume", "hello")
        assert refused.returncode != 0
        assert json.loads(ok(sec, "schedule", "list", "--all", "--json"))[0]["state"] == "paused"
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(20)
