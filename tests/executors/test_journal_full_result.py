"""A job running when the journal's disk fills (a real tmpfs): its supervisor cannot write the
result, keeps it, and writes it once there is room; the executor says the result waits, and
the success is reported as a success (newcomer18b F4: `failed: supervisor died`)."""

from __future__ import annotations

import asyncio
import logging
import sys
from pathlib import Path

import pytest

from conftest import fill_disk, small_disk
from jetcron.executors.process import run_process


async def test_a_result_the_full_disk_refused_is_written_once_there_is_room(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, "jetcron.executors.process")
    with small_disk(tmp_path / "disk", "2m") as disk:
        started = asyncio.Event()
        run = asyncio.create_task(
            run_process(
                [sys.executable, "-c", "import time; time.sleep(1.5)"],
                run_dir=disk / "run",
                on_start=lambda _: started.set(),
            )
        )
        await asyncio.wait_for(started.wait(), 10)
        filler = fill_disk(disk)  # the job runs on; its end meets a full journal
        await asyncio.sleep(5)
        assert not run.done(), "the result was stored, or given up, on a full disk"
        assert "journal full: the result of run run waits for disk space" in caplog.text
        assert not (disk / "run" / "result.json").exists()

        filler.unlink()
        result = await asyncio.wait_for(run, 10)
        assert result.exit_code == 0 and not (result.abandoned or result.unknown), result
        assert result.duration_s >= 1.5
        assert (disk / "run" / "result.json").exists()
