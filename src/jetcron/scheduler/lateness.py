"""Late fires: why a fire was found late, why catch-up does not run it, and which fires waiting
in a queue count as late after the ticker was away. The words of `fire.missed`, and of a skip
decided long after its fire; pure."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta

from jetcron.domain.definition import DECIDED_AFTER, CatchUp
from jetcron.domain.lateness import is_late, lateness_s
from jetcron.scheduler.late_cause import Gap, Gaps, Seen, cause, in_gap

__all__ = ["Gap", "Gaps", "Seen", "cause", "decided_late", "missed", "reason", "stale"]

WAITED = " (it was buffered, waiting for the run before it)"
"""Said of a queued fire that catch-up dropped: its fire time alone does not explain a miss."""
NOTED_AFTER = timedelta(seconds=10)
"""A skip decided later than this after its fire says why it was late (`decided_late`).

why 10 s: a tick is milliseconds late; a hold after a take-over (planner.SETTLE) is itself
the end of a gap, and a fire skipped after it deserves its cause as much as a missed one."""
PROMPT = timedelta(seconds=2)
"""A fire that fell in a gap (or before its ticker took over) and was decided later than this
says so too. why: after a `kill -9` of `up` and a restart 7 s later, the fires skipped for
overlap meanwhile told only the overlap (newcomer20b F12); a tick is milliseconds late, a
loaded host's a second."""


def missed(
    fire: datetime,
    window_start: datetime,
    policy: str,
    seen: Seen | Gaps = (),
    jitter_s: float = 0.0,
) -> str:
    """The reason of a late fire's `fire.missed`: why it was late (late_cause.cause, at when
    it was due: its fire time plus its chosen jitter), why catch-up left it."""
    return f"{cause(fire, seen, jitter_s)}: {reason(fire, window_start, policy)}"


def decided_late(
    fire: datetime,
    now: datetime,
    seen: Seen | Gaps = (),
    resumed: datetime | None = None,
    jitter_s: float = 0.0,
) -> str:
    """What a skip decided at `now` adds to its reason when that is long after its fire (over
    NOTED_AFTER; over PROMPT for a fire in a gap or before `resumed`, when this ticker took
    over): how late and why ('' on time).

    why: fires coalesced or skipped for overlap after an outage told only the overlap, so
    an auditor read 'previous run still in flight' for 50 s a cluster had no quorum (newcomer19c
    #3, newcomer19b F9); a missed fire always said why it was late. How late counts from
    when it was due, its chosen jitter (`jitter_s`) included (domain/lateness.py)."""
    late = timedelta(seconds=lateness_s(now, fire, jitter_s))
    if late <= (PROMPT if in_gap(fire, seen, resumed, jitter_s) else NOTED_AFTER):
        return ""
    told = cause(fire, seen, jitter_s)
    return f"; decided {late.total_seconds():.0f}{DECIDED_AFTER}{told}"


def reason(fire: datetime, window_start: datetime, policy: str) -> str:
    """Why the catch-up policy does not run a late fire."""
    if fire < window_start:
        return "fire older than the catch-up window"
    if policy == "none":
        return "catch-up policy is none"
    if policy == "all":
        return "more missed fires than catch-up max_fires"
    return "catch-up policy latest runs only the most recent due fire"


def stale(
    catchup: CatchUp,
    queue: list[datetime],
    due: list[datetime],
    taken: Mapping[datetime, str],
    now: datetime,
    seen: Seen | Gaps = (),
    jitter_s: float = 0.0,
) -> dict[datetime, str]:
    """The queued fires (buffer_one's buffer) that catch-up drops once the ticker was away, with
    the reason of each one's `fire.missed` (empty: they wait on).

    why: a fire buffered before an outage and started after it ran 81 s stale, as "catch-up
    latest", and the newest fire, which the coalesced ones said would run, was skipped behind
    it (newcomer18a F1). So a queued fire counts as late when the ticker was away: when the
    oldest fire due since (`due`) is late itself, i.e. nobody decided it in time. A buffered
    fire that only waited behind a long run, even with a fire due on time beside it, is not:
    that wait is buffer_one's promise. `all` runs each fire anyway (its queue is how); `latest`
    drops a queued fire only for a newer one that may run (not `taken` by an operator's skip
    or a calendar); `none` and the window drop it as they drop any late fire. `jitter_s`: the
    jitter chosen for due[0] (late counts from when it was due: domain/lateness.py)."""
    if not queue or catchup.policy == "all" or not due or not is_late(now, due[0], jitter_s):
        return {}
    if catchup.policy == "latest" and all(f in taken for f in due):
        return {}
    window_start = now - timedelta(seconds=catchup.window_s)
    why = cause(due[0], seen, jitter_s)  # why: the cause of the gap, not of the queued fire's age
    return {f: f"{why}: {reason(f, window_start, catchup.policy)}{WAITED}" for f in queue}
