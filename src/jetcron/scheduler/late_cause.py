"""Why a fire was decided late: one cause, from what the deciding scheduler saw; pure.

Its inputs (`Seen`) are what this replica knows: its gaps (the log full, NATS out of its reach,
no stream leader), who held the ticker lease when (its own tenures and those it saw another
replica hold), and a hold of the fire after a take-over (planner.SETTLE). The cause is the one
in force at the fire time, so an outage that ended before the fire, or began after it, is not
blamed, and `scheduler down` is said only when no scheduler held the lease.

why one place: the reason of a `fire.missed`, the `decided N s after its fire` of a late skip
and the queued fires catch-up drops all said it with rules of their own, and each was wrong in
its own way (nc21c #1, #2: a 2 s restart after the fires were due blamed for a 54 s full log,
`scheduler down` while the scheduler held its fires for a run's result).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from jetcron.clock import iso_z
from jetcron.domain.definition import LATE_BUSY, LATE_DOWN, LATE_HELD, LATE_QUIET

Gap = tuple[str, datetime, datetime | None]
"""A time the deciding scheduler could not decide fires: (cause, since, until; None: still).
The cause is LATE_LOG_FULL, LATE_UNREACHABLE or LATE_NO_LEADER (stalls.py gathers them)."""
Gaps = Sequence[Gap]

SLACK = timedelta(seconds=2)
"""A fire due this little before a gap began counts as in it: the tick that would have decided
it may have been under way (a second late on a loaded host) when the gap began.

why not more: a fire due longer before a gap would have been decided before it, had the
ticker ticked; something else kept it (the old rule's 60 s blamed outages that came later)."""


@dataclass(frozen=True, slots=True)
class Tenure:
    """A time this replica saw the ticker lease held by `holder` ("": by nobody), from `first`
    to `last` seen so (its own: from its take to its last renewal)."""

    holder: str
    first: datetime
    last: datetime
    mine: bool = False
    """This replica's own tenure (not another process, even one of the same name)."""


@dataclass(frozen=True, slots=True)
class Held:
    """A fire this leader held for the result of a run fired before it took over."""

    fire: datetime
    run_id: str
    until: datetime


@dataclass(frozen=True, slots=True)
class Seen:
    """What the deciding scheduler saw that can make a fire late."""

    gaps: Gaps = ()
    tenures: Sequence[Tenure] = ()
    """By time, oldest first (empty: unknown, e.g. a scheduler without a lease)."""
    held: Held | None = None
    """The hold this fire (of the entry decided) came out of, if any."""


NOTHING = Seen()


def seen_of(seen: Seen | Gaps) -> Seen:
    """`seen` as Seen (gaps alone are accepted: what callers without a lease know)."""
    return seen if isinstance(seen, Seen) else Seen(gaps=tuple(seen))


def cause(fire: datetime, seen: Seen | Gaps = (), jitter_s: float = 0.0) -> str:
    """Why a fire was decided late, in the words of a reason: the gap it fell in, else the hold
    it came out of, else who held the ticker lease at its time: this very leader (it ticked
    late: LATE_BUSY), another that did not tick (LATE_QUIET), or nobody (LATE_DOWN; also when
    this replica cannot tell). Its time is when it was due: the fire time plus the jitter
    chosen for it (`jitter_s`; the ticker wakes for it then, domain/lateness.py)."""
    s, due = seen_of(seen), fire + timedelta(seconds=jitter_s)
    if (gap := covering(due, s.gaps)) is not None:
        kind, since, until = gap
        if until is None:  # why: the stall the decision itself ends (its appends clear it)
            return f"{kind} since {_z(since)}"
        return f"{kind} from {_z(since)} to {_z(until)}"
    if s.held is not None and s.held.fire == fire:
        run = s.held.run_id[:8]
        return f"{LATE_HELD} {run}, fired before this leader took over (until {_z(s.held.until)})"
    return _lease_cause(due, s.tenures)


def covering(fire: datetime, gaps: Gaps) -> Gap | None:
    """The gap in force at `fire` (from SLACK before it began to its end), the latest begun if
    several are (the nearest cause: NATS down during a longer stall of the log)."""
    found: Gap | None = None
    for gap in merged(gaps):
        _, since, until = gap
        if since - SLACK <= fire and (until is None or fire <= until):
            if found is None or since >= found[1]:
                found = gap
    return found


def merged(gaps: Gaps) -> list[Gap]:
    """Gaps of one kind that overlap, as one (by start).

    why: every connection of a process notes its own outage, from its own last answer, so one
    outage was told with two starts (nc21c #2); one outage has one start, the earliest."""
    out: list[Gap] = []
    for kind, since, until in sorted(gaps, key=lambda g: g[1]):
        same = next((i for i in range(len(out) - 1, -1, -1) if out[i][0] == kind), None)
        if same is not None and _meets(out[same], since):
            prev_until = out[same][2]
            joined = None if until is None or prev_until is None else max(until, prev_until)
            out[same] = (kind, out[same][1], joined)
        else:
            out.append((kind, since, until))
    return sorted(out, key=lambda g: g[1])


def _meets(gap: Gap, since: datetime) -> bool:
    return gap[2] is None or since <= gap[2] + SLACK


def _lease_cause(fire: datetime, tenures: Sequence[Tenure]) -> str:
    """Who held the ticker lease at `fire`, as a cause (no gap, no hold explains it)."""
    at = _tenure_at(fire, tenures)
    if at is None:
        return LATE_DOWN  # why: nothing seen then (not started yet, or a replica without a lease)
    t = tenures[at]
    if not t.holder:
        before = next((x.last for x in reversed(tenures[:at]) if x.holder), t.first)
        after = next((x.first for x in tenures[at + 1 :] if x.holder), t.last)
        return f"{LATE_DOWN} (no scheduler held the ticker lease from {_z(before)} to {_z(after)})"
    current = t.mine and at == len(tenures) - 1
    if current:
        return f"{LATE_BUSY} ({t.holder} held the ticker lease and ticked late)"
    who = f"this replica, {t.holder}," if t.mine else t.holder
    return f"{LATE_QUIET} ({who} held the ticker lease until {_z(t.last)} and did not tick)"


def _tenure_at(fire: datetime, tenures: Sequence[Tenure]) -> int | None:
    """The tenure seen at `fire`, else the nearest seen within SLACK of it (a holder is seen at
    each renewal or look: a second or two apart)."""
    off = [max(t.first - fire, fire - t.last, timedelta(0)) for t in tenures]
    near = min(range(len(off)), key=off.__getitem__, default=None)
    return near if near is not None and off[near] <= SLACK else None


def _z(at: datetime) -> str:
    # why to the second: measured instants; a reason is read, as the README's one way of
    # writing times (newcomer20a #12: "09:56:53.989132Z" in a console note)
    return iso_z(at.replace(microsecond=0))


def in_gap(
    fire: datetime, seen: Seen | Gaps, resumed: datetime | None = None, jitter_s: float = 0.0
) -> bool:
    """Whether the ticker was away when `fire` was due (plus `jitter_s`): in a gap, before it
    took over (`resumed`), or it held the fire.

    why: a skip of such a fire says why it was late from PROMPT on, not only past NOTED_AFTER
    (lateness.decided_late)."""
    s, due = seen_of(seen), fire + timedelta(seconds=jitter_s)
    held = s.held is not None and s.held.fire == fire
    return held or (resumed is not None and due < resumed) or covering(due, s.gaps) is not None
