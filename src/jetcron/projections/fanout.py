"""A fan-out fire's members: each member's run of it, and the fire's status from theirs; pure.

A fan-out trigger (target `all:<tag>`) is no run: every member executor runs it as its own run
`<run id>-<executor>`. The fire ledger keeps one `Member` per executor on the fire's entry and
reads the fire's status, attempt, executors and detail from them with `summary`.
"""

from __future__ import annotations

import msgspec

from jetcron.domain.runs import IN_FLIGHT, fanout_member, fanout_parent
from jetcron.projections.runs import is_behind

IN_FLIGHT_ORDER = ("running", "retrying", "deferred", "triggered")
FAILED_ORDER = ("failed", "timed_out", "lost", "cancelled")
"""A fan-out fire's status is the first of these any member has (all succeeded: succeeded)."""
SHOWN = 3
"""Members named in a fan-out fire's executor column; more are counted."""


class Member(msgspec.Struct, array_like=True, gc=False):
    """One member's run of a fan-out fire: its status, attempt and latest word."""

    status: str
    attempt: int = 1
    detail: str = ""


class Summary(msgspec.Struct, frozen=True, gc=False):
    """What a fan-out fire's entry shows of its members."""

    status: str
    attempt: int
    executor: str
    detail: str


def member_of(trigger_run_id: str, run_id: str) -> str:
    """The executor part of a member's run id of this trigger ("" if it is none)."""
    return fanout_member(run_id) if fanout_parent(run_id) == trigger_run_id else ""


def step(
    members: dict[str, Member], name: str, status: str, phase: int, attempt: int, detail: str
) -> bool:
    """One member's run moved (phase 0: it ended); False if the event is stale."""
    m = members.get(name)
    if m is None:
        m = members[name] = Member(status="triggered")
    if m.status not in IN_FLIGHT:
        return False  # why: the member's first final outcome wins, as for any run
    if phase and is_behind(m.status, m.attempt, attempt, phase):
        return False
    m.status = status
    # why: an end (cancel, lost) may come from one who does not know the attempt
    m.attempt = attempt if phase else max(m.attempt, attempt)
    if detail or status == "succeeded":
        m.detail = detail
    return True


def summary(members: dict[str, Member]) -> Summary:
    """The fire's status (in flight while any member is), attempt, executors and detail."""
    statuses = {m.status for m in members.values()}
    order = IN_FLIGHT_ORDER if statuses & IN_FLIGHT else FAILED_ORDER
    status = next((s for s in order if s in statuses), "succeeded")
    names = sorted(members)
    shown, more = ",".join(names[:SHOWN]), len(names) - SHOWN
    executor = f"{shown} and {more} more" if more > 0 else shown
    worst = next((n for n in names if members[n].status == status), "")
    word = members[worst].detail if worst else ""
    if len(names) == 1:
        detail = word  # why: one member's run reads as any run's
    else:
        counts: dict[str, int] = {}
        for n in names:
            counts[members[n].status] = counts.get(members[n].status, 0) + 1
        tally = ", ".join(f"{c} {s.replace('_', ' ')}" for s, c in sorted(counts.items()))
        detail = f"{tally}; {worst}: {word}" if word else tally
    return Summary(status, max(m.attempt for m in members.values()), executor, detail)
