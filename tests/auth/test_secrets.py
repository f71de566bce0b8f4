"""Job secrets: in the secrets bucket, never in the log; the job sees them, its output masks them,
only its target's executors may read them, and a missing one fails the run saying which."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from secured import Secured, started
from test_workflow import jetcron, ok, start

from jetcron import subjects
from jetcron.log import secrets
from jetcron.log.api import js_api
from polling import wait_until

VALUE = "s3cr3t-Vq8Zx"


@pytest.fixture
def sec(tmp_path: Path) -> Iterator[Secured]:
    yield from started(tmp_path)


def serve_and_execute(sec: Secured, tmp_path: Path) -> list[subprocess.Popen[bytes]]:
    """`serve` as the scheduler (once it answers) and an executor as host-a."""
    (scheduler_key,) = [u.public_key for u in sec.auth.users() if u.name == "scheduler"]
    procs = [start(sec, "scheduler", "serve", log=tmp_path / "serve.out")]
    deadline = time.monotonic() + 30
    while jetcron(sec, "alice", "status").returncode != 0:
        assert time.monotonic() < deadline, (tmp_path / "serve.out").read_text()
        time.sleep(0.3)
    executor = start(
        sec, "host-a", "executor", "--name", "host-a", "--target", "host-a",
        "--journal-dir", str(tmp_path / "journal"), "--scheduler-key", scheduler_key,
        log=tmp_path / "executor.out",
    )  # fmt: skip
    return [*procs, executor]


def wait_for(sec: Secured, name: str, status: str, log: Path) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = wait_until(
        lambda: json.loads(ok(sec, "runs", "list", "--schedule", name, "--json")),
        30,
        log.read_text,
        done=lambda rows: rows and rows[0]["status"] == status,
        every=0.3,
    )
    return rows


async def every_message(sec: Secured, stream: str) -> bytes:
    """The raw bytes (headers and data) of every message in a stream."""
    nc = await sec.client("admin")
    js = nc.jetstream()
    last = (await js.stream_info(stream)).state.last_seq
    raw = b""
    for seq in range(1, last + 1):
        msg = await js.get_msg(stream, seq)
        raw += (msg.subject or "").encode() + repr(msg.headers).encode() + (msg.data or b"")
    await nc.close()
    return raw


async def test_a_secret_reaches_the_job_and_nothing_else(sec: Secured, tmp_path: Path) -> None:
    (tmp_path / "token").write_text(VALUE + "\n")
    out = tmp_path / "executor.out"
    procs = await asyncio.to_thread(serve_and_execute, sec, tmp_path)
    try:
        secret = ["--secret-env", f"TOKEN=@{tmp_path / 'token'}", "--target", "host-a"]
        ok(sec, "schedule", "add", "sees", "@every 1h", *secret, "--", "printenv", "TOKEN")
        ok(sec, "schedule", "trigger", "sees")
        missing = ["--secret-env", "TOKEN=kv:nope", "--target", "host-a"]
        ok(sec, "schedule", "add", "lacks", "@every 1h", *missing, "--", "printenv", "TOKEN")
        ok(sec, "schedule", "trigger", "lacks")
        # why: 65,532 bytes, then the secret: the 64 KiB cap cuts it after 4 of its characters
        cut = f"import os, sys; sys.stdout.write('x' * {65536 - 4} + os.environ['TOKEN'])"
        ok(sec, "schedule", "add", "cut", "@every 1h", *secret, "--", sys.executable, "-c", cut)
        ok(sec, "schedule", "trigger", "cut")

        # the job saw it (printenv found it: exit 0), its captured output says *** instead
        wait_for(sec, "sees", "succeeded", out)
        assert ok(sec, "runs", "last", "sees").count("***") == 1
        (failed,) = wait_for(sec, "lacks", "failed", out)
        assert "secret TOKEN: 'nope' not found for target 'host-a'" in str(failed["error"])
        (capped,) = wait_for(sec, "cut", "succeeded", out)
        logs = jetcron(sec, "alice", "runs", "logs", str(capped["run_id"]))
        assert logs.stdout.endswith("x" * 10 + "***") and VALUE[:4] not in logs.stdout
        # the marker counts the bytes shown (*** for the 4 cut ones): 65,532 + 3
        assert logs.stderr == "[stdout truncated: 65,535 of 65,544 bytes kept]\n"

        # an add refused (the name is taken) leaves the schedule's secret as it was
        (tmp_path / "other").write_text("not-the-secret\n")
        other = ["--secret-env", f"TOKEN=@{tmp_path / 'other'}", "--target", "host-a"]
        taken = jetcron(sec, "alice", "schedule", "add", "sees", "@every 1h", *other, "--", "true")
        assert taken.returncode == 2 and "already exists" in taken.stderr, taken.stderr
        host_a = await sec.client("host-a")
        assert await secrets.get(host_a, "host-a", "sees.TOKEN") == VALUE
        await host_a.close()

        exported = ok(sec, "export")
        assert "kv:sees.TOKEN" in exported
        seen = [
            exported,
            ok(sec, "audit", "sees", "--json"),
            ok(sec, "runs", "last", "sees"),
            ok(sec, "schedule", "show", "sees", "--json"),
            ok(sec, "schedule", "update", "sees", "--description", "x", "--what-if", "--json"),
        ]
        assert not [text for text in seen if VALUE in text]
        assert VALUE[:4].encode() not in await every_message(sec, subjects.STREAM)
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(20)


async def test_only_the_targets_executors_read_a_secret(sec: Secured) -> None:
    from jetcron.service_steps import ensure_buckets

    scheduler = await sec.client("scheduler")
    await ensure_buckets(scheduler)  # why: as `serve` does at its start; no one else may
    await scheduler.close()
    alice = await sec.client("alice")
    await secrets.put(alice, "host-b", "db", VALUE)
    stream = subjects.kv_stream(subjects.SECRETS_BUCKET)
    subject = js_api("DIRECT.GET", stream, subjects.secret_key("host-b", "db"))
    # the operator writes secrets but cannot read them back; another host cannot read them
    for user in ("alice", "host-a", "audrey"):
        nc = alice if user == "alice" else await sec.client(user)
        error = await sec.violation(
            user, lambda nc=nc: secrets.get(nc, "host-b", "db", timeout=0.3)
        )
        assert f'"{subject.lower()}"' in error.lower()
        await nc.close()
    host_b = await sec.client("host-b")
    assert await secrets.get(host_b, "host-b", "db") == VALUE
    assert await secrets.get(host_b, "host-b", "other") is None
    await host_b.close()
