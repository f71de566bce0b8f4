"""Executors run only triggers signed by the scheduler's nkey (checked before the job runs)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from secured import Secured, secured_server

from conftest import require_nats_server
from jetcron import ids, subjects
from jetcron.auth import identity
from jetcron.domain.definition import Job
from jetcron.domain.envelope import Envelope
from jetcron.domain.events import RunFailed, RunTriggered
from jetcron.executors.agent import Executor, ExecutorConfig
from jetcron.log.signing import Signer
from jetcron.log.stream import EventLog


@pytest.fixture
def sec(tmp_path: Path) -> Iterator[Secured]:
    require_nats_server()
    with secured_server(tmp_path) as s:
        yield s


def a_trigger(marker: Path) -> RunTriggered:
    fire_id = f"job:v1:{ids.new_id()}"
    return RunTriggered(
        schedule_id="sid-job", name="job", fire_id=fire_id, fire_time=datetime.now(UTC),
        run_id=ids.run_id_for(fire_id), version=1, target="host-a",
        job=Job(command=["touch", str(marker)]), timeout_s=10.0,
    )  # fmt: skip


def signer_of(sec: Secured, user: str) -> Signer:
    seed = identity.read(sec.creds(user)).seed
    assert seed is not None
    return Signer(seed)


async def test_only_triggers_signed_by_the_scheduler_run(sec: Secured, tmp_path: Path) -> None:
    admin = await sec.client("admin")
    scheduler = signer_of(sec, "scheduler")
    logs = {
        "unsigned": await EventLog(admin).open(create=True),
        "signed by alice": await EventLog(admin, signer=signer_of(sec, "alice")).open(create=False),
        "signed by the scheduler": await EventLog(admin, signer=scheduler).open(create=False),
    }
    triggers = {how: a_trigger(tmp_path / how.replace(" ", "-")) for how in logs}
    for how, event_log in logs.items():
        t = triggers[how]
        envelope = Envelope(id=ids.new_id(), at=datetime.now(UTC), actor="test", event=t)
        await event_log.publish(subjects.trigger("host-a"), envelope, msg_id=t.fire_id)
    host = await sec.client("host-a")
    config = ExecutorConfig(
        name="host-a", targets=["host-a"], trusted_schedulers=[scheduler.public_key],
        journal_dir=str(tmp_path / "journal"), heartbeat_s=1.0,
    )  # fmt: skip
    await Executor(host, config).run_burst(10)
    outcome = {}
    for how, t in triggers.items():
        stored, _ = await logs["unsigned"].load_run(t.name, t.run_id)
        outcome[how] = (
            [type(s.event).__name__ for s in stored],
            (tmp_path / how.replace(" ", "-")).exists(),
        )
        if stored and isinstance(stored[-1].event, RunFailed):
            assert stored[-1].event.error.startswith("not run: the trigger is")
    assert outcome == {
        "unsigned": (["RunFailed"], False),
        "signed by alice": (["RunFailed"], False),
        "signed by the scheduler": (["RunStarted", "RunSucceeded"], True),
    }
    for event_log in logs.values():
        await event_log.close()
    await host.close()
    await admin.close()
