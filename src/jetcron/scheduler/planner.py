"""The ticker's pure core: what each schedule must do now, given its entry and the time.

`decide_due(entry, now)` returns the decisions (trigger, buffer, miss, skip, lose, cancel,
complete) that the ticker shell turns into events, and holds (a fire decided again later,
no event); the entry it reads is kept by state.TickerState. Nothing here does I/O or reads a
clock.
"""

from __future__ import annotations

from collections.abc import Container, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from functools import partial

from jetcron import ids
from jetcron.clock import iso_z
from jetcron.domain.calendar import CalendarDefinition, calendar_fate
from jetcron.domain.definition import MISSED_AFTER
from jetcron.domain.fires import fires_within, next_fire_within
from jetcron.domain.lateness import is_late
from jetcron.scheduler import lateness, members
from jetcron.scheduler.decisions import (
    Buffer,
    Cancel,
    Complete,
    Decision,
    Hold,
    Lose,
    Miss,
    Skip,
    Trigger,
)
from jetcron.scheduler.entry import LOST_GRACE, Entry, queued, run_budget
from jetcron.scheduler.firetimes import fire_after, jitter_of, upcoming_fire_after
from jetcron.scheduler.lateness import Gaps, Seen

__all__ = [
    "Buffer", "Cancel", "Complete", "Decision", "Hold", "Lose", "Miss", "Skip", "Trigger",
    "decide_due", "overdue", "pending_run_id",
]  # fmt: skip


SETTLE = timedelta(seconds=20)
"""How long after a leader takes over a fire may wait for the word of a run fired before then.

why: an executor holds a result it could not store (NATS away) and retries it, backing off to
10 s, once NATS is back; a leader that takes over after the outage reads a log that may still
lack it. Skipping the first fire after the outage for a run that had already ended lost that
fire with a false reason (newcomer16b F2)."""
HOLD_SLACK = timedelta(seconds=5)
"""A hold ends this long before the fire would count as late (MISSED_AFTER), so the fire is
decided again while it is still on time (the ticker looks at a held entry every second)."""


def _lose(entry: Entry, run_id: str) -> Lose:
    """A Lose decision that names the run's fire, so the ledger learns what became of it."""
    fire_id, fire_time = (entry.fires or {}).get(run_id, ("", None))
    return Lose(run_id, fire_id, fire_time)


def overdue(entry: Entry, now: datetime, taken_over: datetime | None = None) -> list[Lose]:
    """The entry's runs in flight with no word past their deadline at `now`: lost; none until
    SETTLE after `taken_over` (when this leader took over, or NATS came back to it).

    why: an executor holds a result it could not store through an outage and sends it once
    NATS is back (backing off to 10 s); a run whose deadline passed during the outage was
    declared lost the moment the leader could append again, its success stored after and
    shown as `lost` (newcomer18b F1)."""
    settled = taken_over is None or now >= taken_over + SETTLE
    return [_lose(entry, r) for r, dl in entry.running().items() if dl <= now and settled]


def decide_due(
    entry: Entry,
    now: datetime,
    calendars: Mapping[str, CalendarDefinition] | None = None,
    seen: Seen | Gaps = (),
    taken_over: datetime | None = None,
    grace: timedelta = LOST_GRACE,
    unstarted: Container[str] = frozenset(),
) -> list[Decision]:
    """Everything due for this entry at `now`; applying the resulting events advances it.

    `calendars` (by name) are those the schedule's exclude/only_within may name; `seen`: what
    the deciding scheduler saw that makes a fire late (late_cause: a fire missed, or skipped
    long after its fire, says why); `taken_over`
    is when this ticker became the leader (None: no hold, see SETTLE); `grace` the lost grace
    the runs' deadlines were set with (TickerState.lost_grace); `unstarted`: the runs in
    flight that no executor has started yet (TickerState.unstarted: an overlap skip says so)."""
    decisions: list[Decision] = [*overdue(entry, now, taken_over)]
    running = members.blocking(entry.running(), now)
    queue = queued(entry)
    if not entry.active and queue:
        # why: pausing stops fires, those waiting in a queue too (each recorded, not dropped)
        return decisions + [Skip(f, PAUSED_IN_QUEUE, None) for f in queue]
    live = entry.active and not entry.completed
    due = _due_fires(entry, now, 0) if live else []
    taken = _taken(entry, due, calendars or {})
    first = _jitter_s(entry, due[0]) if due else 0.0
    if stale := lateness.stale(entry.timing.catchup, queue, due, taken, now, seen, first):
        decisions += [Miss(f, why) for f, why in stale.items()]
        queue = []
    elif queue and entry.timing.max_runs is not None:
        # why: fires waiting in the queue count toward the run limit as the runs they will be
        due = _due_fires(entry, now, len(queue))
        taken = _taken(entry, due, calendars or {})
    if queue and not running:
        decisions.append(Trigger(queue[0]))
        running, queue = [pending_run_id(entry, queue[0])], queue[1:]
    if not live:
        return decisions
    # why: an operator's skip or a calendar decides the fire before catch-up or overlap could
    decisions += [Skip(f, why, None) for f, why in taken.items()]
    fires = _catch_up(entry, [f for f in due if f not in taken] if taken else due, now, seen)
    if _queues(entry, fires):
        decisions += _queue(entry, fires, running, queue)
    else:
        at = Settling(now, taken_over, grace, unstarted=unstarted)
        started = _start(entry, fires, running, queue, at)
        decisions += [_noted(entry, d, now, seen, taken_over) for d in started]
    return decisions + _completion(entry, now, decisions, len(queue), due)


def _completion(
    entry: Entry, now: datetime, decisions: list[Decision], waiting: int, due: list[datetime]
) -> list[Decision]:
    """[Complete] if this schedule has no fire left once these decisions are applied."""
    waiting += sum(isinstance(d, Buffer | Hold) for d in decisions)
    if waiting or not _finite(entry, now):
        return []  # why: a schedule completes once nothing waits in its queue
    triggered = sum(isinstance(d, Trigger) for d in decisions)
    if upcoming_fire_after(entry, due[-1] if due else None, triggered) is None:
        return [Complete(_completion_reason(entry, triggered))]
    return []


BUSY = "overlap: previous run still in flight"
NOT_STARTED = "overlap: previous run triggered, not started yet"
"""BUSY, when the log holds no start of that run (its executor has not taken it yet)."""
BUFFER_FULL = "overlap buffer_one: a fire is already waiting"
COALESCED = "coalesced: several fires were due at once"
"""The start of an older fire's skip that was coalesced into the newest (_coalesced)."""
PAUSED_IN_QUEUE = "paused: the schedule was paused while this fire waited for the run before it"


def _queues(entry: Entry, fires: list[Trigger | Miss]) -> bool:
    """True if these fires start one after another (catch-up `all`, an overlap policy other
    than allow, several fires to start now) instead of meeting the overlap policy.

    why: `all` promises every fire runs, oldest first, each in turn; under an overlap policy
    that forbids side-by-side runs that means one after another, not the first run and the rest
    skipped as overlapping it. A fire due alone (also one that falls due while a queue drains)
    meets the policy as always: the queue stays bounded by what one catch-up found, even when
    the job runs longer than the interval."""
    t = entry.timing
    if t.catchup.policy != "all" or t.overlap == "allow":
        return False
    return sum(isinstance(f, Trigger) for f in fires) > 1


def _queue(
    entry: Entry, fires: list[Trigger | Miss], running: list[str], queue: list[datetime]
) -> list[Decision]:
    """Fires that start one after another: the oldest now if nothing runs, each of the others
    buffered behind the run of the fire before it (the queue's tail first)."""
    ahead = pending_run_id(entry, queue[-1]) if queue else running[0] if running else None
    out: list[Decision] = []
    for f in fires:
        if not isinstance(f, Trigger):
            out.append(f)
            continue
        out.append(f if ahead is None else Buffer(f.fire_time, ahead))
        ahead = pending_run_id(entry, f.fire_time)
    return out


def _taken(
    entry: Entry, due: list[datetime], calendars: Mapping[str, CalendarDefinition]
) -> dict[datetime, str]:
    """Due fires that will not run, and why: skipped by an operator, or taken by a calendar."""
    t, skips = entry.timing, entry.skips or {}
    if not skips and not t.exclude and not t.only_within:
        return {}
    taken: dict[datetime, str] = {}
    for f in due:
        why = skips.get(f) or calendar_fate(t.exclude, t.only_within, calendars, f)
        if why is not None:
            taken[f] = why
    return taken


def _due_fires(entry: Entry, now: datetime, waiting: int) -> list[datetime]:
    """The fires due at `now`; `waiting` fires in the queue count toward the run limit."""
    after = entry.after()
    if after is None:
        return []
    d, memo = entry.timing, partial(fire_after, entry)
    runs = entry.runs + waiting
    first = next_fire_within(d, after, runs, fire_after=memo)
    if first is None or first > now:
        return []
    # why: the common case is one fire due; skip the range scan
    second = next_fire_within(d, first, runs + 1, fire_after=memo)
    if second is None or second > now:
        fires = [first]
    else:
        fires = fires_within(
            d, after, until=now, runs=runs, limit=max(d.catchup.max_fires, 1) + 1000
        )
    return [f for f in fires if f + jitter_of(entry, f) <= now]


def _catch_up(
    entry: Entry, due: list[datetime], now: datetime, seen: Seen | Gaps = ()
) -> list[Trigger | Miss]:
    """Fires on time trigger; late ones follow the catch-up policy, each outcome recorded.

    Late and the window count from when a fire was due, its chosen jitter included
    (domain/lateness.py). why: the ticker wakes for a fire at fire + jitter, so a jitter over
    MISSED_AFTER made the fire late: with catch-up `none` it was missed ("scheduler down")."""
    jitter = {f: _jitter_s(entry, f) for f in due} if entry.timing.jitter_s else {}
    late = [f for f in due if is_late(now, f, jitter.get(f, 0.0))]
    if not late:
        return [Trigger(f) for f in due]
    found_late = set(late)
    on_time = [Trigger(f) for f in due if f not in found_late]
    policy = entry.timing.catchup
    window_start = now - timedelta(seconds=policy.window_s)
    # why the start moved back by a fire's jitter: reason() compares the fire time with it
    starts = {f: window_start - timedelta(seconds=jitter.get(f, 0.0)) for f in late}
    eligible = [f for f in late if f >= starts[f]]
    keep: set[datetime] = set()
    if policy.policy == "all":
        keep = set(eligible[-policy.max_fires :])
    elif policy.policy == "latest" and eligible and not on_time:
        keep = {eligible[-1]}
    said, at = policy.policy, jitter.get  # why: a miss says its cause at when it was due
    out: list[Trigger | Miss] = [
        Trigger(f) if f in keep else Miss(f, lateness.missed(f, starts[f], said, seen, at(f, 0.0)))
        for f in late
    ]
    return out + on_time


def _jitter_s(entry: Entry, fire: datetime) -> float:
    """The delay the entry's jitter chose for this fire, in seconds (domain/lateness.py)."""
    return jitter_of(entry, fire).total_seconds() if entry.timing.jitter_s else 0.0


@dataclass(frozen=True, slots=True)
class Settling:
    """The time of a decision, when its leader took over (None: no hold), and the grace after
    a run's budget (what its deadline in flight was set with)."""

    now: datetime
    taken_over: datetime | None
    grace: timedelta
    oldest: datetime | None = None
    """The oldest fire held with this one (coalesced into it): the hold ends while it is on
    time too."""
    unstarted: Container[str] = frozenset()
    """Runs in flight not started yet (decide_due)."""


def _hold(entry: Entry, fire: datetime, run_id: str, at: Settling) -> Hold | None:
    """Hold a fire that would be skipped for a run last heard of before this leader took over,
    while the result of that run may still arrive (SETTLE) and the fire is still on time.

    why: a held fire is decided again as soon as the run's end is folded (then it runs) or when
    the hold ends (then it is skipped as before); it gets one fate, under its fire id, either
    way, and it never runs beside a run that the log shows in flight. Last heard of, not fired
    for a fire time before the take-over: a run this leader triggered (a catch-up, the queue
    of `catchup all`) or one that started since has no result held through the outage, and a
    fire behind it meets the overlap policy at once, as always."""
    deadline = entry.running().get(run_id)
    if at.taken_over is None or deadline is None:
        return None
    # why: its deadline is its last word (trigger, start, retry) plus its budget (state.py)
    if deadline - run_budget(entry.timing.timeout_s, at.grace) >= at.taken_over:
        return None
    until = min(at.taken_over + SETTLE, min(fire, at.oldest or fire) + MISSED_AFTER - HOLD_SLACK)
    return Hold(fire, run_id, until) if at.now < until else None


def _start(
    entry: Entry,
    fires: list[Trigger | Miss],
    running: list[str],
    queue: list[datetime],
    at: Settling,
) -> list[Decision]:
    """The fires that would start now: several that may not run side by side (a stall shorter
    than the catch-up grace) are coalesced into the newest, which meets the overlap policy.

    why: starting the oldest and skipping the newer as "overlapping" a run that has only just
    started tells the operator the wrong story and runs the stalest fire. The older ones are
    worded after the newest's fate, so "only the newest runs" is said of a fire that runs (or
    waits in the buffer to); if it is skipped for overlap, so is each of them, as each would
    have been; held, they are held with it (decided again together)."""
    triggers = [f.fire_time for f in fires if isinstance(f, Trigger)]
    if not triggers or entry.timing.overlap == "allow":
        return list(fires)
    newest = triggers[-1]
    if len(triggers) > 1:
        at = replace(at, oldest=triggers[0])  # why: a hold holds them all (_hold)
    fate = _overlap(entry, newest, running, queue, at)
    out: list[Decision] = []
    for f in fires:
        if not isinstance(f, Trigger):
            out.append(f)
        elif f.fire_time != newest:
            out += _coalesced(f.fire_time, newest, fate[-1])
    return out + fate


def _noted(
    entry: Entry, d: Decision, now: datetime, seen: Seen | Gaps, resumed: datetime | None
) -> Decision:
    """A skip (coalesced, or for overlap) decided long after its fire says why it was late."""
    if not isinstance(d, Skip):
        return d
    jitter = _jitter_s(entry, d.fire_time)
    if late := lateness.decided_late(d.fire_time, now, seen, resumed, jitter):
        return replace(d, reason=d.reason + late)
    return d


def _coalesced(fire: datetime, newest: datetime, fate: Decision) -> list[Decision]:
    """An older fire coalesced into the newest, by what became of the newest."""
    if isinstance(fate, Hold):
        return []
    if isinstance(fate, Skip):
        return [Skip(fire, fate.reason, fate.blocking_run_id)]
    then = ", once the run before it ends" if isinstance(fate, Buffer) else ""
    why = f"{COALESCED}; only the newest ({iso_z(newest)}) runs"
    return [Skip(fire, why + then, None)]


def _overlap(
    entry: Entry, fire: datetime, running: list[str], queue: list[datetime], at: Settling
) -> list[Decision]:
    """Apply the overlap policy to the one fire that would start now (not `allow`)."""
    policy = entry.timing.overlap
    if not running:
        return [Trigger(fire)]
    if policy == "cancel_previous":
        return [*(Cancel(r) for r in running), Trigger(fire)]
    if policy == "buffer_one" and not queue:
        return [Buffer(fire, running[0])]
    held = _hold(entry, fire, running[0], at)
    if held is not None:
        return [held]
    # why: "in flight" read as running for a run no executor had taken yet (offline)
    waiting = running[0] in at.unstarted
    if policy == "buffer_one":
        ahead = "triggered, not started yet" if waiting else "in flight"
        return [Skip(fire, f"{BUFFER_FULL} ({iso_z(queue[0])}) for the run {ahead}", running[0])]
    return [Skip(fire, NOT_STARTED if waiting else BUSY, running[0])]


def pending_run_id(entry: Entry, fire_time: datetime) -> str:
    """The run id a fire of this entry gets."""
    return ids.run_id_for(ids.fire_id(entry.schedule_id, entry.version, fire_time))


def _finite(entry: Entry, now: datetime) -> bool:
    d = entry.timing
    return (
        d.spec.startswith("@at") or d.max_runs is not None or (d.end is not None and now >= d.end)
    )


def _completion_reason(entry: Entry, triggered: int) -> str:
    d = entry.timing
    if d.spec.startswith("@at"):
        return "one-off schedule fired" if triggered or entry.runs else "one-off time has passed"
    if d.max_runs is not None and entry.runs + triggered >= d.max_runs:
        return f"run limit of {d.max_runs} reached"
    return "end of the schedule's time range"
