"""Resource-aware admission: a pure verdict over a host sample, and the psutil sampler.

`evaluate(conditions, sample)` decides; `HostSampler.sample()` measures (blocking: call it
through `asyncio.to_thread`). The verdict's `pressure` in [0, 1] says how far over its
thresholds the host is, and stretches the deferral backoff (`defer_delay`).
"""

from __future__ import annotations

import os
import threading
import time
from typing import Any

import msgspec
import psutil

from jetcron.domain.definition import Conditions

IDLE_CPU_PERCENT = 10.0
"""The host counts as idle while its CPU use stays below this."""
DEFER_GROWTH = 1.5
MAX_DEFER_DELAY_S = 300.0
MIN_CPU_WINDOW_S = 0.1
DEFAULT_DISK_PATH = "/"


class HostSample(msgspec.Struct, frozen=True, kw_only=True):
    """One reading of the host."""

    cpu_percent: float
    """CPU use since the previous sample (at least MIN_CPU_WINDOW_S)."""
    memory_percent: float
    load_per_core: float
    """1-minute load average divided by the number of cores."""
    disk_percent: float | None = None
    """Use of the conditions' disk_path, when asked for."""
    idle_s: float = 0.0
    """How long the CPU has stayed below IDLE_CPU_PERCENT, as far as we have watched."""


class Verdict(msgspec.Struct, frozen=True):
    """Admit or not; `reason` names the thresholds crossed, `pressure` how far (0..1)."""

    ok: bool
    reason: str = ""
    pressure: float = 0.0


def evaluate(conditions: Conditions, sample: HostSample) -> Verdict:
    """The admission verdict for a run with these conditions on a host in this state."""
    c, s = conditions, sample
    failing = [
        f
        for f in (
            _above("cpu", s.cpu_percent, c.max_cpu_percent, 100.0),
            _above("memory", s.memory_percent, c.max_memory_percent, 100.0),
            _above("load", s.load_per_core, c.max_load, 2 * (c.max_load or 0.0)),
            _disk_not_full(s.disk_percent, c.disk_above_percent),
            _above("disk", s.disk_percent, c.disk_below_percent, 100.0),
            _not_idle(s.idle_s, c.idle_minutes),
        )
        if f is not None
    ]
    if not failing:
        return Verdict(ok=True)
    return Verdict(
        ok=False,
        reason="; ".join(reason for reason, _ in failing),
        pressure=max(pressure for _, pressure in failing),
    )


def _clamp(x: float) -> float:
    return min(1.0, max(0.0, x))


def _above(
    what: str, value: float | None, limit: float | None, full: float
) -> tuple[str, float] | None:
    """A failing check if `value` exceeds `limit`; pressure reaches 1 at `full`."""
    if limit is None or value is None or value <= limit:
        return None
    span = full - limit
    pressure = 1.0 if span <= 0 else _clamp((value - limit) / span)
    return f"{what} {value:.1f} > {limit:g}", pressure


def _disk_not_full(value: float | None, above: float | None) -> tuple[str, float] | None:
    """disk_above_percent: the run waits until the disk is fuller than the threshold."""
    if above is None or value is None or value > above:
        return None
    pressure = 1.0 if above <= 0 else _clamp((above - value) / above)
    return f"disk {value:.1f} <= {above:g} (waiting until fuller)", pressure


def _not_idle(idle_s: float, minutes: float | None) -> tuple[str, float] | None:
    """idle_minutes: the run waits until the host has been idle long enough."""
    if minutes is None:
        return None
    need = minutes * 60.0
    if idle_s >= need:
        return None
    return f"idle {idle_s / 60:.1f} min < {minutes:g} min", _clamp(
        (need - idle_s) / need
    ) if need else 0.0


def defer_delay(
    base_s: float, pressure: float, deferrals: int, *, cap: float = MAX_DEFER_DELAY_S
) -> float:
    """Seconds before the next admission check: base × (1 + pressure) × 1.5^deferrals, capped."""
    try:
        delay = base_s * (1.0 + _clamp(pressure)) * DEFER_GROWTH**deferrals
    except OverflowError:
        return cap
    return min(delay, cap)


# -- the sampler (I/O) ---------------------------------------------------------------------------


class IdleTracker:
    """Remembers since when the CPU has stayed below IDLE_CPU_PERCENT."""

    def __init__(self) -> None:
        self._since: float | None = None
        self._last: float | None = None

    def observe(self, at: float, cpu_percent: float) -> None:
        """Record a CPU reading that covers the time since the previous one."""
        if cpu_percent >= IDLE_CPU_PERCENT:
            self._since = None
        elif self._since is None:
            # why: the reading covers the window since the previous observation, so the
            # idle streak began at its start (or now, for the very first reading).
            self._since = self._last if self._last is not None else at
        self._last = at

    def idle_s(self, at: float) -> float:
        """Seconds of the current idle streak."""
        return 0.0 if self._since is None else max(0.0, at - self._since)


class HostSampler:
    """psutil readings of this host; blocking, thread-safe (use asyncio.to_thread)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._times = psutil.cpu_times()
        self._at = time.monotonic()
        self.idle = IdleTracker()

    def cpu_percent(self) -> float:
        """Host CPU use since the previous call, over at least MIN_CPU_WINDOW_S."""
        # why: psutil.cpu_percent(None) keeps its state per thread, and to_thread hops threads.
        with self._lock:
            wait = MIN_CPU_WINDOW_S - (time.monotonic() - self._at)
            if wait > 0:
                time.sleep(wait)
            times, at = psutil.cpu_times(), time.monotonic()
            percent = busy_percent(self._times, times)
            self._times, self._at = times, at
            self.idle.observe(at, percent)
        return percent

    def sample(self, disk_path: str | None = None) -> HostSample:
        """A full reading; the disk only when a path is given."""
        cpu = self.cpu_percent()
        disk = psutil.disk_usage(disk_path).percent if disk_path else None
        return HostSample(
            cpu_percent=cpu,
            memory_percent=psutil.virtual_memory().percent,
            load_per_core=load_per_core(),
            disk_percent=disk,
            idle_s=self.idle.idle_s(time.monotonic()),
        )

    def sample_for(self, conditions: Conditions) -> HostSample:
        """A reading with the disk the conditions look at."""
        wants_disk = (
            conditions.disk_above_percent is not None or conditions.disk_below_percent is not None
        )
        path = (conditions.disk_path or DEFAULT_DISK_PATH) if wants_disk else None
        return self.sample(path)


def busy_percent(before: Any, after: Any) -> float:
    """CPU busy share between two psutil.cpu_times() readings, in percent."""
    total = _total(after) - _total(before)
    idle = _idle(after) - _idle(before)
    if total <= 0:
        return 0.0
    return round(100.0 * _clamp((total - idle) / total), 1)


def _total(t: Any) -> float:
    # why: guest time is already counted in user time on Linux (psutil does the same).
    fields: dict[str, float] = t._asdict()
    return float(sum(fields.values()) - fields.get("guest", 0.0) - fields.get("guest_nice", 0.0))


def _idle(t: Any) -> float:
    return float(getattr(t, "idle", 0.0) + getattr(t, "iowait", 0.0))


def load_per_core() -> float:
    """The 1-minute load average per core (0 where the OS has none)."""
    try:
        load = os.getloadavg()[0]
    except (AttributeError, OSError):
        return 0.0
    return round(load / (psutil.cpu_count() or 1), 3)
