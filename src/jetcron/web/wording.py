"""Lines worded for the web: where the CLI's line says which command to run, the API and the
console say what to do there instead (a browser cannot run `jetcron …`), and a CLI option it
names (`--max-parallel`) is named as the body field or query parameter the web takes
(`max_parallel`).

The services word their errors for the CLI, and those lines reach the gateway as text (a
rejection over NATS, a health problem), so the gateway rewords them here, in one table, at
the places such lines leave it: every problem+json (`app`), the health problems, and the
errors of runs (`run_for_web`: a run whose secret is missing, say).
tests/web/test_wording.py makes each line from its source and checks that no CLI command is
left in it, so a source worded anew without a row here fails there.
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Callable
from typing import Any


def _argv(said: re.Match[str]) -> str:
    # why: the CLI's `--command "sh -c 'cmd'"` is a JSON argv list in a body
    return f'say so: "command": {json.dumps(["sh", "-c", *shlex.split(said[1])])}'


_FOR_WEB: tuple[tuple[re.Pattern[str], str | Callable[[re.Match[str]], str]], ...] = tuple(
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
        (r" \(or `jetcron -v replay --verify`\)", ""),
        (r", then `jetcron health --ack`", ", then acknowledge them"),
        # projections.health: an executor whose heartbeat expired
        (r"or `jetcron health --ack` if it", "or acknowledge it if it"),
        # client.test_notification
        (r"is a scheduler \(`jetcron serve`/`up`\) running\?", "is the scheduler service running?"),
        # domain.calendar.in_use
        (r" \(jetcron calendar show \S+\)", ""),
        (
            r" \(jetcron schedule update NAME --reset exclude / --reset only_within\)",
            ' (set their "exclude" or "only_within" to null)',
        ),
        # projections.why: a fire older than the run history (a sentence of GET …/why)
        (
            r" \(`serve --keep-runs`, `--retention`\)",
            " (the scheduler's keep-runs and retention settings)",
        ),
        (r" \(`jetcron stats`\)", " (see the statistics)"),
        # options that are named otherwise in a body (the generic rule is below)
        # domain.calendar.validate_calendar: the body's fields are plural
        (r"at least one --window, --dates or --range", "at least one of windows, dates, ranges"),
        # domain.notifications: a command that needs a shell
        (r'say so: --command "sh -c (.*)"$', _argv),
        # domain.validation: params without an action
        (r" \(--action NAME\)", " (action)"),
        # domain.validation: a secret given as a value (or as @FILE, which only the CLI reads)
        (
            r"give @FILE \(stored in the secrets bucket\) or kv:NAME \(already there\)",
            "over HTTP give kv:NAME, a secret already in the secrets bucket (the gateway cannot "
            "read your files; README, Job secrets, says how to put one)",
        ),
        # domain.calendar.unknown_calendar
        (
            r" \(add it first: jetcron calendar add \S+ \.\.\.\)",
            ": add the calendar first (the console's Calendars page, or POST /api/v1/calendars)",
        ),
        # projections.skips: the CLI's TIME argument is the body's "time"
        (r"^TIME ", "time "),
        # projections.backfill.verdict: a flag is a boolean field
        (r"--rerun\b", "rerun: true"),
        # log.pull: a JetStream request's subject is the log's inner workings, not a page's
        # (a stale view's reason: "the projection follower is down (JetStream API $JS.API…")
        (r"JetStream API \$JS\.API\.\S+ failed: ", "a JetStream request failed: "),
        (r"JetStream API \$JS\.API\.\S+?: ", ""),
        # log.heartbeats.shell_refusal: the web cannot start an executor
        (
            r" \(start it with --allow-shell: `jetcron up --allow-shell`, `jetcron executor"
            r" --allow-shell`\)",
            ": its runs fail until it is started with --allow-shell",
        ),
        # executors.runlog: a run's secret missing from the bucket (a run's error)
        (
            r" \(put it with `jetcron schedule update \S+ --secret-env \S+=@FILE`\)",
            ": it must be put into the secrets bucket first (the web cannot put secrets)",
        ),
    )
)

FIELD_OF_OPTION: dict[str, str] = {
    # backfill's body (projections.backfill)
    **{o: o for o in ("from", "to", "overlap")},
    "max-parallel": "max_parallel",
    # GET …/fires and /runs (projections.fire_queries.fires_window)
    **{o: o for o in ("since", "until")},
    # a notification's body (domain.notifications)
    **{o: o for o in ("webhook", "command", "subject", "secret", "on", "window", "timeout")},
    # a schedule's body (domain.validation)
    "env": "env",
}
"""The CLI options that lines of shared code name, and the field or parameter the web takes
for each; other options (a server's `--retention`) are no field of any body and stay."""

_OPTION_OR_QUOTED = re.compile(
    r"(?P<quoted>'[^']*'|\"[^\"]*\")|(?<![\w-])--(?P<option>[a-z][a-z-]*)\b"
)


def _field(said: re.Match[str]) -> str:
    # why: what a user typed and the line quotes ('echo --on') is theirs and stays as typed
    option = said["option"]
    if option is None or option not in FIELD_OF_OPTION:
        return said[0]
    return FIELD_OF_OPTION[option]


def for_web(line: str) -> str:
    """The line as the API and the console say it: CLI commands it names turned into what to
    do on the web, CLI options into the fields the web takes; a line without either as it is."""
    return _OPTION_OR_QUOTED.sub(_field, commands_for_web(line))


def commands_for_web(line: str) -> str:
    """The line with the CLI commands it names turned into what to do on the web; options
    stay (a run's error may quote what a job said, `--to` and all)."""
    for pattern, replacement in _FOR_WEB:
        line = pattern.sub(replacement, line)
    return line


RUN_LINES = ("error", "last_error", "detail")
"""The members of a run, a schedule row or an attempt that carry a line a service worded."""


def run_for_web(row: dict[str, Any]) -> dict[str, Any]:
    """A run, schedule row or attempt (a dict of an answer) with its error lines worded for
    the web (`commands_for_web`), changed in place and returned."""
    for key in RUN_LINES:
        if isinstance(row.get(key), str):
            row[key] = commands_for_web(row[key])
    return row
