"""`jetcron notify` and the expectation options against a live scheduler service: bad input is
one line, exit 2, and appends nothing."""

from __future__ import annotations

import asyncio
import json

import nats
from served import cli

from jetcron.log.stream import EventLog


def last_seq(url: str) -> int:
    async def read() -> int:
        nc = await nats.connect(url)
        try:
            return await EventLog(nc).last_seq()
        finally:
            await nc.close()

    return asyncio.run(read())


BAD = [
    (["notify", "add", "x"], "exactly one of --webhook, --command, --subject"),
    (["notify", "add", "x", "--webhook", "ftp://h/x"], "invalid --webhook 'ftp://h/x'"),
    (["notify", "add", "x", "--subject", "a", "--on", "failed"], "unknown --on kind 'failed'"),
    (["notify", "add", "ops", "--subject", "a"], "notification 'ops' exists"),
    (["notify", "add", "x", "--command", "true", "--secret", "k"], "--secret signs webhooks"),
    (["notify", "add", "x", "--command", "'unclosed"], "invalid --command"),
    (["notify", "add", "x", "--command", "cat > /tmp/out.json"], "'>' needs a shell"),
    (["notify", "add", "x", "--subject", "a b"], "invalid --subject"),
    (["notify", "add", "x", "--subject", "jetcron.trigger.h"], "one of jetcron's own subjects"),
    (["notify", "add", "x", "--subject", "a", "--window", "soon"], "--window: invalid duration 'soon'"),
    (["notify", "add", "bad name", "--subject", "a"], "invalid notification name"),
    (["notify", "remove", "nope"], "no notification 'nope'"),
    (["notify", "test", "nope"], "no notification 'nope'"),
    (["schedule", "add", "s", "@daily", "--expect-done-by", "25:00", "--", "true"], "'25:00'"),
    (["schedule", "add", "s", "@daily", "--expect-done-by", "6", "--", "true"], "use HH:MM"),
    (["schedule", "add", "s", "@daily", "--expect-success-within", "soon", "--", "true"],
     "--expect-success-within"),
    (["schedule", "update", "ops-job", "--expect-done-by", "7:6"], "use HH:MM"),
]  # fmt: skip


def test_bad_input_is_one_line_exit_2_and_appends_nothing(scheduler: str) -> None:
    assert cli(scheduler, "notify", "add", "ops", "--subject", "ops.alerts").exit_code == 0
    assert cli(scheduler, "schedule", "add", "ops-job", "@daily", "--", "true").exit_code == 0
    before = last_seq(scheduler)
    for args, says in BAD:
        result = cli(scheduler, *args)
        assert result.exit_code == 2, (args, result.output)
        assert says in result.stderr and len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert last_seq(scheduler) == before


def test_expectations_round_trip_through_update_and_export(scheduler: str) -> None:
    add = ["schedule", "add", "nightly", "0 2 * * *", "--tz", "Europe/Berlin"]
    assert cli(scheduler, *add, "--expect-done-by", "6:00", "--", "true").exit_code == 0
    assert (
        cli(scheduler, "schedule", "update", "nightly", "--expect-success-within", "26h").exit_code
        == 0
    )
    exported = json.loads(cli(scheduler, "export", "nightly").stdout)
    fields = exported["schedules"]["nightly"]
    assert (fields["expect_done_by"], fields["expect_success_within"]) == ("06:00", "1d2h")
    assert (
        cli(scheduler, "schedule", "update", "nightly", "--expect-done-by", "none").exit_code == 0
    )
    fields = json.loads(cli(scheduler, "export", "nightly").stdout)["schedules"]["nightly"]
    assert "expect_done_by" not in fields and fields["expect_success_within"] == "1d2h"
    listed = json.loads(cli(scheduler, "notify", "list", "--json").stdout)
    assert listed == []


def test_a_rule_for_an_unknown_schedule_is_refused_unless_allow_missing(scheduler: str) -> None:
    assert cli(scheduler, "schedule", "add", "hello", "@daily", "--", "true").exit_code == 0
    args = ["notify", "add", "later", "--subject", "ops.alerts", "--schedule", "hello"]
    before = last_seq(scheduler)
    typo = cli(scheduler, *args, "--schedule", "helo")

    assert typo.exit_code == 2, typo.output
    assert typo.stderr.strip() == (
        "error: --schedule: no schedule 'helo' (did you mean 'hello'?); nothing was added "
        "(--allow-missing adds a rule for a schedule still to come)"
    )
    assert last_seq(scheduler) == before
    later = cli(scheduler, *args, "--schedule", "nosuch", "--allow-missing")
    assert later.exit_code == 0 and later.stderr == "", later.output
    known = cli(
        scheduler, "notify", "add", "known", "--subject", "ops.alerts", "--schedule", "hello"
    )
    assert known.exit_code == 0 and known.stderr == "", known.output
    names = [r["name"] for r in json.loads(cli(scheduler, "notify", "list", "--json").stdout)]
    assert {"later", "known"} <= set(names)
