"""`jetcron up --token-file`: the console `up` starts asks for tokens as `jetcron web
--token-file` does (newcomer20a #11: trying roles took a second gateway beside up's open one).
A real `up` process (its own nats-server), a real HTTP client."""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from conftest import free_port, require_nats_server

ENV = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}


def up(tmp_path: Path, tokens: Path) -> list[str]:
    return [sys.executable, "-m", "jetcron", "up", "--data-dir", str(tmp_path / "data"),
            "--port", str(free_port()), "--http-port", str(free_port()), "--no-executor",
            "--token-file", str(tokens)]  # fmt: skip


def test_a_broken_token_file_is_said_before_anything_starts(tmp_path: Path) -> None:
    tokens = tmp_path / "tokens.toml"
    tokens.write_text('[users.alice]\nrole = "admin"\ntoken = ""\n')
    done = subprocess.run(up(tmp_path, tokens), env=ENV, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, done.stderr
    assert f"--token-file {tokens}" in done.stderr and "alice" in done.stderr, done.stderr
    assert not (tmp_path / "data").exists()  # why: nothing started, nothing made


def test_ups_console_asks_for_a_token(tmp_path: Path) -> None:
    require_nats_server()
    token = secrets.token_urlsafe(24)
    tokens = tmp_path / "tokens.toml"
    tokens.write_text(f'[users.alice]\nrole = "operator"\ntoken = "{token}"\n')
    log = tmp_path / "up.log"
    with log.open("w") as out:
        proc = subprocess.Popen(up(tmp_path, tokens), env=ENV, stdout=out, stderr=out, text=True)
    try:
        deadline, url = time.monotonic() + 60, ""
        while not url:
            assert time.monotonic() < deadline and proc.poll() is None, log.read_text()
            said = [x for x in log.read_text().splitlines() if "web console and API on" in x]
            url = said[0].split(" on ")[1].split()[0] if said else ""
            time.sleep(0.1)
        assert f"(tokens of {tokens})" in said[0]
        assert httpx.get(f"{url}/api/v1/whoami").status_code == 401
        me = httpx.get(f"{url}/api/v1/whoami", headers={"Authorization": f"Bearer {token}"})
        assert (me.status_code, me.json()) == (200, {"name": "alice", "role": "operator",
                                                     "auth": True})  # fmt: skip
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
