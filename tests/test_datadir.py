"""One writer per store: `jetcron up` locks its data dir; a killed holder does not block."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import free_port, require_nats_server
from jetcron.datadir import DataDirLock, DataDirLocked, read_holder, undone_on_failure

SRC = str(Path(__file__).resolve().parents[1] / "src")
ENV = {**os.environ, "PYTHONPATH": SRC}


def test_a_second_lock_names_the_holder_and_a_released_one_is_free(tmp_path: Path) -> None:
    first = DataDirLock(tmp_path).acquire(4333)
    with pytest.raises(
        DataDirLocked, match=rf"in use by another `jetcron up` \(pid {os.getpid()}, port 4333\)"
    ):
        DataDirLock(tmp_path).acquire(4334)
    first.update(4335)
    assert read_holder(first.path) is not None and read_holder(first.path).port == 4335  # type: ignore[union-attr]
    first.release()
    with DataDirLock(tmp_path).acquire(4336) as again:
        assert read_holder(again.path).port == 4336  # type: ignore[union-attr]


def test_the_lock_lives_as_long_as_a_child_that_inherited_it(tmp_path: Path) -> None:
    lock = DataDirLock(tmp_path).acquire(1)
    child = subprocess.Popen(["sleep", "30"], pass_fds=[lock.fileno()])
    try:
        lock.release()  # the "up" is gone, its server (the child) still runs
        with pytest.raises(DataDirLocked, match="pid"):
            DataDirLock(tmp_path).acquire(2, orphan_wait=0)
    finally:
        child.kill()
        child.wait()
    DataDirLock(tmp_path).acquire(3).release()


def up(data_dir: Path, port: int, out: Path) -> subprocess.Popen[bytes]:
    with out.open("ab") as sink:
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                "jetcron",
                "up",
                "--no-executor",
                "--data-dir",
                str(data_dir),
                "--port",
                str(port),
            ],  # fmt: skip
            stdout=sink,
            stderr=subprocess.STDOUT,
            env=ENV,
        )


def answers(port: int) -> bool:
    status = subprocess.run(
        [sys.executable, "-m", "jetcron", "status", "--server", f"nats://127.0.0.1:{port}"],
        capture_output=True,
        env=ENV,
        timeout=30,
    )
    return status.returncode == 0


def wait_until_up(proc: subprocess.Popen[bytes], port: int, out: Path) -> None:
    deadline = time.monotonic() + 30
    while not answers(port):
        assert proc.poll() is None, out.read_text()
        assert time.monotonic() < deadline, out.read_text()
        time.sleep(0.3)


def test_two_ups_on_one_data_dir_and_a_killed_holder(tmp_path: Path) -> None:
    require_nats_server()
    data = tmp_path / "jetcron"
    p1, p2, p3 = free_port(), free_port(), free_port()
    first = up(data, p1, tmp_path / "first.out")
    third = None
    try:
        wait_until_up(first, p1, tmp_path / "first.out")

        second = subprocess.run(
            [sys.executable, "-m", "jetcron", "up", "--data-dir", str(data), "--port", str(p2)],
            capture_output=True,
            text=True,
            env=ENV,
            timeout=30,
        )
        assert second.returncode == 2  # as for a taken --port: stop the other, or pick another
        [line] = second.stderr.strip().splitlines()
        assert f"pid {first.pid}, port {p1}" in line and str(data) in line, line
        assert not answers(p2)

        first.send_signal(signal.SIGKILL)  # its nats-server dies with it, releasing the lock
        first.wait()
        third = up(data, p3, tmp_path / "third.out")
        wait_until_up(third, p3, tmp_path / "third.out")
        assert read_holder(data / "jetcron.lock") is not None
        assert read_holder(data / "jetcron.lock").port == p3  # type: ignore[union-attr]
    finally:
        for proc in (first, third):
            if proc is not None and proc.poll() is None:
                proc.send_signal(signal.SIGINT)
                proc.wait(20)
    assert third.returncode == 0, (tmp_path / "third.out").read_text()


def test_an_up_that_cannot_start_leaves_no_data_dir_and_an_existing_one_as_it_was(
    tmp_path: Path,
) -> None:
    require_nats_server()
    existing = tmp_path / "existing"
    existing.mkdir()
    (existing / "notes.txt").write_text("mine")
    with socket.create_server(("127.0.0.1", 0)) as squatter:
        port = squatter.getsockname()[1]
        results = [
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "jetcron",
                    "up",
                    "--data-dir",
                    str(data),
                    "--port",
                    str(port),
                    "--http-port",
                    "0",
                    "--no-executor",
                ],
                capture_output=True,
                text=True,
                env=ENV,
                timeout=30,
            )  # fmt: skip
            for data in (tmp_path / "new" / "jetcron", existing)
        ]
    for result in results:
        assert result.returncode == 2, result.stderr
        [line] = result.stderr.strip().splitlines()
        assert line.startswith(f"error: port {port} is already in use"), line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["existing"]
    assert [p.name for p in existing.iterdir()] == ["notes.txt"]


def test_undone_on_failure_removes_only_what_the_body_made(tmp_path: Path) -> None:
    kept = tmp_path / "kept"
    kept.mkdir()
    (kept / "old").write_text("x")
    with pytest.raises(RuntimeError), undone_on_failure(kept):
        (kept / "store").mkdir()
        (kept / "log").write_text("y")
        raise RuntimeError
    with undone_on_failure(tmp_path / "fine"):
        (tmp_path / "fine").mkdir()

    assert sorted(p.name for p in kept.iterdir()) == ["old"]
    assert (tmp_path / "fine").is_dir()
