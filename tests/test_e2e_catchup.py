"""End to end: `jetcron up` down for a while, then back: a `--catchup all` schedule with the
default overlap (skip) runs every fire it found due, oldest first, one after another; and `up`
prints the fires its own catch-up missed or coalesced."""

from __future__ import annotations

import asyncio
import re
import time
from datetime import timedelta

from jetcron.domain.events import (
    FireBuffered,
    RunSkipped,
    RunStarted,
    RunSucceeded,
    RunTriggered,
)
from test_e2e import Up, read_log


def test_catch_up_all_runs_each_fire_due_after_downtime_in_turn(up: Up) -> None:
    added = up.cli("schedule", "add", "cu", "@every 2s", "--catchup", "all", "--", "true")
    assert added.returncode == 0, added.stderr
    time.sleep(3)
    up.stop()  # Ctrl-C: the scheduler, the executor and nats-server stop
    time.sleep(8)  # four or five fires fall due meanwhile
    up.start()

    deadline = time.monotonic() + 40
    while True:
        events = [e.event for e in asyncio.run(read_log(up.url))]
        buffered = [e for e in events if isinstance(e, FireBuffered)]
        done = {e.fire_id for e in events if isinstance(e, RunSucceeded)}
        if len(buffered) >= 3 and {b.fire_id for b in buffered} <= done:
            break
        assert time.monotonic() < deadline, up.log.read_text()
        time.sleep(0.5)

    triggers = [e for e in events if isinstance(e, RunTriggered)]
    assert len({t.fire_id for t in triggers}) == len(triggers)  # exactly once per fire
    assert [t.fire_time for t in triggers] == sorted(t.fire_time for t in triggers)
    fires = [t.fire_time for t in triggers]
    # no fire between the first and the last trigger was skipped: the downtime's fires all ran
    gaps = {(b - a).total_seconds() for a, b in zip(fires, fires[1:], strict=False)}
    # why the events of the missing fires: this failed once under load (gaps {2.0, 4.0}), and
    # the fire's own events say whether it was missed, skipped, buffered or never decided
    missing = {a + timedelta(seconds=2) for a, b in zip(fires, fires[1:], strict=False) if b - a > timedelta(seconds=2)}  # fmt: skip
    told = [e for e in events if getattr(e, "fire_time", None) in missing]
    assert gaps == {2.0}, (fires, told, up.log.read_text())
    assert not [s for s in events if isinstance(s, RunSkipped) and s.fire_time <= fires[-1]]
    # each queued fire started only after the run it waited for had ended
    order = [
        (type(e).__name__, e.run_id) for e in events if isinstance(e, RunStarted | RunSucceeded)
    ]
    for b in buffered:
        run = next(t.run_id for t in triggers if t.fire_id == b.fire_id)
        assert order.index(("RunSucceeded", b.blocking_run_id)) < order.index(("RunStarted", run))


def test_up_prints_the_fires_its_own_start_up_catch_up_coalesced_in_one_line(up: Up) -> None:
    added = up.cli("schedule", "add", "cl", "@every 2s", "--", "true")
    assert added.returncode == 0, added.stderr
    time.sleep(3)
    up.stop()
    time.sleep(7)  # three or four fires fall due meanwhile, found by the first tick after
    before = up.log.stat().st_size
    up.start()

    # why: coalesced fires take seconds of downtime (a missed one, found over 60 s late, a
    # minute); `up` says them in one line, once none more came for a second (cli/echo.py)
    deadline = time.monotonic() + 20
    while True:
        printed = re.findall(r"^\S+ cl (\d+) fires (\S+) not run: (.*)$", _since(up, before), re.M)
        events = [s.event for s in asyncio.run(read_log(up.url))]
        skips = [e for e in events if isinstance(e, RunSkipped) and "coalesced" in e.reason]
        if printed and len(skips) >= 2:
            break
        assert time.monotonic() < deadline, (len(skips), _since(up, before))
        time.sleep(0.5)
    [(count, _, kinds)] = printed
    # why `>=`: the fire after the newest may be skipped too (`overlap: previous run triggered,
    # not started yet`, the executor still starting) and come within the same second
    assert int(count) >= len(skips), printed
    newest = max(s.fire_time for s in skips) + timedelta(seconds=2)
    # why `[ ;,]`: another kind (that skip), or the tail of the skips decided late (`; N decided
    # A–B s after their fires: …`), may follow
    assert re.match(rf"{len(skips)} coalesced into {newest:%H:%M:%S}[ ;,]", kinds), kinds
    assert not re.findall(r"^\S+ cl skipped fire ", _since(up, before), re.M)


def _since(up: Up, offset: int) -> str:
    return up.log.read_bytes()[offset:].decode()
