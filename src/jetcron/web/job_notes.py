"""What a create or an edit answers in `warnings`: what the CLI warns of when it saves such a
job (one rule, `log.heartbeats.shell_refusal`), worded for the web."""

from __future__ import annotations

import logging

from jetcron.domain.definition import ScheduleDefinition
from jetcron.log.heartbeats import shell_refusal
from jetcron.web.gateway import Gateway
from jetcron.web.wording import for_web

log = logging.getLogger(__name__)


def _moved(before: ScheduleDefinition | None, after: ScheduleDefinition) -> bool:
    """Whether the job or where it runs is new (a create, or an edit of either)."""
    return before is None or (before.job, before.target) != (after.job, after.target)


async def warnings(
    gw: Gateway, after: ScheduleDefinition, before: ScheduleDefinition | None = None
) -> list[str]:
    """The warnings of a schedule just saved as `after` (it was `before`; None: created): an
    executor online for its target that refuses its shell string (every run would fail).

    why after the save, not instead of it: the CLI saves and warns too, since an executor
    may be restarted with --allow-shell; the answer says it so a client can show it.
    """
    if after.job.shell is None or not _moved(before, after):
        return []
    try:
        infos = await gw.executors()
    except Exception as err:  # noqa: BLE001 - a warning is best effort; the change is stored
        log.warning("could not read the executors to check a shell job: %s", err)
        return []
    line = shell_refusal(infos, after.target)
    return [for_web(line)] if line else []
