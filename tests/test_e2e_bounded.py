"""A `serve` killed with -9 in the middle of a backlog (between a fold and its checkpoint)
loses nothing and doubles nothing after a restart, in its views, its ticker and its breaker;
its views stay bounded."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta

import nats

from jetcron import ids, subjects
from jetcron.domain.definition import Job, ScheduleDefinition
from jetcron.domain.envelope import Envelope
from jetcron.domain.events import RunSucceeded, RunTriggered, ScheduleCreated, SchedulePaused
from jetcron.log import snapshots
from jetcron.log.stream import EventLog
from jetcron.projections.snapshot import restore
from jetcron.scheduler import breaker, checkpoint, state
from test_e2e import ENV

SCHEDULES, RUNS_EACH, KEEP = 2, 3_000, 50  # 12,000 events: many snapshots, and evictions
T0 = datetime(2026, 3, 1, tzinfo=UTC)


async def backlog(url: str) -> int:
    """Append the runs (trigger + success each) as the ticker and executors would; the last seq."""
    nc = await nats.connect(url, pending_size=64 * 1024 * 1024)
    log = await EventLog(nc).open()
    for s in range(SCHEDULES):
        # why: paused, so the live ticker folds the runs (counts them) but fires nothing itself
        definition = ScheduleDefinition(spec="@every 1h", job=Job(command=["x"]))
        items = [
            (subjects.schedule(f"job{s}"), Envelope(id=f"c{s}{i}", at=T0, actor="t", event=e), f"c{s}{i}")
            for i, e in enumerate((
                ScheduleCreated(schedule_id=f"s{s}", name=f"job{s}", version=1, definition=definition),
                SchedulePaused(schedule_id=f"s{s}", name=f"job{s}", version=2),
            ))
        ]  # fmt: skip
        for i in range(RUNS_EACH):
            fire_time = T0 + timedelta(minutes=10 * i)
            fire = ids.fire_id(f"s{s}", 1, fire_time)
            run_id = ids.run_id_for(fire)
            base = {
                "schedule_id": f"s{s}",
                "name": f"job{s}",
                "fire_id": fire,
                "fire_time": fire_time,
            }
            events = (
                (subjects.trigger("t"), RunTriggered(
                    **base, run_id=run_id, version=1, target="t", job=Job(command=["x"]))),
                (subjects.run(f"job{s}", run_id),
                 RunSucceeded(**base, run_id=run_id, executor="h", duration_s=1.0)),
            )  # fmt: skip
            for subject, event in events:
                env = Envelope(id=ids.new_id(), at=fire_time, actor="h", event=event)
                items.append((subject, env, env.id))
        assert not [a for a in await log.publish_many(items) if isinstance(a, Exception)]
    last = await log.last_seq()
    await log.close()
    await nc.close()
    return last


async def stored(url: str, name: str) -> bytes | None:
    nc = await nats.connect(url)
    try:
        return await snapshots.load(nc, name)
    except Exception:  # noqa: BLE001 - the bucket may not exist yet
        return None
    finally:
        await nc.close()


def snapshot_position(url: str) -> int:
    data = asyncio.run(stored(url, "views"))
    views = restore(data) if data else None
    return views.position if views is not None else 0


def ticker_state(url: str) -> state.TickerState | None:
    data = asyncio.run(stored(url, "ticker"))
    return checkpoint.state_from(data) if data else None


def serve(url: str) -> subprocess.Popen[bytes]:
    cmd = [sys.executable, "-m", "jetcron", "serve", "--server", url, "--instance", "crashy",
           "--keep-runs", str(KEEP), "--snapshot-every", "1000"]  # fmt: skip
    return subprocess.Popen(cmd, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def jetcron(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "jetcron", *args, "--server", url],
        env=ENV, capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def test_kill_9_mid_backlog_loses_and_doubles_nothing(nats_url: str) -> None:
    last = asyncio.run(backlog(nats_url))
    assert last == SCHEDULES * RUNS_EACH * 2 + SCHEDULES * 2
    first = serve(nats_url)
    try:
        deadline = time.monotonic() + 60
        while snapshot_position(nats_url) == 0 or ticker_state(nats_url) is None:
            assert time.monotonic() < deadline, "no snapshot"
            time.sleep(0.01)
        first.send_signal(signal.SIGKILL)
        first.wait(10)
    finally:
        first.kill()
    checkpoint = snapshot_position(nats_url)
    assert 0 < checkpoint < last  # killed mid-backlog: folded events after it were lost with it
    ticker_checkpoint = ticker_state(nats_url)
    assert ticker_checkpoint is not None and 0 < ticker_checkpoint.position < last

    second = serve(nats_url)
    try:
        deadline = time.monotonic() + 60
        while True:
            status = jetcron(nats_url, "status", "--json")
            # why: the leader may append events of its own (daily rollups of the backlog's
            # days) once caught up, so the position can pass `last`
            projection = json.loads(status.stdout)["projection"] if status.returncode == 0 else {}
            if projection.get("position", 0) >= last and projection.get("lag") == 0:
                break
            assert time.monotonic() < deadline, status.stdout + status.stderr
            time.sleep(0.3)
        stats = json.loads(jetcron(nats_url, "stats", "--json").stdout)
        overall = next(r for r in stats if r["group"] == "overall")
        assert overall["by_status"] == {"succeeded": SCHEDULES * RUNS_EACH}  # none lost or doubled
        listed = jetcron(nats_url, "runs", "list", "--limit", "1000", "--json")
        assert listed.returncode == 0, listed.stderr
        # the windows: the newest KEEP runs of each schedule, not all RUNS_EACH
        assert len(json.loads(listed.stdout)) == SCHEDULES * KEEP
        verify = jetcron(nats_url, "replay", "--verify")
        assert verify.returncode == 0, verify.stdout + verify.stderr
        assert "identical" in verify.stdout
    finally:
        second.send_signal(signal.SIGINT)  # why: it checkpoints on the way out
        try:
            second.wait(20)
        except subprocess.TimeoutExpired:
            second.kill()
    ticker = ticker_state(nats_url)
    assert ticker is not None and ticker.position >= last
    # every run counted once by the ticker: none lost or doubled across the crash
    assert {e.name: (e.runs, len(e.in_flight or {})) for e in ticker.entries.values()} == {
        f"job{s}": (RUNS_EACH, 0) for s in range(SCHEDULES)
    }
    data = asyncio.run(stored(nats_url, "breaker"))
    restored = breaker.state_from(data) if data else None
    assert restored is not None and restored[1] >= last
