"""Who held the ticker lease when, as a replica saw it (log/tenures.py), with a real
nats-server: the take-over line names the last holder (nc21c #9), and a fire decided late is
told by who held the lease at its time (scheduler/late_cause.py, nc21c #2)."""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import timedelta

import pytest
from nats.aio.client import Client

from jetcron.domain.definition import LATE_BUSY, LATE_QUIET
from jetcron.log.lease import KvLease
from jetcron.log.tenures import Tenures
from jetcron.scheduler.late_cause import Seen, cause
from jetcron.scheduler.stalls import tenures_of
from polling import until


async def test_a_take_over_names_the_last_holder_and_the_fires_it_left(
    nc: Client, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    caplog.set_level(logging.INFO, logger="jetcron.log.lease")
    a, b = KvLease(nc, holder="s1", ttl=1), KvLease(nc, holder="s2", ttl=1)
    await a.ensure_bucket()
    stop_a, stop_b = asyncio.Event(), asyncio.Event()
    task_a = asyncio.create_task(a.run(stop_a))
    await until(a.is_leader)
    task_b = asyncio.create_task(b.run(stop_b))
    await until(lambda: any(s.holder == "s1" for s in b.tenures.seen))
    monkeypatch.setattr(a, "_release", _nothing)  # why: a crash: no release; the key expires
    task_a.cancel()
    await until(b.is_leader, 10)
    seen = tenures_of(b)
    stop_b.set()
    await asyncio.gather(task_b, return_exceptions=True)
    await asyncio.gather(task_a, return_exceptions=True)

    took = [r for r in caplog.records if "s2 took it" in r.getMessage()]
    assert [r.levelno for r in took] == [logging.WARNING], caplog.text
    assert (
        took[0]
        .getMessage()
        .startswith("lease ticker: s2 took it; last holder s1, seen holding it until 20")
    )
    assert "lease ticker: s1 took it (nobody held it before)" in caplog.text  # INFO: a start
    assert [(t.holder, t.mine) for t in seen if t.holder] == [("s1", False), ("s2", True)]
    s1 = seen[0]
    assert cause(s1.last - timedelta(seconds=0.5), Seen(tenures=seen)).startswith(
        f"{LATE_QUIET} (s1 held the ticker lease until "
    )
    assert cause(seen[-1].last, Seen(tenures=seen)).startswith(LATE_BUSY)  # (its now)


async def _nothing() -> None:
    return None


def test_a_loss_names_why_or_who_holds_it_now(caplog: pytest.LogCaptureFixture) -> None:
    log = logging.getLogger("test.tenures")
    now = time.time()
    tenures = Tenures("s2")
    tenures.note("s2", now - 5, mine=True)
    tenures.note("s2", now - 4, mine=True)  # a renewal extends the tenure
    tenures.note("s1", now)
    assert [(s.holder, s.first, s.last) for s in tenures.seen] == [
        ("s2", now - 5, now - 4),
        ("s1", now, now),
    ]
    with caplog.at_level(logging.INFO, logger="test.tenures"):
        tenures.say(log, "ticker", leading=False, error="")
        tenures.say(log, "ticker", leading=False, error="NATS unreachable")
    assert [r.getMessage() for r in caplog.records] == [
        "lease ticker: s2 lost it (s1 holds it now); it does not tick until it holds it again",
        "lease ticker: s2 lost it (NATS unreachable); it does not tick until it holds it again",
    ]
    caplog.clear()
    mine = Tenures("s1")
    mine.note("s1", now - 10, mine=True)
    with caplog.at_level(logging.INFO, logger="test.tenures"):
        mine.say(log, "ticker", leading=False, error="NATS unreachable")
        mine.note("s1", time.time(), mine=True)  # its key was still its own: renewed
        mine.say(log, "ticker", leading=True, error="")
    assert caplog.records[-1].getMessage() == (
        "lease ticker: s1 holds it again (nobody took it meanwhile)"
    )
