"""The subject map: every NATS subject jetcron uses, in one place.

Log (stream JETCRON):
  jetcron.sched.<name>              schedule lifecycle, one subject per schedule name (CAS per name)
  jetcron.trigger.<target>          due triggers for one executor target (host, pool or all:<tag>)
  jetcron.fire.<name>               fires that did not become runs (missed, skipped)
  jetcron.run.<name>.<run_id>       events of one run
  jetcron.expect.<name>             expectations of a schedule missed and met
  jetcron.notify.<notification>     notification sinks (added, removed; never age)
  jetcron.delivery.<notification>.<seq>  deliveries of one notification for one event
  jetcron.ntest.<notification>      `notify test` requests
  jetcron.host.<executor>           executors going offline and coming back (from heartbeats)
Core request/reply (not stored):
  jetcron.cmd.<verb>                commands to the scheduler service (queue group)
  jetcron.q.<view>                  queries to the projection service (nats micro `jetcron-query`)
  jetcron.cancel.<run_id>           "stop this run" to whichever executor holds it
KV buckets (JetStream streams KV_<bucket>):
  jetcron_lease / ticker            the ticker leader's lease
  jetcron_executors / <executor>    executor heartbeats
"""

from __future__ import annotations

STREAM = "JETCRON"
PREFIX = "jetcron"
LOG_SUBJECTS = [
    f"{PREFIX}.sched.>",
    f"{PREFIX}.trigger.>",
    f"{PREFIX}.fire.>",
    f"{PREFIX}.run.>",
    f"{PREFIX}.expect.>",
    f"{PREFIX}.notify.>",
    f"{PREFIX}.delivery.>",
    f"{PREFIX}.ntest.>",
    f"{PREFIX}.host.>",
]
SCHEDULES = f"{PREFIX}.sched.>"
TRIGGERS = f"{PREFIX}.trigger.>"
FIRES = f"{PREFIX}.fire.>"
RUNS = f"{PREFIX}.run.>"
EXPECTATIONS = f"{PREFIX}.expect.>"
NOTIFICATIONS = f"{PREFIX}.notify.>"
DELIVERIES = f"{PREFIX}.delivery.>"
NOTIFY_TESTS = f"{PREFIX}.ntest.>"
HOSTS = f"{PREFIX}.host.>"
NOTIFY_CONSUMER = "jetcron-notify"
"""The durable consumer through which the leader delivers notifications."""
COMMANDS = f"{PREFIX}.cmd"
QUERIES = f"{PREFIX}.q"
CANCELS = f"{PREFIX}.cancel"
COMMAND_QUEUE = "jetcron-scheduler"
QUERY_SERVICE = "jetcron-query"

LEASE_BUCKET = "jetcron_lease"
EXECUTORS_BUCKET = "jetcron_executors"
SNAPSHOT_BUCKET = "jetcron_snapshots"
LEASE_KEY = "ticker"


def token(name: str) -> str:
    """A schedule name or target as one subject token (names may contain dots)."""
    # why: '.' separates subject tokens; '~' is not allowed in names, so the map is reversible.
    return name.replace(".", "~")


def kv_stream(bucket: str) -> str:
    """The JetStream stream behind a KV bucket."""
    return f"KV_{bucket}"


def kv_key(bucket: str, key: str) -> str:
    """The subject of one key of a KV bucket."""
    return f"$KV.{bucket}.{key}"


def heartbeat_key(executor: str) -> str:
    """The KV subject of an executor's heartbeat key."""
    return kv_key(EXECUTORS_BUCKET, token(executor))


def cancel(run_id: str) -> str:
    """Where a request to stop one run goes."""
    return f"{CANCELS}.{run_id}"


def service_ping(service: str) -> str:
    """The nats micro discovery subject that every instance of a service answers."""
    return f"$SRV.PING.{service}"


def ages(subject: str) -> bool:
    """Whether events on this log subject age out under the retention (definitions never do)."""
    # why: notification sinks are definitions like schedules: they must outlive any retention
    return not subject.startswith((f"{PREFIX}.sched.", f"{PREFIX}.notify."))


def schedule(name: str) -> str:
    """The aggregate subject of a schedule."""
    return f"{PREFIX}.sched.{token(name)}"


def trigger(target: str) -> str:
    """Where triggers for one executor target go."""
    return f"{PREFIX}.trigger.{token(target)}"


def fire(name: str) -> str:
    """Where a schedule's missed and skipped fires go."""
    return f"{PREFIX}.fire.{token(name)}"


def run(name: str, run_id: str) -> str:
    """The subject of one run's events."""
    return f"{PREFIX}.run.{token(name)}.{run_id}"


def expectation(name: str) -> str:
    """Where a schedule's expectation.missed / expectation.met events go."""
    return f"{PREFIX}.expect.{token(name)}"


def notification(name: str) -> str:
    """The aggregate subject of a notification sink."""
    return f"{PREFIX}.notify.{token(name)}"


def delivery(name: str, seq: int) -> str:
    """The ledger of one notification's delivery of the event at `seq`."""
    return f"{PREFIX}.delivery.{token(name)}.{seq}"


def notify_test(name: str) -> str:
    """Where `jetcron notify test NAME` asks the leader to send a test message."""
    return f"{PREFIX}.ntest.{token(name)}"


def host(executor: str) -> str:
    """Where an executor's executor.offline / executor.online events go."""
    return f"{PREFIX}.host.{token(executor)}"


def command(verb: str) -> str:
    """Request subject of a command verb."""
    return f"{COMMANDS}.{verb}"


def query(view: str) -> str:
    """Request subject of a query."""
    return f"{QUERIES}.{view}"
