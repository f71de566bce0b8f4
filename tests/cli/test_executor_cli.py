"""`jetcron executor` at startup: a missing --work-dir is refused
(one line, exit 2); a started executor says who it is."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from jetcron.cli.main import app

runner = CliRunner()
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}


def test_a_missing_work_dir_is_refused_before_connecting(tmp_path: Path) -> None:
    missing = tmp_path / "nonexistent" / "dir"
    result = runner.invoke(
        app, ["executor", "--work-dir", str(missing), "-s", "nats://127.0.0.1:1"]
    )
    assert result.exit_code == 2, result.output
    assert result.stderr.strip() == f"error: --work-dir {missing}: no such directory"

    a_file = tmp_path / "file"
    a_file.write_text("")
    result = runner.invoke(app, ["executor", "--work-dir", str(a_file), "-s", "nats://127.0.0.1:1"])
    assert result.exit_code == 2, result.output
    assert result.stderr.strip() == f"error: --work-dir {a_file}: not a directory"


def test_a_started_executor_says_who_it_is(nats_url: str, tmp_path: Path) -> None:
    cmd = [sys.executable, "-m", "jetcron", "executor", "--name", "pi3", "--tags", "gpu",
           "--work-dir", str(tmp_path), "--journal-dir", str(tmp_path / "journal"), "-s", nats_url]  # fmt: skip
    proc = subprocess.Popen(cmd, env=ENV, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stderr is not None
        lines = [proc.stderr.readline().strip()]
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(20)
    assert lines == [
        f"executor 'pi3' (targets pi3, default; tags gpu; work dir {os.path.realpath(tmp_path)}) "
        f"on {nats_url}",
    ], lines
