"""Lines worded for the web: where the CLI's line says which command to run, the API and the
console say what to do there instead (a browser cannot run `jetcron …`). The CLI options a
line names (`--max-parallel` for the body's `max_parallel`) stay as the CLI says them, as the
web tests of notifications and backfill expect.

The services word their errors for the CLI, and those lines reach the gateway as text (a
rejection over NATS, a health problem), so the gateway rewords them here, in one table, at
the two places such lines leave it: every problem+json (`app`) and the health problems.
tests/web/test_wording.py makes each line from its source and checks that no CLI command is
left in it, so a source worded anew without a row here fails there.
"""

from __future__ import annotations

import re

_FOR_WEB: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern), replacement)
    for pattern, replacement in (
        # errors.ServiceUnavailable
        (
            r": start one with `jetcron up` \(local, embedded server\) or `jetcron serve` "
            r"\(against an existing NATS\)",
            ": the jetcron scheduler service is not running, or not connected to this NATS",
        ),
        # errors.NotPermitted: in the gateway, the NATS user is the gateway's
        (
            r"your NATS user may not publish to (\S+) \(see `jetcron auth permissions NAME`\)",
            r"the gateway's NATS user may not publish to \1 (its role does not allow it)",
        ),
        # errors.NoAnswerInTime for a command
        (r"check `jetcron audit` before", "check the audit before"),
        # the decider's refusals
        (r" \(use `jetcron schedule update` to change it\)", ": edit it instead"),
        (r"give it a new spec with `jetcron schedule update`", "edit it to give it a new spec"),
        (r" \(use `jetcron calendar update` to change it\)", ": change it instead"),
        (r"; `jetcron notify remove (\S+)` first", ": remove it first"),
        # domain.errors.NotificationNotFound
        (r"; see `jetcron notify list`", ""),
        # projections.queries: an unknown run
        (
            r"\(older runs are counted in `jetcron stats`\)",
            "(older runs are still counted in the statistics)",
        ),
        (r": see `jetcron runs list`", ": see the runs list"),
        # projections.health: unreadable events
        (r" since the last `health --ack`", " since they were last acknowledged"),
        (r", then `jetcron health --ack`", ", then acknowledge them"),
        # client.test_notification
        (r"is a scheduler \(`jetcron serve`/`up`\) running\?", "is the scheduler service running?"),
        # domain.calendar.in_use
        (r" \(jetcron calendar show \S+\)", ""),
        (
            r" \(jetcron schedule update NAME --reset exclude / --reset only_within\)",
            ' (set their "exclude" or "only_within" to null)',
        ),
    )
)


def for_web(line: str) -> str:
    """The line as the API and the console say it: CLI commands it names turned into what to
    do on the web; a line without one as it is."""
    for pattern, replacement in _FOR_WEB:
        line = pattern.sub(replacement, line)
    return line
