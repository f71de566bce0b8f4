"""Chaos: SIGKILL random jetcron processes for a while, then check every promise from the log.

    python -m bench.chaos --duration 600 [--seed N] [--outage 30] [--json out.json]

Real processes on this machine: one nats-server (restarted on the same store and port), two
`jetcron serve` replicas and two `jetcron executor`s sharing the default pool. ~15 `@every`
schedules whose shell jobs append `<run id> <attempt> start|end` to a witness file; some jobs
outlive the kill interval (and are retried once), some schedules catch up `all`. Every few
seconds (seeded) one process is SIGKILLed and started again after a short pause, a job's
supervisor among them (not restarted: its executor ends what is left of the job); once, NATS
stays down for `--outage` seconds.
Then the schedules are paused, everything settles, and the report counts:

  doubled_runs        runs whose job ended successfully more than once (witness) or that have
                      more than one run.succeeded event (log)
  lost_fires          nominal fires with neither a trigger nor a missed/skipped/buffered event
  false_skips         fires skipped for overlap with a run whose final event was stored before
                      the skip (the ticker decided on a view behind the log)
  unterminated_runs   triggered runs without a terminal event after settling
  leftover_processes  job processes still alive after everything was stopped
  unexpected_exits    processes that died without being killed (a service that gave up)
All must be 0; the exit status says whether they were. Also counted, not a broken promise:

  unknown_outcomes    runs that ended `run.failed` class `unknown`: a supervisor killed after its
                      job ended, before it recorded the exit status (never run again)
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import nats
import psutil

from jetcron import ids
from jetcron.client import send_command
from jetcron.domain.commands import CreateSchedule, PauseSchedule
from jetcron.domain.definition import CatchUp, Job, RetryPolicy, ScheduleDefinition
from jetcron.domain.events import (
    FireBuffered,
    FireMissed,
    RunFailed,
    RunSkipped,
    RunSucceeded,
    RunTriggered,
    ScheduleCreated,
    SchedulePaused,
)
from jetcron.domain.runs import is_final
from jetcron.log.stream import EventLog
from jetcron.server import NatsServer
from jetcron.serverproc import free_ports

ACK_WAIT_S = 6.0
SETTLE_S = 60.0


class Proc:
    """One restartable process; counts kills and exits nobody asked for."""

    def __init__(self, name: str, argv: list[str], log: Path) -> None:
        self.name, self.argv, self.log = name, argv, log
        self.proc: subprocess.Popen[bytes] | None = None
        self.kills = 0
        self.unexpected_exits: list[str] = []

    def start(self) -> None:
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(
                self.argv, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )

    def check(self) -> None:
        """Note an exit that was not ours, and start it again."""
        if self.proc is not None and self.proc.poll() is not None:
            self.unexpected_exits.append(f"{self.name} exited {self.proc.returncode}")
            self.start()

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        self.kills += 1

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


class Supervisors:
    """The job supervisors of this run's executors: `kill` SIGKILLs one that is running a job.

    Nothing to start again: the executor ends what is left of the job, a retry starts anew.
    """

    def __init__(self, root: Path, rng: random.Random) -> None:
        self.name, self.root, self.rng = "supervisor", str(root), rng
        self.kills = 0
        self.unexpected_exits: list[str] = []

    def kill(self) -> None:
        running = [
            p for p in psutil.process_iter(["cmdline", "create_time"])
            if "supervisor.py" in " ".join(p.info["cmdline"] or []) and self.root in
            " ".join(p.info["cmdline"] or [])
        ]  # fmt: skip
        # why: one that has run a second holds a long job: its orphan would outlive the retry
        running = [p for p in running if p.info["create_time"] < time.time() - 1] or running
        if running:
            with contextlib.suppress(psutil.Error):
                self.rng.choice(running).kill()
                self.kills += 1


def jetcron(*args: str) -> list[str]:
    return [sys.executable, "-m", "jetcron", *args]


def schedules(witness: Path) -> list[tuple[str, ScheduleDefinition]]:
    """~15 schedules: short jobs, jobs longer than the kill interval, some catching up all."""
    out = []
    for i in range(15):
        every = 2 + i % 4
        seconds = 7 if i % 5 == 0 else 0.2
        shell = (
            f'echo "$JETCRON_RUN_ID $JETCRON_ATTEMPT start" >> {witness}; sleep {seconds}; '
            f'echo "$JETCRON_RUN_ID $JETCRON_ATTEMPT end" >> {witness}'
        )
        catchup = CatchUp(policy="all", window_s=120) if i % 3 == 0 else CatchUp()
        # why: a long job whose supervisor is killed is retried: the retry must not run beside
        # what the dead supervisor left (two `end`s of one run would count as doubled).
        retry = RetryPolicy(max_attempts=2, initial_backoff_s=1) if seconds > 1 else RetryPolicy()
        definition = ScheduleDefinition(
            spec=f"@every {every}s", job=Job(shell=shell), catchup=catchup, timeout_s=30,
            retry=retry,
        )  # fmt: skip
        out.append((f"chaos-{i:02d}", definition))
    return out


async def command(url: str, cmd: Any) -> None:
    nc = await nats.connect(url, connect_timeout=2, error_cb=_quiet)
    try:
        for _ in range(60):
            try:
                await send_command(nc, cmd, timeout=3)
                return
            except Exception:  # noqa: BLE001 - a replica may be restarting
                await asyncio.sleep(0.5)
        raise RuntimeError(f"command {cmd} never answered")
    finally:
        await nc.close()


async def _quiet(err: Exception) -> None:
    """nats-py prints connection errors by default; ours are expected here."""


def meta(name: str) -> dict[str, Any]:
    return {"name": name, "command_id": ids.new_id(), "at": datetime.now(UTC), "actor": "chaos"}


class Chaos:
    """The cluster of processes and the run."""

    def __init__(self, root: Path, seed: int) -> None:
        self.root = root
        self.rng = random.Random(seed)
        self.port = free_ports(1)[0]
        self.url = f"nats://127.0.0.1:{self.port}"
        self.witness = root / "witness"
        server = NatsServer(data_dir=root / "store", port=self.port, log_file=root / "nats.log")
        self.nats = Proc("nats-server", server.command(), root / "nats.out")
        self.serves = [
            Proc(f"serve-{i}", jetcron("serve", "-s", self.url, "--instance", f"s{i}",
                                       "--lease-ttl", "2"), root / f"serve-{i}.log")
            for i in range(2)
        ]  # fmt: skip
        self.executors = [
            Proc(f"executor-{i}", jetcron(
                "executor", "--name", f"e{i}", "-s", self.url, "--allow-shell",
                "--journal-dir", str(root / f"journal-{i}"), "--ack-wait", str(ACK_WAIT_S),
                "--drain-timeout", "2"), root / f"executor-{i}.log")
            for i in range(2)
        ]  # fmt: skip
        self.all = [self.nats, *self.serves, *self.executors]
        self.supervisors = Supervisors(root, random.Random(seed + 1))
        self.outage_s = 0.0

    async def run(self, duration: float, outage: float) -> dict[str, Any]:
        (self.root / "store").mkdir(parents=True, exist_ok=True)
        self.nats.start()
        await self._nats_ready()
        for p in [*self.serves, *self.executors]:
            p.start()
        for name, definition in schedules(self.witness):
            await command(self.url, CreateSchedule(**meta(name), definition=definition))
        began = time.monotonic()
        try:
            await self._chaos(began + duration, began + duration / 3, outage)
            for p in self.all:
                p.check()
            await self._nats_ready()
            for name, _ in schedules(self.witness):
                await command(self.url, PauseSchedule(**meta(name)))
            report = await self._settle_and_check()
        finally:
            for p in reversed(self.all):
                p.stop()
        report["leftover_processes"] = leftovers(self.witness)
        report["unexpected_exits"] = [e for p in self.all for e in p.unexpected_exits]
        report["kills"] = {p.name: p.kills for p in [*self.all, self.supervisors]}
        report["outage_s"] = round(self.outage_s, 1)
        report["duration_s"] = duration
        return report

    async def _chaos(self, until: float, outage_at: float, outage: float) -> None:
        victims: list[Proc] = []
        while time.monotonic() < until:
            await asyncio.sleep(self.rng.uniform(2.0, 5.0))
            for p in self.all:
                p.check()
            if outage and time.monotonic() >= outage_at and not self.outage_s:
                self.nats.kill()
                down = time.monotonic()
                await asyncio.sleep(outage)
                self.nats.start()
                self.outage_s = time.monotonic() - down
                continue
            if not victims:
                # why: every kind of process dies in each round, in a seeded random order.
                victims = [self.nats, *self.serves, *self.executors]
                self.rng.shuffle(victims)
                # why: once a round, beside the round's victims, with its own random source,
                # so a seed kills the same services at the same times as without it.
                self.supervisors.kill()
            victim = victims.pop()
            victim.kill()
            # why: an executor must come back inside its orphan window to adopt its jobs;
            # the others may stay away longer.
            await asyncio.sleep(self.rng.uniform(0.3, 1.0 if victim in self.executors else 2.5))
            victim.start()

    async def _nats_ready(self) -> None:
        for _ in range(100):
            try:
                nc = await nats.connect(
                    self.url, connect_timeout=1, allow_reconnect=False, error_cb=_quiet
                )
                await nc.close()
                return
            except Exception:  # noqa: BLE001 - still starting
                await asyncio.sleep(0.1)
        raise RuntimeError("nats-server did not come back")

    async def _settle_and_check(self) -> dict[str, Any]:
        deadline = time.monotonic() + SETTLE_S
        while True:
            log = await read_log(self.url)
            open_runs = unterminated(log)
            if not open_runs or time.monotonic() > deadline:
                break
            await asyncio.sleep(1.0)
        return check(log, self.witness, open_runs)


async def read_log(url: str) -> list[Any]:
    nc = await nats.connect(url, connect_timeout=2, error_cb=_quiet)
    event_log = await EventLog(nc).open(create=False)
    try:
        return [s async for batch in event_log.read() for s in batch]
    finally:
        await event_log.close()
        await nc.close()


def unterminated(log: list[Any]) -> list[str]:
    triggered = {s.envelope.event.run_id for s in log if isinstance(s.envelope.event, RunTriggered)}
    ended = {s.envelope.event.run_id for s in log if is_final(s.envelope.event)}
    return sorted(triggered - ended)


def check(log: list[Any], witness: Path, open_runs: list[str]) -> dict[str, Any]:
    events = [s.envelope for s in log]
    successes = Counter(e.event.run_id for e in events if isinstance(e.event, RunSucceeded))
    ends = Counter(
        line.split()[0] for line in witness.read_text().splitlines() if line.endswith(" end")
    )
    doubled = sorted(
        {r for r, n in successes.items() if n > 1} | {r for r, n in ends.items() if n > 1}
    )
    seen: dict[str, set[datetime]] = {}
    for e in events:
        if (
            isinstance(e.event, RunTriggered)
            and not e.event.manual
            or isinstance(e.event, FireMissed | RunSkipped | FireBuffered)
        ):
            seen.setdefault(e.event.name, set()).add(e.event.fire_time)
    paused = {e.event.name: e.at for e in events if isinstance(e.event, SchedulePaused)}
    # why: a schedule's fires start after its creation was stored (the service's clock).
    born = {e.event.name: e.at for e in events if isinstance(e.event, ScheduleCreated)}
    lost, expected = [], 0
    for name, definition in schedules(witness):
        every = int(definition.spec.split()[1].rstrip("s"))
        for fire in nominal(born[name], paused[name] - timedelta(seconds=1), every):
            expected += 1
            if fire not in seen.get(name, set()):
                lost.append(f"{name}@{fire.isoformat()}")
    runs = {e.event.run_id for e in events if isinstance(e.event, RunTriggered)}
    return {
        "false_skips": false_skips(log),
        "events": len(events),
        "fires_expected": expected,
        "runs": len(runs),
        "runs_succeeded": len(successes),
        "doubled_runs": doubled,
        "unknown_outcomes": sum(
            isinstance(e.event, RunFailed) and e.event.failure_class == "unknown" for e in events
        ),
        "lost_fires": lost,
        "unterminated_runs": open_runs,
    }


FALSE_SKIP_MARGIN_S = 1.0
"""A blocker's end stored this long before the skip was decided: not the ordinary moment a live
reader is behind, but a ticker that decided on a view missing it."""


def false_skips(log: list[Any]) -> list[str]:
    """Overlap skips decided well after their blocking run's final event was stored."""
    ended: dict[str, tuple[int, float]] = {}
    out = []
    for s in log:
        event = s.envelope.event
        if is_final(event):
            ended.setdefault(event.run_id, (s.seq, s.stored_ns / 1e9))
        elif isinstance(event, RunSkipped) and event.blocking_run_id in ended:
            seq, stored = ended[event.blocking_run_id]
            early = s.envelope.at.timestamp() - stored
            if early > FALSE_SKIP_MARGIN_S:
                out.append(f"{event.name}@{event.fire_time.isoformat()} (seq {s.seq}): "
                           f"{event.blocking_run_id} ended {early:.1f}s before (seq {seq})")  # fmt: skip
    return out


def nominal(after: datetime, until: datetime, every: int) -> list[datetime]:
    """Epoch-aligned `@every` fires strictly after `after`, up to `until`."""
    t = (int(after.timestamp()) // every + 1) * every
    out = []
    while t <= until.timestamp():
        out.append(datetime.fromtimestamp(t, UTC))
        t += every
    return out


def leftovers(witness: Path) -> list[int]:
    """Job processes (they mention the witness file) still alive."""
    alive = []
    for p in psutil.process_iter(["pid", "cmdline", "status"]):
        try:
            if p.info["status"] != psutil.STATUS_ZOMBIE and str(witness) in " ".join(
                p.info["cmdline"] or []
            ):
                alive.append(p.info["pid"])
        except psutil.Error:
            continue
    return alive


def failures(report: dict[str, Any]) -> list[str]:
    """The promises the run broke."""
    keys = ("doubled_runs", "lost_fires", "false_skips", "unterminated_runs",
            "leftover_processes", "unexpected_exits")  # fmt: skip
    return [f"{k}: {report[k][:5]}" for k in keys if report[k]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=90.0)
    parser.add_argument("--outage", type=float, default=30.0)
    parser.add_argument("--seed", type=int, default=int(time.time()))
    parser.add_argument("--json", type=Path)
    parser.add_argument(
        "--keep", action="store_true", help="Keep the work dir (logs) also when all went well."
    )
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="jetcron-chaos-"))
    report = asyncio.run(Chaos(root, args.seed).run(args.duration, args.outage))
    report |= {"seed": args.seed, "work_dir": str(root), "ok": not failures(report)}
    if args.json:
        args.json.write_text(json.dumps(report, indent=2, default=str))
    print(f"chaos seed {args.seed}: {args.duration:g}s, kills {report['kills']}, "
          f"outage {report['outage_s']}s")  # fmt: skip
    print(f"  fires expected {report['fires_expected']}, runs {report['runs']}, "
          f"succeeded {report['runs_succeeded']}, unknown outcome "
          f"{report['unknown_outcomes']}")  # fmt: skip
    for line in failures(report) or [
        "  every promise kept: 0 doubled, 0 lost, 0 false skips, 0 open, 0 left"
    ]:
        print(f"  {line}")
    if not args.keep and report["ok"]:
        import shutil

        shutil.rmtree(root, ignore_errors=True)
    sys.exit(0 if report["ok"] else 1)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
