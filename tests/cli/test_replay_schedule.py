"""`jetcron replay --as-of T NAME` against a real nats-server: one schedule as it was at T
(its definition, who changed it last), deleted by then, or not created yet (nc21b #6)."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime

import nats
import pytest
from typer.testing import CliRunner

from jetcron.cli.main import app
from jetcron.domain.commands import CreateSchedule, DeleteSchedule, UpdateSchedule
from jetcron.domain.definition import DefinitionPatch, Job, ScheduleDefinition
from jetcron.log.stream import EventLog
from jetcron.scheduler.handler import CommandHandler

T0 = datetime(2026, 3, 3, 12, 0, tzinfo=UTC)
DEFINITION = ScheduleDefinition(spec="*/5 * * * *", job=Job(command=["true"]))


async def _moment() -> str:
    await asyncio.sleep(0.05)
    when = datetime.now(UTC).isoformat()
    await asyncio.sleep(0.05)
    return when


async def history(url: str) -> list[str]:
    """`a` created by ann, updated by bob, deleted by cy, created again by dee; the instants
    before the creation, after the update, after the deletion."""
    nc = await nats.connect(url)
    event_log = await EventLog(nc).open()
    try:
        h = CommandHandler(event_log)
        at = [await _moment()]
        await h.handle(
            CreateSchedule(name="a", command_id="c", at=T0, actor="ann", definition=DEFINITION)
        )
        patch = DefinitionPatch(spec="*/10 * * * *")
        await h.handle(
            UpdateSchedule(
                name="a", command_id="u", at=T0, actor="bob", patch=patch, reason="calmer"
            )
        )
        at.append(await _moment())
        await h.handle(DeleteSchedule(name="a", command_id="d", at=T0, actor="cy", reason="gone"))
        at.append(await _moment())
        await h.handle(
            CreateSchedule(name="a", command_id="c2", at=T0, actor="dee", definition=DEFINITION)
        )
        # another schedule's events are not read
        await h.handle(
            CreateSchedule(name="b", command_id="b", at=T0, actor="eve", definition=DEFINITION)
        )
    finally:
        await event_log.close()
        await nc.close()
    return at


def _replay(url: str, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["replay", *args, "--server", url])
    return result.exit_code, result.stdout, result.stderr


def test_one_schedule_as_it_was_deleted_or_not_yet_created(nats_url: str) -> None:
    before, updated, deleted = asyncio.run(history(nats_url))

    rc, live, _ = _replay(nats_url, "a", "--as-of", updated)
    rc_gone, gone, _ = _replay(nats_url, "a", "--as-of", deleted)
    rc_new, new, _ = _replay(nats_url, "a", "--as-of", before)
    rc_json, data, _ = _replay(nats_url, "a", "--as-of", updated, "--json")

    assert (rc, rc_gone, rc_new, rc_json) == (0, 0, 0, 0), live + gone + new
    shown = live.splitlines()
    assert shown[0].startswith("a as of ") and shown[1].startswith("a  active  v2  id ")
    assert "  spec         */10 * * * *" in shown  # as `schedule show` prints it
    assert any(s.startswith("  updated") and s.endswith(" by bob") for s in shown), live
    assert shown[-1].startswith("  last change  updated at ") and "by bob (calmer)" in shown[-1]
    told = gone.splitlines()
    assert told[0].startswith("a as of ") and ": deleted at " in told[0]
    assert told[0].endswith(" by cy (gone)  (seq 3)")
    assert told[1].startswith("  created again at ") and told[1].endswith(" by dee  (seq 4)")
    assert new.splitlines()[0].endswith(": not created yet")
    assert new.splitlines()[1].startswith("  created at ") and "by ann" in new
    answer = json.loads(data)
    assert (answer["state"], answer["schedule"]["definition"]["spec"]) == ("active", "*/10 * * * *")
    assert answer["last_change"]["by"] == "bob"


@pytest.mark.parametrize(
    ("args", "said"),
    [
        pytest.param(["a b"], "invalid schedule name 'a b'", id="bad-name"),
        pytest.param(["zzz"], "no schedule 'zzz' in the log (never created)", id="unknown"),
        pytest.param(["a", "--as-of", "banana"], "--as-of: ", id="bad-time"),
        pytest.param(["a", "--verify"], "drop NAME", id="verify"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(nats_url: str, args: list[str], said: str) -> None:
    asyncio.run(history(nats_url))

    rc, out, err = _replay(nats_url, *args)

    assert rc == 2, out + err
    assert said in err and len(err.strip().splitlines()) == 1, err
