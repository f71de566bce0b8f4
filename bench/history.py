"""A big, realistic log written fast: a fleet of schedules and their runs (started, succeeded,
failed and retried, some with output), as the executors and the ticker would append them.

Each event kind is encoded once through the real Structs with placeholder values, then filled in
per event (a bytes %-format), so millions of events cost seconds to make, not minutes.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from operator import itemgetter
from typing import Any

from bench.common import created_envelope
from jetcron import ids, subjects
from jetcron.domain.definition import Job, ScheduleDefinition
from jetcron.domain.envelope import Envelope, encode
from jetcron.domain.events import RunFailed, RunOutput, RunStarted, RunSucceeded, RunTriggered

PERIOD = timedelta(hours=1)
"""Every schedule fires hourly (at its own offset), so a live ticker has nothing due at once."""
EXECUTORS = 7
EVENTS_PER_RUN = 3.2
"""trigger, start, end; every 10th run fails once and is retried (two more)."""
_FIELDS = ("id", "at", "sid", "name", "fire_id", "fire_time", "run_id", "host", "retry_at")
_OUTPUT = "line of job output: moved 12 shards, 0 errors\n"


Template = tuple[bytes, Callable[[dict[str, bytes]], tuple[bytes, ...]]]


def _template(envelope: Envelope) -> Template:
    """(format, picker): the encoded envelope with its @field@ placeholders as %s slots, and
    what picks their values, in slot order, from a dict of all fields."""
    parts = re.split(rb"@(\w+)@", encode(envelope).replace(b"%", b"%%"))
    fields = [f.decode() for f in parts[1::2]]
    data = b"%s".join(parts[0::2])
    return data, itemgetter(*fields)  # type: ignore[return-value]


def _templates() -> dict[str, Template]:
    p: dict[str, Any] = {f: f"@{f}@" for f in _FIELDS}
    common = {
        "schedule_id": p["sid"],
        "name": p["name"],
        "fire_id": p["fire_id"],
        "fire_time": p["fire_time"],
        "run_id": p["run_id"],
    }
    run = common | {"executor": p["host"]}
    job = Job(command=["/usr/local/bin/rebalance", "--pool", p["name"], "--max-moves", "50"])
    kinds = {
        "triggered": RunTriggered(**common, version=1, target="default", job=job, timeout_s=3600.0),
        "started": RunStarted(**run, pid=4242),
        "started2": RunStarted(**run, attempt=2, pid=4243),
        "succeeded": RunSucceeded(**run, duration_s=1.5),
        "succeeded_out": RunSucceeded(
            **run,
            duration_s=2.5,
            output=RunOutput(stdout=_OUTPUT * 12, stdout_size=len(_OUTPUT) * 12),
        ),
        "succeeded2": RunSucceeded(**run, attempt=2, duration_s=1.5),
        "failed": RunFailed(
            **run,
            exit_code=1,
            error="exit status 1",
            duration_s=1.2,
            output=RunOutput(stderr="error: pool busy\n" * 4, stderr_size=68),
            next_retry_at=p["retry_at"],
        ),
    }
    return {
        kind: _template(
            Envelope(id=p["id"], at=p["at"], actor=p["host"], event=event)  # type: ignore[arg-type]
        )
        for kind, event in kinds.items()
    }


@dataclass(frozen=True)
class Fleet:
    """`schedules` hourly schedules; every `output_every`-th successful run carries output."""

    schedules: int = 2000
    output_every: int = 4
    spec: str | None = None
    """Every schedule's spec (None: hourly at its offset, as the runs are). why another: a
    history that ends before now, followed by a live ticker, must not come due and be missed
    (the growth bench writes history up to now in steps)."""

    def names(self) -> list[str]:
        """Schedule names, in offset order."""
        return [f"fleet-{i:05d}" for i in range(self.schedules)]

    def offset(self, i: int) -> timedelta:
        """Where in the hour schedule i fires."""
        return PERIOD * i / self.schedules

    def definition(self, i: int) -> ScheduleDefinition:
        """Schedule i: hourly at its offset, allowed to overlap (the history never overlaps)."""
        seconds = int(self.offset(i).total_seconds())
        hourly = f"@every 1h offset {seconds}s" if seconds else "@every 1h"
        return ScheduleDefinition(
            spec=self.spec or hourly,
            job=Job(command=["/usr/local/bin/rebalance", "--pool", f"fleet-{i:05d}"]),
            overlap="allow",
        )

    def runs(self, n: int, now: datetime) -> Iterator[tuple[datetime, list[tuple[str, bytes]]]]:
        """(fire time, events) of every run in log order, endless: hourly fires from a start
        chosen so that about n events have fired by `now`; the schedules' creation first."""
        hours = max(1, round((n - self.schedules) / (self.schedules * EVENTS_PER_RUN)))
        first = now.replace(minute=0, second=0, microsecond=0) - PERIOD * hours
        names = self.names()
        sids = [ids.derived_id("schedule", name, f"create-{name}") for name in names]
        yield (
            first - PERIOD,
            [
                (
                    subjects.schedule(name),
                    encode(created_envelope(name, self.definition(i), first - PERIOD)),
                )
                for i, name in enumerate(names)
            ],
        )
        templates, counter = _templates(), 0
        for hour in itertools.count():
            for i, name in enumerate(names):
                fire_time = first + PERIOD * hour + self.offset(i)
                counter += 1
                yield fire_time, self._run(templates, name, sids[i], fire_time, counter)

    def events(self, n: int, now: datetime) -> Iterator[tuple[str, bytes]]:
        """The events of every run fired by `now` (about n)."""
        for fire_time, events in self.runs(n, now):
            if fire_time > now:
                return
            yield from events

    def _run(
        self, templates: dict[str, Template], name: str, sid: str, fire_time: datetime, k: int
    ) -> list[tuple[str, bytes]]:
        iso = fire_time.replace(tzinfo=None).isoformat()
        fire = f"{sid}:v1:{iso.translate(_COMPACT)}Z"
        # why: a counter, not ids.run_id_for's hash: the folds only need it unique, and the
        # generator is what keeps a 10M-event benchmark short
        run_id = f"{k:020x}"
        at = iso.encode() + b"Z"
        values = {
            "sid": sid.encode(),
            "name": name.encode(),
            "fire_id": fire.encode(),
            "fire_time": at,
            "run_id": run_id.encode(),
            "host": _HOSTS[k % EXECUTORS],
            "at": at,
        }
        run_subject = subjects.run(name, run_id)
        values["id"] = b"%026x0" % k
        form, pick = templates["triggered"]
        out = [(_TRIGGERS, form % pick(values))]
        values["id"] = b"%026x1" % k
        form, pick = templates["started"]
        out.append((run_subject, form % pick(values)))
        if k % 10 == 0:
            values["retry_at"] = (fire_time + timedelta(seconds=11)).replace(
                tzinfo=None
            ).isoformat().encode() + b"Z"
            kinds = ("failed", "started2", "succeeded2")
        else:
            kinds = ("succeeded_out" if k % self.output_every == 0 else "succeeded",)
        for j, kind in enumerate(kinds, start=2):
            values["id"] = b"%026x%d" % (k, j)
            form, pick = templates[kind]
            out.append((run_subject, form % pick(values)))
        return out


_COMPACT = str.maketrans("", "", "-:")
_HOSTS = [f"host-{i}".encode() for i in range(EXECUTORS)]
_TRIGGERS = subjects.trigger("default")


def now() -> datetime:
    """Wall-clock time, aware UTC."""
    return datetime.now(UTC)
