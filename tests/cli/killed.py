"""A real executor process that a test kills with -9 mid-job, and CLI helpers to watch it settle.

Shared by the end-to-end tests of lost runs (test_fanout_lost, test_deleted_lost).
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
from served import cli

from polling import wait_until
from test_e2e import ENV


@dataclass
class Executor:
    """An executor process and what it left behind when killed (ended at teardown)."""

    proc: subprocess.Popen[bytes]
    left: list[psutil.Process] = field(default_factory=list)

    def kill_9(self) -> None:
        """SIGKILL, as the OOM killer or a power cut would; its job's supervisor lives on."""
        self.left += psutil.Process(self.proc.pid).children(recursive=True)
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)


def executor(url: str, tmp_path: Path, name: str, tags: str) -> Iterator[Executor]:
    """Yield a running executor `name` (target `name`, these tags); ended after (a fixture's body)."""
    with (tmp_path / f"{name}.out").open("ab") as out:
        proc = subprocess.Popen(
            [
                sys.executable, "-m", "jetcron", "executor", "--name", name, "--target", name,
                "--tags", tags, "--journal-dir", str(tmp_path / name), "--server", url,
            ],
            stdout=out, stderr=subprocess.STDOUT, env=ENV,
        )  # fmt: skip
    running = Executor(proc)
    yield running
    if proc.poll() is None:
        proc.terminate()
        proc.wait(15)
    for child in running.left:  # why: a supervisor outlives a -9; it ends by itself, else here
        if child.is_running():
            child.kill()


def as_json(url: str, *args: str) -> Any:
    """`jetcron ARGS --json`, parsed (asserting it exited 0)."""
    result = cli(url, *args, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def wait_for(what: str, check: Callable[[], Any], timeout: float = 30) -> Any:
    """Poll `check` until it returns something truthy; that."""
    return wait_until(check, timeout, what, every=0.1)


def online(url: str) -> set[str]:
    """The executors `status` lists (those with a live heartbeat)."""
    return {e["name"] for e in as_json(url, "status")["executors"]}
