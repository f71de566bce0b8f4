"""jetcron on a 3-node JetStream cluster: an R3 log keeps taking commands when its leader dies."""

from __future__ import annotations

from datetime import UTC, datetime

from jetcron import subjects
from jetcron.connect import ConnectOptions, connect
from jetcron.domain.commands import CreateSchedule
from jetcron.domain.definition import Job, ScheduleDefinition
from jetcron.log.stream import EventLog
from jetcron.scheduler.handler import CommandHandler
from jetcron.server import NatsServer


def create(name: str) -> CreateSchedule:
    definition = ScheduleDefinition(spec="@hourly", job=Job(command=["true"]))
    return CreateSchedule(
        name=name, command_id=f"c-{name}", at=datetime.now(UTC), actor="t", definition=definition
    )


async def test_r3_log_survives_the_loss_of_its_leader(nats_cluster: list[NatsServer]) -> None:
    urls = ",".join(node.url for node in nats_cluster)
    nc = await connect(ConnectOptions(servers=urls), persistent=True)
    log = await EventLog(nc).open(replicas=3)
    handler = CommandHandler(log)
    await handler.handle(create("before"))
    info = await log.js.stream_info(subjects.STREAM)
    assert info.config.num_replicas == 3
    leader = next(n for n in nats_cluster if n.server_name == info.cluster.leader)  # type: ignore[union-attr]
    leader.stop()  # the stream leader goes away; a new one is elected
    await handler.handle(create("after"))  # retried under the same ids until a leader answers
    names = set()
    for name in ("before", "after"):
        events, _ = await log.load(subjects.schedule(name))
        names |= {e.event.name for e in events}  # type: ignore[union-attr]
    assert names == {"before", "after"}
    await log.close()
    await nc.close()
