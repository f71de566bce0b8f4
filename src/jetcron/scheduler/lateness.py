"""Late fires: why a fire was found late, why catch-up does not run it, and which fires waiting
in a queue count as late after the ticker was away. The words of `fire.missed`; pure."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta

from jetcron.domain.definition import LATE_DOWN, LATE_LOG_FULL, MISSED_AFTER, CatchUp

Stall = tuple[datetime, datetime | None]
"""When appends were refused for want of storage: (since, until; None: still)."""

WAITED = " (it was buffered, waiting for the run before it)"
"""Said of a queued fire that catch-up dropped: its fire time alone does not explain a miss."""


def missed(fire: datetime, window_start: datetime, policy: str, log_full: Stall | None) -> str:
    """The reason of a late fire's `fire.missed`: why it was late, why catch-up left it."""
    return f"{cause(fire, log_full)}: {reason(fire, window_start, policy)}"


def cause(fire: datetime, log_full: Stall | None) -> str:
    """Why a fire was found late: the log was full when it fell due, or no scheduler ticked.

    why from MISSED_AFTER before the stall: a fire due then was still to be triggered on time."""
    if log_full is not None:
        since, until = log_full
        if since - MISSED_AFTER <= fire and (until is None or fire <= until):
            return LATE_LOG_FULL
    return LATE_DOWN


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
    log_full: Stall | None,
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
    or a calendar); `none` and the window drop it as they drop any late fire."""
    if not queue or catchup.policy == "all" or not due or now - due[0] <= MISSED_AFTER:
        return {}
    if catchup.policy == "latest" and all(f in taken for f in due):
        return {}
    window_start = now - timedelta(seconds=catchup.window_s)
    why = cause(due[0], log_full)  # why: the cause of the gap, not of the queued fire's age
    return {f: f"{why}: {reason(f, window_start, catchup.policy)}{WAITED}" for f in queue}
