"""A whole jetcron behind the HTTP gateway, for the web tests: nats-server, the scheduler
service, an executor and `jetcron web` (real uvicorn on a free port), in one background thread.

Module-scoped (one stack per test module) so the API tests share one start-up; each test
uses its own schedule names.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
from typer.testing import CliRunner, Result

from conftest import require_nats_server
from jetcron.cli.main import app
from jetcron.server import NatsServer
from polling import wait_until

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # why: bench/ is a top-level package next to src/, not installed
    sys.path.insert(0, str(ROOT))

from bench.web_api import stack_in_thread  # noqa: E402

TOKENS = {
    "alice": ("admin", "tok-alice"),
    "olga": ("operator", "tok-olga"),
    "aud": ("auditor", "tok-aud"),
}


def token_file(path: Path) -> Path:
    """A token file with an admin, an operator and an auditor."""
    lines = [f'[users.{n}]\nrole = "{r}"\ntoken = "{t}"\n' for n, (r, t) in TOKENS.items()]
    path.write_text("\n".join(lines))
    return path


class Stack:
    """The running stack: its URLs and an HTTP client per role."""

    def __init__(self, url: str, nats_url: str, server: NatsServer | None = None) -> None:
        self.url, self.nats_url = url, nats_url
        self.server = server
        """The nats-server, to stop and restart it (an outage)."""

    def client(self, user: str | None = "alice") -> httpx.Client:
        """An HTTP client that sends `user`'s token (None: no token)."""
        headers = {"Authorization": f"Bearer {TOKENS[user][1]}"} if user else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=15)


def run_stack(tmp: Path, *, tokens: bool = True) -> Iterator[Stack]:
    """Yield a Stack while everything runs; stop it all after."""
    require_nats_server()
    with (
        NatsServer(data_dir=tmp / "nats") as server,
        stack_in_thread(
            server.url, tmp, token_file(tmp / "tokens.toml") if tokens else None
        ) as url,
    ):
        stack = Stack(url, server.url, server)
        _wait_ready(stack)
        yield stack


def _wait_ready(stack: Stack) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            if httpx.get(stack.url + "/readyz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise AssertionError("the gateway did not become ready")


def until(fetch: Any, done: Any, within: float = 15.0) -> Any:
    """Call fetch() until done(result); the last result."""
    return wait_until(fetch, within, "not reached in time", done=done, every=0.1)


def create(http: httpx.Client, name: str, **fields: Any) -> httpx.Response:
    """POST a schedule: an echo every hour unless told otherwise."""
    body = {"name": name, "spec": "0 * * * *", "command": ["echo", f"hello from {name}"], **fields}
    return http.post("/api/v1/schedules", json=body)


def cli(server: str, *args: str) -> Result:
    """Run `jetcron ARGS` in-process (with --server SERVER when given)."""
    return CliRunner().invoke(app, [*args, *(["--server", server] if server else [])])


def start_executor(stack: Stack, tmp: Path, name: str, target: str) -> subprocess.Popen[bytes]:
    """A real `jetcron executor NAME --target TARGET` on the stack's NATS (shell strings refused),
    logging to tmp/NAME.log; the caller stops it."""
    cmd = [sys.executable, "-m", "jetcron", "executor", "--name", name, "--target", target,
           "--journal-dir", str(tmp / "journal"), "-s", stack.nats_url]  # fmt: skip
    with open(tmp / f"{name}.log", "wb") as log:
        env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
        return subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)


def until_listed(http: httpx.Client, name: str) -> None:
    """Wait until the executors page lists executor `name` (online)."""
    until(
        lambda: [e["name"] for e in http.get("/api/v1/executors").json()], lambda n: name in n, 30
    )
