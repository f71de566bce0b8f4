"""`jetcron replay --as-of T NAME`: one schedule as it was at T, from its own events.

why: `replay --as-of` listed every schedule's spec and state; an auditor asking "what did X
look like on 3 March, and who changed it?" had to rebuild the definition from `audit` by hand
(nc21b #6). A schedule's events live on its own subject (subjects.schedule) and never age
out, so this reads only those: the whole log need not be folded for one schedule.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import aclosing
from datetime import datetime
from typing import Any

from jetcron import subjects
from jetcron.cli.common import echo, print_json, run, with_nats
from jetcron.cli.text import clean, utc
from jetcron.domain.envelope import StoredEvent
from jetcron.domain.errors import CommandRejected
from jetcron.domain.events import ScheduleCreated, ScheduleDeleted
from jetcron.domain.validation import validate_name
from jetcron.errors import InvalidInput
from jetcron.log.stream import EventLog
from jetcron.projections import audit, schedule_queries, schedules
from jetcron.projections.state import apply_until, new_views


async def history(nc: Any, name: str) -> list[StoredEvent]:
    """Every event on the schedule subject of `name` (all its schedules), in log order."""
    event_log = await EventLog(nc).open(create=False)
    try:
        out: list[StoredEvent] = []
        read = event_log.read(subjects=[subjects.schedule(name)])
        async with aclosing(read) as batches:
            async for batch in batches:
                out += batch
        return out
    finally:
        await event_log.close()


def as_of(events: Sequence[StoredEvent], name: str, when: datetime) -> dict[str, Any]:
    """What `name` was at `when`: `state` active/paused/completed (`schedule`: the row as
    `schedule show` has it), `deleted` (`deleted`: when, by whom, why) or `not_created`; and
    the name's next creation after `when`, if any (`created_after`); pure."""
    views = new_views(keep=0, keep_deleted=0)
    apply_until(views, events, when)
    later = [e for e in events if e.seq > views.position]
    again = next((e for e in later if isinstance(e.envelope.event, ScheduleCreated)), None)
    out: dict[str, Any] = {"name": name, "as_of": utc(when), "position": views.position}
    if again is not None:
        out["created_after"] = _who(again)
    row = schedules.get(views.schedules, name)
    if row is not None:
        out["state"] = row.state
        out["schedule"] = schedule_queries.schedule_row(row, when)
        out["last_change"] = _entry(audit.query(views.audit, name=name)[-1])
        return out
    gone = [e for e in events if e.seq <= views.position]
    if gone and isinstance(gone[-1].envelope.event, ScheduleDeleted):
        out["state"], out["deleted"] = "deleted", _who(gone[-1])
    else:
        out["state"] = "not_created"
    return out


def _who(stored: StoredEvent) -> dict[str, Any]:
    env = stored.envelope
    return {"seq": stored.seq, "at": utc(env.at), "by": env.actor, "reason": env.reason}


def _entry(e: audit.AuditEntry) -> dict[str, Any]:
    return {"seq": e.seq, "at": utc(e.at), "by": e.actor, "type": e.type, "reason": e.reason}


def replay_one(server: str, name: str, when: datetime, as_json: bool) -> None:
    """`jetcron replay --as-of T NAME`: the answer, as `schedule show`'s head or one line."""
    try:
        validate_name(name)
    except CommandRejected as err:
        raise InvalidInput(str(err)) from None
    events = run(with_nats(server, lambda nc: history(nc, name)))
    if not events:
        raise InvalidInput(f"no schedule {name!r} in the log (never created)")
    answer = as_of(events, name, when)
    if as_json:
        print_json(answer)
        return
    if "schedule" not in answer:
        for line in lines(answer):
            echo(line)
        return
    from jetcron.cli.schedule_views import print_head

    echo(f"{name} as of {answer['as_of']}:")
    last = answer["last_change"]
    did = last["type"].split(".", 1)[1].replace("_", " ")
    print_head(answer["schedule"], [("last change", f"{did} at {_said(last)}")])


def lines(answer: dict[str, Any]) -> list[str]:
    """The text answer: the definition block (`schedule show`'s head) and its last change, or
    one line that it was deleted by then or not created yet; then its next creation."""
    name, when = answer["name"], answer["as_of"]
    out: list[str] = []
    if answer["state"] == "deleted":
        out.append(f"{name} as of {when}: deleted at {_said(answer['deleted'])}")
    elif answer["state"] == "not_created":
        out.append(f"{name} as of {when}: not created yet")
    if (again := answer.get("created_after")) is not None:
        out.append(f"  created {'again ' if out and answer['state'] == 'deleted' else ''}at "
                   f"{_said(again)}")  # fmt: skip
    return [clean(line) for line in out]


def _said(who: dict[str, Any]) -> str:
    """`2026-12-03T13:25:43Z by alice (reason)  (seq 12)`."""
    why = f" ({who['reason']})" if who.get("reason") else ""
    return f"{who['at']} by {who['by']}{why}  (seq {who['seq']})"
