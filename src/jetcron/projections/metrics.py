"""Prometheus metrics of the projection service (prometheus-client)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

from jetcron.domain.envelope import StoredEvent, event_type
from jetcron.domain.events import RunEvent, RunStarted, RunSucceeded, ScheduleDeleted
from jetcron.domain.lateness import lateness_s
from jetcron.domain.notify_events import NotifyDelivered, NotifyFailed
from jetcron.domain.runs import is_final
from jetcron.errors import InvalidInput
from jetcron.projections.state import Views

_FINAL = ("succeeded", "failed", "timed_out", "cancelled", "lost")
"""The statuses of `jetcron_runs` (the final run events' types)."""
_SETTING = {"success_within": "expect_success_within_s", "done_by": "expect_done_by"}


class Metrics:
    """Counters and histograms updated from the events the projection applies."""

    def __init__(self, port: int, host: str = "0.0.0.0") -> None:
        self.port, self.host = port, host
        self.registry = CollectorRegistry()
        r = self.registry
        self.runs = Counter(
            "jetcron_runs",
            "Finished runs by schedule and status",
            ["schedule", "status"],
            registry=r,
        )
        self.duration = Histogram(
            "jetcron_run_duration_seconds",
            "Run duration",
            ["schedule"],
            registry=r,
            buckets=(0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 1800, 3600),
        )
        self.lateness = Histogram(
            "jetcron_run_lateness_seconds",
            "Start minus when the fire was due (nominal fire time plus its jitter)",
            ["schedule"],
            registry=r,
            buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1, 5, 30, 60),
        )
        self.schedules = Gauge("jetcron_schedules", "Schedules by state", ["state"], registry=r)
        self.executors = Gauge(
            "jetcron_executors_online", "Executors with a live heartbeat", registry=r
        )
        self.position = Gauge(
            "jetcron_projection_position", "Last log sequence applied", registry=r
        )
        self.lag = Gauge(
            "jetcron_projection_lag", "Stream last sequence minus applied sequence", registry=r
        )
        self.poison = Gauge(
            "jetcron_poison_events", "Events a projection could not fold", registry=r
        )
        self.expectations = Gauge(
            "jetcron_expectation_missed",
            "1 while a schedule's expectation is missed (until a run succeeds)",
            ["schedule", "kind"],
            registry=r,
        )
        self.notifications = Counter(
            "jetcron_notifications",
            "Notification deliveries by notification and outcome (delivered, failed attempt)",
            ["notification", "outcome"],
            registry=r,
        )

    def start(self) -> None:
        """Serve /metrics on the configured host and port; InvalidInput if it is taken.

        why 0.0.0.0 by default: a Prometheus scrapes a `serve` replica from another host
        (compose publishes its port); `up`, local by design, passes 127.0.0.1 as for its console.
        """
        try:
            start_http_server(self.port, addr=self.host, registry=self.registry)
        except OSError as err:
            raise InvalidInput(
                f"cannot listen on {self.host}:{self.port} (--metrics-port): {err.strerror or err}"
            ) from None

    def observe(self, views: Views, batch: list[StoredEvent]) -> None:
        """Update from one applied batch."""
        deleted: list[str] = []
        for stored in batch:
            event = stored.envelope.event
            if isinstance(event, ScheduleDeleted):
                deleted.append(event.name)
            elif isinstance(event, RunEvent) and is_final(event):
                status = event_type(event).removeprefix("run.")
                self.runs.labels(event.name, status).inc()
                if isinstance(event, RunSucceeded) and event.duration_s is not None:
                    self.duration.labels(event.name).observe(event.duration_s)
            elif isinstance(event, RunStarted) and event.attempt == 1:
                run = views.runs.rows.get(event.run_id)
                if run is not None and run.backfill_of:
                    continue  # why: a backfill is late on purpose (runs.py leaves it out too)
                jitter = run.jitter_s if run is not None else 0.0
                late = lateness_s(stored.envelope.at, event.fire_time, jitter)
                self.lateness.labels(event.name).observe(max(0.0, late))
            elif isinstance(event, NotifyDelivered | NotifyFailed):
                outcome = "delivered" if isinstance(event, NotifyDelivered) else "failed"
                self.notifications.labels(event.name, outcome).inc()
        self._expectations(views)
        self._forget([n for n in deleted if n not in views.schedules.rows])
        counts: dict[str, int] = {}
        for row in views.schedules.rows.values():
            counts[row.state] = counts.get(row.state, 0) + 1
        for state in ("active", "paused", "completed"):
            self.schedules.labels(state).set(counts.get(state, 0))
        self.position.set(views.position)
        self.poison.set(views.poison)

    def _forget(self, names: list[str]) -> None:
        """A deleted schedule's series go (why: one per name ever run grew without bound)."""
        for name in names:
            series: list[tuple[Counter | Histogram, tuple[str, ...]]] = [
                (self.duration, (name,)),
                (self.lateness, (name,)),
            ]
            series += [(self.runs, (name, s)) for s in _FINAL]
            for metric, labels in series:
                try:
                    metric.remove(*labels)
                except KeyError:
                    continue  # why: a status it never had

    def _expectations(self, views: Views) -> None:
        self.expectations.clear()  # why: a met expectation (or deleted schedule) must drop to absent
        for row in views.schedules.rows.values():
            for kind in ("success_within", "done_by"):
                if kind in row.expectations:
                    self.expectations.labels(row.name, kind).set(1)
                elif getattr(row.definition, _SETTING[kind]) is not None:
                    self.expectations.labels(row.name, kind).set(0)

    def set_lag(self, last_seq: int, position: int, executors: int) -> None:
        """Gauges that need a NATS round trip."""
        self.lag.set(max(0, last_seq - position))
        self.executors.set(executors)
