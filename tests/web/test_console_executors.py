"""The console's Executors page keeps an executor whose heartbeat expired (newcomer20a #4):
greyed, "offline since …", with the run it holds. A real `jetcron executor` process, killed
with SIGKILL while its job runs, beside the stack (a stack of this module's own)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_console import CHROMIUM, browser, signed_in  # noqa: F401 - browser is a fixture
from webstack import Stack, create, run_stack, until

pytestmark = [
    pytest.mark.timeout(120),
    pytest.mark.skipif(CHROMIUM is None, reason="no chromium (apt-get install chromium)"),
]
SRC = Path(__file__).resolve().parents[2] / "src"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    yield from run_stack(tmp_path_factory.mktemp("console-executors"))


def test_an_executor_killed_with_a_run_stays_listed_offline(
    browser: object,  # noqa: F811
    stack: Stack,
    tmp_path: Path,
) -> None:
    cmd = [sys.executable, "-m", "jetcron", "executor", "--name", "edge1", "--target", "edge",
           "--ack-wait", "10", "--journal-dir", str(tmp_path / "journal"), "-s", stack.nats_url]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    with open(tmp_path / "edge1.log", "wb") as log:
        proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        with stack.client() as http:
            until(
                lambda: [e["name"] for e in http.get("/api/v1/executors").json()],
                lambda n: "edge1" in n,
                30,
            )
            made = create(
                http, "edge-job", spec="0 3 1 1 *", target="edge", command=["sleep", "60"]
            )
            assert made.status_code == 201, made.text
            run_id = http.post("/api/v1/schedules/edge-job/trigger").json()["run_id"]
            until(
                lambda: http.get(f"/api/v1/runs/{run_id}").json()["status"],
                lambda s: s == "running",
                30,
            )
        # newcomer21a #4: a run page left open said "running" after its executor died, and
        # "running?" after it came back, until a run event came
        opened = signed_in(browser, stack, 1280, 900)
        opened.goto(f"{stack.url}/#/run/{run_id}")  # type: ignore[attr-defined]
        opened.wait_for_selector("h1 .badge.running")  # type: ignore[attr-defined]
        opened.wait_for_selector("#live.live")  # type: ignore[attr-defined]
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        page = signed_in(browser, stack, 1280, 900)
        row = page.locator("#main tr.gone[data-key='edge1']")

        page.goto(f"{stack.url}/#/executors")

        def shown() -> int:
            page.reload()
            page.wait_for_selector("#main table")
            return int(row.count())

        # why: the heartbeat lives 15 s after the last beat; then the log says it is offline
        until(shown, lambda n: n == 1, 45)
        assert run_id[:8] in row.inner_text(), row.inner_text()  # the run it holds
        # why: "not online" until the projection service notes the heartbeat gone in the log
        until(lambda: shown() and row.inner_text(), lambda said: "offline since" in said, 30)
        assert page.locator("#main tr[data-key='webhost']:not(.gone)").count() == 1
        page.close()
        held = "h1 .badge.running[title]"  # why: "running?", the held note its title
        opened.wait_for_selector(held, timeout=20_000)  # type: ignore[attr-defined]
        assert opened.locator("h1 .badge").inner_text() == "running?"  # type: ignore[attr-defined]
        status = opened.locator("dd:has(.badge)").inner_text()  # type: ignore[attr-defined]
        assert "offline since" in status, status
        with open(tmp_path / "edge1-again.log", "wb") as log:
            proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
        # back online: no "?" without a reload (whatever the run became meanwhile)
        opened.wait_for_function(  # type: ignore[attr-defined]
            "() => !document.querySelector('h1 .badge').textContent.endsWith('?')", timeout=45_000
        )
        opened.close()  # type: ignore[attr-defined]
    finally:
        if proc.poll() is None:
            proc.kill()
