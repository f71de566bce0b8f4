"""The subject map: every NATS subject jetcron uses, in one place.

Log (stream JETCRON):
  jetcron.sched.<name>              schedule lifecycle, one subject per schedule name (CAS per name)
  jetcron.trigger.<target>          due triggers for one executor target (host, pool or all:<tag>)
  jetcron.fire.<name>               fires that did not become runs (missed, skipped)
  jetcron.cal.<name>                calendar lifecycle (never ages, CAS per name)
  jetcron.run.<name>.<run_id>.<target>.<host>  events of one run written by the executor <host>
                                    that received it on <target> (only that host may publish here)
  jetcron.run.<name>.<run_id>._scheduler       events of one run written by the scheduler
                                    (run.lost, run.cancel_requested)
  jetcron.run.<name>.<run_id>       events of one run, as earlier releases wrote them (read only)
  jetcron.expect.<name>             expectations of a schedule missed and met
  jetcron.notify.<notification>     notification sinks (added, removed; never age)
  jetcron.delivery.<notification>.<seq>  deliveries of one notification for one event
  jetcron.ntest.<notification>      `notify test` requests
  jetcron.host.<executor>           executors going offline and coming back (from heartbeats)
  jetcron.stats.<name>              daily statistics rollups (kept forever, like definitions)
  jetcron.ops.health                operators' acknowledgements of health problems (never age)
Core request/reply (not stored):
  jetcron.cmd.<verb>                commands to the scheduler service (queue group)
  jetcron.cmd.<user>.<verb>         the same, from an authenticated user (the actor recorded)
  jetcron.q.<view>                  queries to the projection service (nats micro `jetcron-query`)
  jetcron.cancel.<run_id>           "stop this run" to whichever executor holds it
KV buckets (JetStream streams KV_<bucket>):
  jetcron_lease / ticker            the ticker leader's lease
  jetcron_executors / <executor>    executor heartbeats
  jetcron_secrets / <target>.<name> job secrets; written by operators, read by that target's executors
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
    f"{PREFIX}.stats.>",
    f"{PREFIX}.cal.>",
    f"{PREFIX}.ops.>",
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
STATS = f"{PREFIX}.stats.>"
HEALTH_ACKS = f"{PREFIX}.ops.health"
"""Where `health --ack` is recorded (one subject: acknowledgements are in log order)."""
AGING = (TRIGGERS, FIRES, RUNS)
"""The log subjects whose events age out under the retention."""
CALENDARS = f"{PREFIX}.cal.>"
COMMANDS = f"{PREFIX}.cmd"
QUERIES = f"{PREFIX}.q"
CANCELS = f"{PREFIX}.cancel"
COMMAND_QUEUE = "jetcron-scheduler"
QUERY_SERVICE = "jetcron-query"

SECRETS_BUCKET = "jetcron_secrets"
"""Job secrets (`--secret-env`), key `<target>.<name>`: only that target's executors read them."""
HOOK_SECRETS_BUCKET = "jetcron_hook_secrets"
"""Webhook signing secrets of notifications, key `<notification>.<id>`: operators put them, only
the scheduler (which delivers) reads them; the log carries `kv:<key>`."""
LEASE_BUCKET = "jetcron_lease"
EXECUTORS_BUCKET = "jetcron_executors"
SNAPSHOT_BUCKET = "jetcron_snapshots"
COMMANDS_BUCKET = "jetcron_commands"
"""Who settled each command sent by request, key `<sender>.<id hash>`: the replica applying it
or the sender that gave up on it (log/withdrawal.py)."""
LEASE_KEY = "ticker"


def token(name: str) -> str:
    """A schedule name or target as one subject token (names may contain dots)."""
    # why: '.' separates subject tokens; '~' is not allowed in names, so the map is reversible.
    return name.replace(".", "~")


def kv_stream(bucket: str) -> str:
    """The JetStream stream behind a KV bucket."""
    return f"KV_{bucket}"


def object_stream(bucket: str) -> str:
    """The stream behind a JetStream object store bucket."""
    return f"OBJ_{bucket}"


KV_API = "$KV"
"""KV bucket keys ($KV.<bucket>.<key>)."""


def kv_key(bucket: str, key: str) -> str:
    """The subject of one key of a KV bucket."""
    return f"{KV_API}.{bucket}.{key}"


def secret_key(target: str, name: str) -> str:
    """The KV subject of a job secret as the executors of `target` read it."""
    return kv_key(SECRETS_BUCKET, f"{token(target)}.{name}")


def hook_secret_key(key: str) -> str:
    """The KV subject of a webhook signing secret (`key` as `kv:<key>` names it)."""
    return kv_key(HOOK_SECRETS_BUCKET, key)


def heartbeat_key(executor: str) -> str:
    """The KV subject of an executor's heartbeat key."""
    return kv_key(EXECUTORS_BUCKET, token(executor))


def heartbeat_name(key_subject: str) -> str:
    """The executor name of a heartbeat key's subject (the inverse of heartbeat_key)."""
    return key_subject.rsplit(".", 1)[-1].replace("~", ".")


def reserved(subject: str) -> bool:
    """A subject jetcron or NATS itself uses (the log, commands, queries, cancels, APIs, inboxes)."""
    own = (*(p.removesuffix(">") for p in LOG_SUBJECTS), f"{COMMANDS}.", f"{QUERIES}.")
    return subject.startswith((*own, f"{CANCELS}.", "$", "_INBOX"))


def cancel(run_id: str) -> str:
    """Where a request to stop one run goes."""
    return f"{CANCELS}.{run_id}"


SERVICE_API = "$SRV"
"""nats micro's discovery subjects ($SRV.PING|INFO|STATS[.<service>[.<id>]])."""
OBJECT_API = "$O"
"""Object store chunks and metadata ($O.<bucket>.C|M.>), e.g. the views' snapshots."""


def service_ping(service: str) -> str:
    """The nats micro discovery subject that every instance of a service answers."""
    return f"{SERVICE_API}.PING.{service}"


def ages(subject: str) -> bool:
    """Whether events on this log subject age out under the retention.

    Definitions (`sched`), notification sinks (`notify`), calendars (`cal`), daily rollups
    (`stats`) and operators' health acknowledgements (`ops`) never do.
    """
    # why: notification sinks and calendars are definitions like schedules: they must outlive
    # any retention; so must a `health --ack`, or the poison events it acknowledged (which carry
    # no TTL: whoever wrote them set none) are listed again once it ages out
    return not subject.startswith(_KEPT)


_KEPT = tuple(f"{PREFIX}.{kind}." for kind in ("sched", "notify", "stats", "cal", "ops"))


def schedule(name: str) -> str:
    """The aggregate subject of a schedule."""
    return f"{PREFIX}.sched.{token(name)}"


def calendar(name: str) -> str:
    """The aggregate subject of a calendar."""
    return f"{PREFIX}.cal.{token(name)}"


def trigger(target: str) -> str:
    """Where triggers for one executor target go."""
    return f"{PREFIX}.trigger.{token(target)}"


def is_trigger(subject: str) -> bool:
    """Whether a log subject holds triggers (signed by the scheduler under auth)."""
    return subject.startswith(f"{PREFIX}.trigger.")


def fire(name: str) -> str:
    """Where a schedule's missed and skipped fires go."""
    return f"{PREFIX}.fire.{token(name)}"


def stats(name: str) -> str:
    """Where a schedule's daily statistics rollups go."""
    return f"{PREFIX}.stats.{token(name)}"


SCHEDULER_WRITER = "_scheduler"
"""The writer token of run events the scheduler appends (no user name starts with '_')."""


def run(name: str, run_id: str) -> str:
    """The subject of one run's events in logs written before writers were named (read only)."""
    return f"{PREFIX}.run.{token(name)}.{run_id}"


def run_by(name: str, run_id: str, target: str, executor: str) -> str:
    """Where the executor `executor` appends events of a run it received on `target`.

    why: the writer is in the subject, so the server's permissions decide who may write it
    (an executor only under its own name and targets) and the folds can check it.
    """
    return f"{run(name, run_id)}.{token(target)}.{token(executor)}"


def run_by_scheduler(name: str, run_id: str) -> str:
    """Where the scheduler appends events of a run (lost, cancel requested)."""
    return f"{run(name, run_id)}.{SCHEDULER_WRITER}"


def run_events(name: str, run_id: str) -> list[str]:
    """Every subject one run's events may be on: the writers' ones, then the unnamed one of older logs."""
    return [f"{run(name, run_id)}.>", run(name, run_id)]


def runs_of(name: str) -> str:
    """Every run event of one schedule, written by anyone, in any release."""
    return f"{PREFIX}.run.{token(name)}.>"


def followed_runs(name: str | None) -> list[str]:
    """The subjects of a schedule's (or every) triggers, fires and run events: what `runs
    follow`, `fires --follow` and the web's /events read (triggers are per target, so all)."""
    if name is None:
        return [TRIGGERS, FIRES, RUNS]
    return [TRIGGERS, fire(name), runs_of(name)]


RunWriter = tuple[str, str]
"""Who wrote a run event, by its subject: (target, executor) for an executor (the target it
received the run on), ("", SCHEDULER_WRITER) for the scheduler, ("", "") for a malformed one."""


def run_writer(subject: str) -> RunWriter | None:
    """The writer a run event's subject names; None for a subject without one (older logs)."""
    # why: called once per run event in the replay hot loop; plain tuples, one split
    parts = subject.split(".")
    count = len(parts)
    if count == 6 and parts[1] == "run":
        target, executor = parts[4], parts[5]
        if "~" in target or "~" in executor:
            return target.replace("~", "."), executor.replace("~", ".")
        return target, executor
    if count == 4 or parts[1] != "run" or parts[0] != PREFIX:
        return None  # why: no executor may publish outside its run subjects; tests use others
    if count == 5 and parts[4] == SCHEDULER_WRITER:
        return "", SCHEDULER_WRITER
    return "", ""  # why: malformed: names nobody, so no fold believes it


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
    """Request subject of a command verb (a client without an identity)."""
    return f"{COMMANDS}.{verb}"


def command_as(user: str, verb: str) -> str:
    """Request subject of a command sent by an authenticated user (`jetcron.cmd.<user>.<verb>`).

    Each user may publish only under its own name, so the subject proves who sent it.
    """
    return f"{COMMANDS}.{token(user)}.{verb}"


def command_sender(subject: str) -> str | None:
    """The user a command subject names (None for `jetcron.cmd.<verb>`)."""
    parts = subject.removeprefix(f"{COMMANDS}.").split(".")
    return parts[0].replace("~", ".") if len(parts) == 2 else None


def query(view: str) -> str:
    """Request subject of a query (the query service's queue group: one replica answers)."""
    return f"{QUERIES}.{view}"


REPLICA_QUERIES = f"{QUERIES}.replica"
"""Each replica of the query service also answers under `<this>.<its nats micro id>.<view>`."""


def replica_query(instance: str, view: str) -> str:
    """Request subject of a query to one replica of the query service (its nats micro id, as
    its discovery PING answer says it)."""
    return f"{REPLICA_QUERIES}.{instance}.{view}"


# For the permissions of the roles (jetcron.auth.roles); JetStream's own API subjects are
# wire details and live in jetcron.log.api.
INBOX_PREFIX = "_INBOX_"
"""Clients with an identity take `_INBOX_<user>` as their inbox prefix: no one reads another's."""


def inbox_prefix(user: str) -> str:
    """The inbox prefix of an authenticated user (its replies arrive under `<prefix>.>`)."""
    return f"{INBOX_PREFIX}{token(user)}"


def pool_consumer(target: str) -> str:
    """The durable shared by every executor of one target (host, pool or tag)."""
    return f"pool-{token(target)}"


def fan_consumer(executor: str, tag: str) -> str:
    """The durable of one executor's fan-out triggers for one tag."""
    return f"fan-{token(executor)}-{token(tag)}"


FAN_PREFIX = "all:"
"""What starts a fan-out target (`all:<tag>`)."""


def fan_target(tag: str) -> str:
    """The target that reaches every executor with `tag`."""
    return f"{FAN_PREFIX}{tag}"
