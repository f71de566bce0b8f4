"""/api/v1/events: a run's events arrive over SSE, in log order, filtered by schedule."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from webstack import Stack, create, run_stack


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    yield from run_stack(tmp_path_factory.mktemp("sse"))


def messages(response: httpx.Response) -> Iterator[dict[str, str]]:
    """SSE messages (id, event, data) of a streaming response; comments skipped."""
    message: dict[str, str] = {}
    for line in response.iter_lines():
        if not line:
            if "event" in message:
                yield message
            message = {}
        elif not line.startswith(":"):
            key, _, value = line.partition(": ")
            message[key] = value


def collect(
    stack: Stack, name: str, until: str, out: list[dict[str, str]], opened: threading.Event
) -> None:
    with (
        stack.client() as http,
        http.stream("GET", "/api/v1/events", params={"schedule": name}) as r,
    ):
        assert r.headers["content-type"].startswith("text/event-stream")
        opened.set()
        for message in messages(r):
            if message["event"] == "state":
                continue  # why: says whether the stream is live; test_live_state.py has them
            out.append(message)
            if message["event"] == until:
                return


def test_a_runs_events_arrive_in_order(stack: Stack) -> None:
    with stack.client() as http:
        create(http, "sse-one")
        create(http, "sse-other")
        got: list[dict[str, str]] = []
        opened = threading.Event()
        reader = threading.Thread(
            target=collect, args=(stack, "sse-one", "run.succeeded", got, opened)
        )
        reader.start()
        assert opened.wait(10)
        http.post(
            "/api/v1/schedules/sse-other/trigger"
        )  # why: another schedule's run is filtered out
        http.post("/api/v1/schedules/sse-one/pause", json={"reason": "feeding"})
        run_id = http.post("/api/v1/schedules/sse-one/trigger").json()["run_id"]
        reader.join(20)
    assert not reader.is_alive()
    kinds = [m["event"] for m in got]
    assert kinds == ["schedule.paused", "run.triggered", "run.started", "run.succeeded"], kinds
    seqs = [int(m["id"]) for m in got]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    data = [json.loads(m["data"]) for m in got]
    assert {d["event"]["name"] for d in data} == {"sse-one"}
    assert {d["event"].get("run_id") for d in data[1:]} == {run_id}
    assert data[0]["actor"] == "alice" and data[0]["reason"] == "feeding"


def test_last_event_id_resumes_after_it(stack: Stack) -> None:
    with stack.client() as http:
        create(http, "sse-resume")
        first = http.post("/api/v1/schedules/sse-resume/pause").json()
        http.post("/api/v1/schedules/sse-resume/resume")
        audit = http.get("/api/v1/audit", params={"name": "sse-resume"}).json()
        assert first["state"] == "paused" and len(audit) == 3
        with http.stream(
            "GET", "/api/v1/events", params={"schedule": "sse-resume", "after": 0}
        ) as r:
            got = []
            for message in messages(r):
                if message["event"] == "state":
                    assert "id" not in message  # why: a reconnect resumes after events only
                    assert json.loads(message["data"]) == {"live": True}
                    continue
                got.append(message["event"])
                if len(got) == 3:
                    break
        assert got == ["schedule.created", "schedule.paused", "schedule.resumed"]
        assert http.get("/api/v1/events", params={"schedule": "nope"}).status_code == 404


def test_the_stream_of_every_schedule_says_when_an_executor_comes_and_goes(
    stack: Stack, tmp_path: Path
) -> None:
    """nc21a #4: a page left open on a run learns that its executor went offline."""
    src = Path(__file__).resolve().parents[2] / "src"
    cmd = [sys.executable, "-m", "jetcron", "executor", "--name", "sse-vm", "--target", "sse-pool",
           "--journal-dir", str(tmp_path / "journal"), "-s", stack.nats_url]  # fmt: skip
    seen: list[tuple[str, str]] = []
    with stack.client() as http, http.stream("GET", "/api/v1/events") as r:
        with open(tmp_path / "sse-vm.log", "wb") as log:
            proc = subprocess.Popen(
                cmd, env={**os.environ, "PYTHONPATH": str(src)}, stdout=log, stderr=log
            )
        try:
            for message in messages(r):
                if message["event"].startswith("executor."):
                    name = json.loads(message["data"])["event"]["name"]
                    seen.append((message["event"], name))
                    if ("executor.online", "sse-vm") in seen and proc.poll() is None:
                        proc.terminate()  # why: a graceful stop is recorded at once
                    if ("executor.offline", "sse-vm") in seen:
                        break
        finally:
            proc.terminate()
            proc.wait(15)
    # why: the stack's own executor may come and go in between (another test's stop, a slow start)
    mine = [kind for kind, name in seen if name == "sse-vm"]
    assert mine[-2:] == ["executor.online", "executor.offline"], seen
