"""A fan-out fire's members: each member's run of it, and the fire's status from theirs; pure.

A fan-out trigger (target `all:<tag>`) is no run: every member executor runs it as its own run
`<run id>-<executor>`. The fire ledger keeps one `Member` per executor on the fire's entry and
reads the fire's status, attempt, executors and detail from them with `summary`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import msgspec

from jetcron.domain.runs import IN_FLIGHT, fanout_member, fanout_parent
from jetcron.projections.runs import RunRow, RunsView, is_behind

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


def _status(members: Mapping[str, Member]) -> str:
    """The fire's status from its members' (in flight while any member is)."""
    statuses = {m.status for m in members.values()}
    order = IN_FLIGHT_ORDER if statuses & IN_FLIGHT else FAILED_ORDER
    return next((s for s in order if s in statuses), "succeeded")


def summary(members: dict[str, Member]) -> Summary:
    """The fire's status (in flight while any member is), attempt, executors and detail."""
    status = _status(members)
    names = sorted(members)
    shown, more = ",".join(names[:SHOWN]), len(names) - SHOWN
    executor = f"{shown} and {more} more" if more > 0 else shown
    if len(names) == 1:
        detail = members[names[0]].detail  # why: one member's run reads as any run's
    else:
        detail = tallied(members, status)
    return Summary(status, max(m.attempt for m in members.values()), executor, detail)


def tallied(members: Mapping[str, Member], status: str = "") -> str:
    """The members' outcomes in one phrase: how many have each status, and the word of the
    first member with the fire's status (`1 failed, 2 succeeded; pi3: exit code 1`). One rule
    for the fire's detail (`fires`) and `why` of a clock fire or a manual run; '' for none."""
    status = status or (_status(members) if members else "")
    names = sorted(members)
    counts: dict[str, int] = {}
    for n in names:
        counts[members[n].status] = counts.get(members[n].status, 0) + 1
    tally = ", ".join(f"{c} {s.replace('_', ' ')}" for s, c in sorted(counts.items()))
    worst = next((n for n in names if members[n].status == status), "")
    word = members[worst].detail if worst else ""
    return f"{tally}; {worst}: {word}" if word else tally


def of_rows(view: RunsView, name: str, trigger_run_id: str) -> list[RunRow]:
    """The runs view's rows of a fan-out trigger's members (`<run id>-<executor>`)."""
    prefix = trigger_run_id + "-"
    return [view.rows[k] for k in view.by_schedule.get(name, ()) if k.startswith(prefix)]


def members_of(rows: Iterable[RunRow]) -> dict[str, Member]:
    """Members as the fire ledger keeps them, from the runs view's rows of them (a manual
    run's members: the ledger keeps no manual runs)."""
    return {fanout_member(r.run_id): Member(r.status, r.attempt, _word(r)) for r in rows}


def _word(row: RunRow) -> str:
    """A member's latest word, as the ledger takes it from its result (ledger._detail)."""
    line = next(iter((row.error or row.reason).strip().splitlines()), "")
    if not line and row.status == "failed" and row.exit_code is not None:
        return f"exit code {row.exit_code}"
    return line
