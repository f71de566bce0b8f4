"""The NATS node an executor is connected to hangs: no two copies of its run (newcomer17b #1, #6).

A real 3-node JetStream cluster (R3 log), two real `jetcron executor` processes in one pool,
each given a different node (they learn the others from the cluster). The node of the
executor holding a run is SIGSTOPped for longer than the ack-wait, then SIGCONTed. Before,
the executor noticed only after ~30-34 s, and then picked the hung node again, so a peer
received the trigger at ack-wait and ran attempt 2 beside attempt 1. Now the executor leaves
the hung node within 4-6 s and renews its trigger from another one; if it could not, its job
would be stopped before the trigger could be redelivered. Either way: no overlap.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from test_agent import events, publish, trigger
from test_freeze import JOB, Witness

from jetcron.connect import ConnectOptions, connect
from jetcron.domain.definition import Job
from jetcron.domain.events import RunSucceeded
from jetcron.log import heartbeats
from jetcron.log.stream import EventLog
from jetcron.server import NatsServer
from polling import until

SRC = Path(__file__).resolve().parents[2] / "src"
ACK_WAIT = 20.0
"""Short, so the test is quick; long enough for a failover (4-6 s) plus a consumer leader
election (a few seconds) before the hold lapses (1/3) and the supervisor acts (0.3 more)."""
FREEZE_S = 2 * ACK_WAIT + 5.0
"""Past the peer's takeover: redelivery at ack-wait, then its hold-off on the holder's heartbeat."""


@pytest.fixture
async def cluster_log(nats_cluster: list[NatsServer]) -> AsyncIterator[EventLog]:
    urls = ",".join(node.url for node in nats_cluster)
    nc = await connect(ConnectOptions(servers=urls), persistent=True)
    log = await EventLog(nc).open(replicas=3)
    # why R3 (as `serve --replicas 3` makes it): an R1 heartbeat bucket on the frozen node would
    # stall the peer's hold-off, hiding the takeover this test is about (newcomer17b #4)
    config = dataclasses.replace(heartbeats.BUCKET_CONFIG, replicas=3)
    await nc.jetstream().create_key_value(config)
    yield log
    await log.close()
    await nc.close()


@pytest.fixture
def pool(
    nats_cluster: list[NatsServer], cluster_log: EventLog, tmp_path: Path
) -> Iterator[dict[str, tuple[subprocess.Popen[bytes], NatsServer]]]:
    """Executor name -> (its process, the node it was given)."""
    procs: dict[str, tuple[subprocess.Popen[bytes], NatsServer]] = {}
    env = {**os.environ, "PYTHONPATH": str(SRC), "JETCRON_LOG_LEVEL": "INFO"}
    for name, node in (("hg-a", nats_cluster[0]), ("hg-b", nats_cluster[1])):
        cmd = [sys.executable, "-m", "jetcron", "executor", "--name", name, "--target", "hgpool",
               "--ack-wait", str(ACK_WAIT), "--journal-dir", str(tmp_path / name), "-s", node.url]  # fmt: skip
        with open(tmp_path / f"{name}.log", "wb") as log:
            proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
        procs[name] = (proc, node)
    yield procs
    for node in nats_cluster:
        with contextlib.suppress(OSError):
            os.kill(node.pid or 0, signal.SIGCONT)
    for proc, _ in procs.values():
        proc.send_signal(signal.SIGTERM)
    for proc, _ in procs.values():
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


async def test_a_hung_node_under_the_holder_never_doubles_its_run(
    cluster_log: EventLog,
    pool: dict[str, tuple[subprocess.Popen[bytes], NatsServer]],
    tmp_path: Path,
) -> None:
    witness = Witness(tmp_path / "witness")
    logs = {name: tmp_path / f"{name}.log" for name in pool}
    await until(lambda: all("serving" in p.read_text() for p in logs.values()), 30, "startup")
    job = Job(command=[sys.executable, "-c", JOB, str(witness.path), str(FREEZE_S + 5)])
    t = trigger(job, target="hgpool", timeout_s=300.0)
    await publish(cluster_log, t)
    await until(lambda: witness.has("START", "1"), 20, "attempt 1 started")
    holder = witness.one("START", "1")[2]
    node = pool[holder][1]
    assert node.pid is not None
    os.kill(node.pid, signal.SIGSTOP)  # the holder's node hangs; the two others are fine
    froze = time.time()
    try:
        await until(lambda: time.time() - froze > FREEZE_S, FREEZE_S + 5, "the freeze")
    finally:
        os.kill(node.pid, signal.SIGCONT)
    await until(lambda: witness.has("END", "1"), 30, "attempt 1 ended")
    if witness.has("START", "2"):
        await until(lambda: witness.has("END", "2"), 30, "attempt 2 ended")

    text = logs[holder].read_text()
    moved = re.findall(r"reachable again at (\S+) after ([0-9.]+)s", text)
    print(f"froze {froze:.3f}; witness {witness.lines()}; moved {moved}")  # noqa: T201
    assert not [r for r in witness.lines() if r[0].startswith("OVERLAP")], witness.lines()
    if witness.has("START", "2"):
        assert witness.one("END", "1")[4] < witness.one("START", "2")[4], witness.lines()
    assert moved and moved[0][0] != node.url, f"{holder} did not leave the hung node: {text}"
    assert float(moved[0][1]) < ACK_WAIT / 2, "noticed the hang too late"

    async def settled() -> bool:
        return any(isinstance(e, RunSucceeded) for e in await events(cluster_log, t))

    await until(settled, 30)
