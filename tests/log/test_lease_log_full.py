"""A replica whose lease write was refused for a full log (a real nats-server limited to 1 MB)
clears its log-full alarm when it sees another replica's lease write land after it: it writes
nothing itself while the lease is held, so its `health`/`status` said `log full` for good."""

from __future__ import annotations

import time
from pathlib import Path

import msgspec
import nats

from conftest import fill_storage, require_nats_server
from jetcron.log.errors import STORAGE
from jetcron.log.lease import Holder, KvLease
from jetcron.server import NatsServer


async def test_another_replicas_lease_write_clears_the_alarm(tmp_path: Path) -> None:
    require_nats_server()
    limit = tmp_path / "limit.conf"
    limit.write_text("jetstream { max_file_store: 1MB }\n")
    server = NatsServer(data_dir=tmp_path / "nats", include=limit).start()
    nc = await nats.connect(server.url)
    try:
        lease = KvLease(nc, holder="me", ttl=9)
        await lease.ensure_bucket()
        await lease._publisher.start()  # what run() does first
        await fill_storage(nc)
        await lease._attempt()  # the key is free: our write is refused
        assert not lease.is_leader() and STORAGE.since is not None, lease.error
        await nc.jetstream().delete_stream("FILLER")
        await lease._attempt()  # room again: we take it, and our own write clears the alarm
        assert lease.is_leader() and STORAGE.since is None

        await fill_storage(nc)
        STORAGE.refused(lease.subject, time.time())
        lease._full_at = lease._seq  # as if our renewal at this revision had been refused
        await nc.jetstream().delete_stream("FILLER")
        other = Holder("other", time.time())  # another replica's write (not through us)
        await nc.jetstream().publish(
            lease.subject, msgspec.json.encode(other), headers={"Nats-TTL": "2s"}
        )
        await lease._attempt()
        assert STORAGE.since is None  # it was written after ours was refused: room again
        await lease._publisher.close()
    finally:
        STORAGE.accepted()  # why: one per process: the next test starts with room
        await nc.close()
        server.stop()
