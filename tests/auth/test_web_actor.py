"""Under auth, a change made through the web gateway names the gateway's NATS user and the
token's user on the schedule's own page, as `audit` does (newcomer19c #9); real processes:
a secured server, `serve` as the scheduler, `jetcron web` as the operator alice."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import httpx
from secured import secured_server
from test_workflow import env, jetcron, start

from conftest import require_nats_server

BY = "alice (on behalf of boss)"


def test_the_schedule_page_names_the_token_user_the_gateway_acted_for(tmp_path: Path) -> None:
    require_nats_server()
    tokens = tmp_path / "tokens.toml"
    tokens.write_text('[users.boss]\nrole = "operator"\ntoken = "tok-boss"\n')
    tokens.chmod(0o600)
    with secured_server(tmp_path) as sec:
        serve = start(sec, "scheduler", "serve", log=tmp_path / "serve.out")
        web = subprocess.Popen(
            [sys.executable, "-m", "jetcron", "web", "--port", "0", "--token-file", str(tokens)],
            env=env(sec, "alice"), stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        try:
            assert web.stderr is not None
            said = web.stderr.readline()
            assert said.startswith("jetcron web on "), said
            base = said.split()[3]
            http = httpx.Client(
                base_url=base, headers={"Authorization": "Bearer tok-boss"}, timeout=15
            )
            deadline = time.monotonic() + 30
            while http.get("/readyz").status_code != 200:
                assert time.monotonic() < deadline, (tmp_path / "serve.out").read_text()
                time.sleep(0.3)
            body = {"name": "w1", "spec": "0 * * * *", "command": ["true"]}
            assert http.post("/api/v1/schedules", json=body).status_code == 201
            assert http.post("/api/v1/schedules/w1/pause", json={"reason": "x"}).status_code == 200
            ran = http.post("/api/v1/schedules/w1/trigger", json={"reason": "now"})
            assert ran.status_code == 202, ran.text
            run = http.get(ran.json()["run"])
            while run.status_code == 404 and time.monotonic() < deadline + 30:
                time.sleep(0.2)  # why: the views fold the trigger a moment after its ack
                run = http.get(ran.json()["run"])
            row = http.get("/api/v1/schedules/w1").json()
            shown = jetcron(sec, "alice", "schedule", "show", "w1")
            audit = jetcron(sec, "alice", "audit", "w1")
        finally:
            for proc in (web, serve):
                proc.terminate()
            for proc in (web, serve):
                try:
                    proc.wait(20)
                except subprocess.TimeoutExpired:
                    proc.kill()  # why: no orphan outlives a failed test
                    proc.wait(10)
    assert (row["created_by"], row["updated_by"], row["paused_by"]) == (BY, BY, BY), row
    assert run.json()["triggered_by"] == BY, run.text  # a manual run names them too
    assert f"by {BY}" in shown.stdout, shown.stdout
    assert audit.stdout.count(BY) == 3, audit.stdout  # created, paused, triggered: as the page
