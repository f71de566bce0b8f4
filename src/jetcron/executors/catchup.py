"""An executor that takes triggers late or several at once decides like the ticker does.

A device host that was away (switched off overnight, or kill -9 for a minute) finds the fires
meant for it waiting: its own fan-out consumer holds every fire it missed, a host or pool
target the fire that waited for it. Running them, seconds to hours late, is what the catch-up
and overlap rules exist to prevent, so the executor applies them for itself, with the policies
the trigger carries (the schedule's, at fire time):

- taken more than MISSED_AFTER (60 s) after it was triggered, the catch-up policy decides:
  `latest` runs only the newest of its backlog (a newer trigger of the schedule waits for
  it), `all` runs each (oldest first), `none` runs none; older than the window never runs;
- within 60 s but with a newer trigger of the schedule waiting behind it ("several fires due
  at once"), only the newest runs, unless the schedule's overlap is `allow` or catch-up `all`.

One that does not run is recorded (for that member) as `run.cancelled` with the reason
("missed: taken 4m12s after it fired; …", "coalesced: …"), so `runs`, `fires` and `why` show
it. Manual and backfill triggers always run; triggers from older schedulers carry no policy
and always run.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from nats.aio.msg import Msg

from jetcron.clock import iso_z
from jetcron.domain.definition import MISSED_AFTER
from jetcron.domain.durations import format_duration
from jetcron.domain.events import RunTriggered
from jetcron.executors.attempt import RunHistory
from jetcron.log.stream import EventLog


def stale(trigger: RunTriggered, late: timedelta, newer: datetime | None) -> str:
    """Why an executor taking `trigger` `late` does not run it ("" if it runs); pure.

    `newer`: the fire time of a newer trigger of the same schedule waiting for the executor.
    """
    policy = trigger.catchup
    if policy is None or trigger.forced:
        return ""
    if late > MISSED_AFTER:
        window = timedelta(seconds=policy.window_s)
        took = f"missed: taken {_text(late)} after it fired"
        if late > window:
            return f"{took}, beyond the catch-up window ({_text(window)})"
        if policy.policy == "none":
            return f"{took}; catch-up policy is none"
        if policy.policy == "latest" and newer is not None:
            return f"{took}; catch-up latest: the newer fire {iso_z(newer)} runs instead"
        return ""
    if newer is not None and policy.policy != "all" and trigger.overlap != "allow":
        # why: the ticker's rule for several fires due at once (planner._start), per member
        return (
            "coalesced: several fires were waiting for this executor; only the newest "
            f"({iso_z(newer)}) runs"
        )
    return ""


class Backlog:
    """The newest trigger per schedule on each fan-out subject, read from the log on demand.

    why: only the log knows which triggers wait behind this one; reading forward from the
    first late trigger once (direct gets) and then only what was appended since keeps a
    backlog of hundreds at one read per trigger, not one scan each.
    """

    def __init__(self, log: EventLog) -> None:
        self.log = log
        self._read: dict[str, tuple[int, int, dict[str, datetime]]] = {}
        """subject -> (read from seq, read up to seq, schedule id -> newest clock fire)."""

    async def newer(self, subject: str, seq: int, trigger: RunTriggered) -> datetime | None:
        """The fire time of a newer clock trigger of the same schedule after `seq`, if any."""
        start, end, newest = self._read.get(subject, (seq, seq, {}))
        if seq < start:
            start, end, newest = seq, seq, {}  # why: a redelivery from before what we read
        for stored in await self.log.load_after(subject, end):
            event, end = stored.event, stored.seq
            if isinstance(event, RunTriggered) and not event.forced:
                known = newest.get(event.schedule_id)
                if known is None or event.fire_time > known:
                    newest[event.schedule_id] = event.fire_time
        self._read[subject] = (start, end, newest)
        found = newest.get(trigger.schedule_id)
        return found if found is not None and found > trigger.fire_time else None


async def stale_member(
    backlog: Backlog, trigger: RunTriggered, msg: Msg, history: RunHistory, now: datetime
) -> str:
    """Why this executor (a fan-out member, or one of a host or pool target) does not run its
    trigger now ("" if it runs)."""
    if trigger.catchup is None or trigger.forced or history.started or history.deferrals:
        return ""  # why: only the member's first word; a retry or deferral was decided before
    try:
        meta = msg.metadata
        triggered_at, seq, behind = meta.timestamp, int(meta.sequence.stream), meta.num_pending
    except Exception:  # noqa: BLE001 - not a JetStream message (tests): judge by the fire time
        triggered_at, seq, behind = trigger.fire_time, 0, 0
    # why: nothing behind it in our consumer (the usual case): no newer trigger, no read
    newer = await backlog.newer(msg.subject, seq, trigger) if seq and behind else None
    return stale(trigger, now - triggered_at, newer)


def _text(span: timedelta) -> str:
    return format_duration(timedelta(seconds=round(span.total_seconds())))
