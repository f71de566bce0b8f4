"""Fan-out members among the ticker's runs in flight: when one enters, and what it is not part of.

A fan-out trigger (target `all:<tag>`) is no run, and how many members a fire will have is not
in the log (an executor's tags live in its heartbeat). So a member `<run id>-<executor>` enters
the ticker's runs in flight with its first word that is not an end: its executor's `run.started`,
`run.deferred`, or a failure that asks for another attempt. From then on it is a run in flight
like any other (state.py): its later words move its deadline, its end removes it, and past
its deadline the ticker declares it `run.lost` by the same `Lose` decision, event and msg id
(`<run id>-<executor>:lost`) as a plain run.

A member that never said a word (its executor was offline at fire time, or died before it
claimed the trigger) is not in flight and is never declared lost: the trigger waits in that
executor's own durable consumer and runs when it comes back, and its deadline starts then.
Members take no part in overlap policies (several run per fire) nor in the cancelling of a
deleted schedule's untaken runs (a member in flight was taken by its executor); like any run in
flight they keep their deadline after the delete (state.TickerState.retired).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime

from jetcron.domain.events import RunEvent
from jetcron.domain.runs import fanout_parent, is_final


def is_member(run_id: str) -> bool:
    """True for a fan-out member's run id (`<run id>-<executor>`; a trigger's run id is hex)."""
    return bool(fanout_parent(run_id))


def enters(event: RunEvent) -> bool:
    """True if this event of a run not in flight puts it in flight: a member's word, not its end.

    why not its end: a member's result folded after it was declared lost (or any final word of
    a member we never saw start) must not start a clock that would lose it again.
    """
    return is_member(event.run_id) and not is_final(event)


def blocking(in_flight: Mapping[str, datetime], now: datetime | None = None) -> list[str]:
    """The runs an overlap policy waits for: not fan-out members, not past their deadline."""
    return [r for r, dl in in_flight.items() if not is_member(r) and (now is None or dl > now)]


def untaken(run_ids: Iterable[str]) -> list[str]:
    """Of a deleted schedule's runs in flight, those that may never have been taken."""
    return [r for r in run_ids if not is_member(r)]
