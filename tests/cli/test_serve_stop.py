"""`serve` says where it stored its checkpoints when it stops (newcomer20b F11: Ctrl-C on
`jetcron serve` printed nothing, while `up` said `jetcron stopped`). A real nats-server and a
real `jetcron serve` process at the default log level."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

from test_e2e import SRC


def test_serve_says_where_it_stored_its_checkpoints_when_it_stops(
    nats_url: str, tmp_path: Path
) -> None:
    out = tmp_path / "serve.out"
    env = {k: v for k, v in os.environ.items() if k != "JETCRON_LOG_LEVEL"} | {"PYTHONPATH": SRC}
    with out.open("ab") as sink:
        proc = subprocess.Popen(
            [sys.executable, "-m", "jetcron", "serve", "--instance", "r1", "-s", nats_url],
            stdout=sink, stderr=subprocess.STDOUT, env=env,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while "serving at" not in out.read_text():
            assert time.monotonic() < deadline and proc.poll() is None, out.read_text()
            time.sleep(0.1)
        proc.send_signal(signal.SIGINT)
        assert proc.wait(30) == 0, out.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    said = out.read_text()
    assert re.search(
        r"WARNING jetcron\.service: checkpoints stored at seq \d+: the next start reads the log "
        r"from there\n",
        said,
    ), said
