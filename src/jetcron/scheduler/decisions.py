"""What the planner decides for a schedule at a tick: plain records the ticker shell turns into
events (planner.decide_due makes them)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class Trigger:
    fire_time: datetime


@dataclass(frozen=True, slots=True)
class Buffer:
    """Hold this fire until the run ahead of it ends (overlap buffer_one, catch-up all's queue)."""

    fire_time: datetime
    blocking_run_id: str | None = None
    """The run it waits for (None: the run in flight)."""


@dataclass(frozen=True, slots=True)
class Miss:
    fire_time: datetime
    reason: str


@dataclass(frozen=True, slots=True)
class Skip:
    fire_time: datetime
    reason: str
    blocking_run_id: str | None


@dataclass(frozen=True, slots=True)
class Hold:
    """Decide this fire again later (no event now): the run it would be skipped for was fired
    before this leader took over, so its result may still be on its way (see SETTLE)."""

    fire_time: datetime
    blocking_run_id: str
    until: datetime
    """When the hold ends: then the fire meets the overlap policy as always."""


@dataclass(frozen=True, slots=True)
class Lose:
    run_id: str
    fire_id: str = ""
    fire_time: datetime | None = None


@dataclass(frozen=True, slots=True)
class Cancel:
    run_id: str


@dataclass(frozen=True, slots=True)
class Complete:
    reason: str


Decision = Trigger | Buffer | Hold | Miss | Skip | Lose | Cancel | Complete
