"""Mergeable run statistics: counts by status and durations/lateness in fixed log-scale buckets.

A `Digest` summarises any set of finished runs (a schedule's day, a week, a fleet); two
digests merge by adding, so daily rollups kept forever answer `stats` over any span of days.
Percentiles come from the buckets: each bucket is 2^(1/4) wide (~19 %), and a percentile is
reported as the upper bound of the bucket that holds it, so it is never below the true value
and at most ~19 % above it.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Iterable
from datetime import datetime

import msgspec

BUCKET_FLOOR_S = 0.001
"""Bucket 0 holds every value up to 1 ms (zero and negative lateness included)."""
BUCKETS_PER_DOUBLING = 4
MAX_BUCKET = 120
"""1 ms × 2^(120/4) ≈ 12 days: longer values land in the last bucket."""
FAILED = frozenset({"failed", "timed_out", "lost"})
"""Final statuses that count as a failed run (as in the runs view)."""
TIMED = frozenset({"succeeded", "failed", "timed_out"})
"""Final statuses whose duration is a job duration (cancel and lost are not)."""


class Digest(msgspec.Struct, kw_only=True, omit_defaults=True, gc=False):
    """Statistics of a set of final runs; merge by `merge`, read by `percentile`."""

    by_status: dict[str, int] = {}
    durations: dict[int, int] = {}
    """Bucket index -> runs whose duration falls in it (succeeded, failed, timed out)."""
    lateness: dict[int, int] = {}
    """Bucket index -> runs whose first start was that late."""
    duration_max: float | None = None
    last_success: datetime | None = None
    last_failure: datetime | None = None


_ENCODER = msgspec.msgpack.Encoder()
_DECODER = msgspec.msgpack.Decoder(Digest)


def pack(d: Digest) -> bytes:
    """The digest as compact bytes (msgpack): ~160 B where the objects take ~820 B."""
    return _ENCODER.encode(d)


def unpack(data: bytes) -> Digest:
    """The digest `pack` made."""
    return _DECODER.decode(data)


def bucket(value: float) -> int:
    """The bucket of a value in seconds: 0 up to 1 ms, then one per 2^(1/4) step, capped."""
    if value <= BUCKET_FLOOR_S:
        return 0
    # why: a bisect over the bounds is ~3x cheaper than the logarithm (twice per run folded);
    # within a hair of a bound the formula's own rounding decides, so the answer is the same
    i = bisect_left(_BOUNDS, value)
    if _CLEAR_ABOVE[i] < value < _CLEAR_BELOW[i]:
        return i
    return _bucket_by_log(value)


def day_of(at: datetime) -> str:
    """`at`'s calendar day as `YYYY-MM-DD`, in its own zone (UTC for every time in an event)."""
    ordinal = at.toordinal()
    day = _DAYS.get(ordinal)
    if day is None:
        if len(_DAYS) >= _DAYS_HELD:
            _DAYS.clear()
        day = _DAYS[ordinal] = at.date().isoformat()
    return day


_DAYS: dict[int, str] = {}
"""Day ordinal -> `YYYY-MM-DD` (day_of). why: isoformat formats through PyUnicode_FromFormat,
~4x a dict lookup, and a fold asks once per run folded, nearly always for the same few days."""
_DAYS_HELD = 4096


def _bucket_by_log(value: float) -> int:
    index = math.ceil(BUCKETS_PER_DOUBLING * math.log2(value / BUCKET_FLOOR_S) - 1e-9)
    return min(max(index, 1), MAX_BUCKET)


def upper_bound(index: int) -> float:
    """The largest value bucket `index` holds (seconds)."""
    return float(BUCKET_FLOOR_S * 2.0 ** (index / BUCKETS_PER_DOUBLING))


_BOUNDS = [upper_bound(i) for i in range(MAX_BUCKET + 1)]
_NEAR_ABOVE, _NEAR_BELOW = 1 + 1e-8, 1 - 1e-8
"""Values this close (relative) to a bound are bucketed by the formula itself."""
_CLEAR_ABOVE = [math.inf] + [b * _NEAR_ABOVE for b in _BOUNDS]
_CLEAR_BELOW = [-math.inf] + [b * _NEAR_BELOW for b in _BOUNDS[1:]] + [-math.inf]
"""Per bisect index i: bucket i holds what lies clearly between these (index 0 and past the
last bound hold nothing, so the formula decides them). why: products made once, not per value."""


def percentile(buckets: dict[int, int], p: float) -> float | None:
    """The nearest-rank percentile as its bucket's upper bound; None if there are no values."""
    total = sum(buckets.values())
    if not total:
        return None
    rank = max(1, math.ceil(p / 100.0 * total))
    seen = 0
    for index in sorted(buckets):
        seen += buckets[index]
        if seen >= rank:
            return upper_bound(index)
    return upper_bound(max(buckets))  # pragma: no cover - the loop always reaches rank


def add_run(
    digest: Digest,
    status: str,
    duration_s: float | None = None,
    lateness_s: float | None = None,
    finished_at: datetime | None = None,
) -> None:
    """Count one final run into the digest."""
    duration_i = bucket(duration_s) if duration_s is not None and status in TIMED else None
    lateness_i = bucket(lateness_s) if lateness_s is not None else None
    add_bucketed(digest, status, duration_i, lateness_i, duration_s, finished_at)


def add_bucketed(
    digest: Digest,
    status: str,
    duration_i: int | None,
    lateness_i: int | None,
    duration_s: float | None,
    finished_at: datetime | None,
) -> None:
    """add_run with the buckets already found (`duration_i` None unless status is TIMED)."""
    by_status = digest.by_status
    by_status[status] = by_status.get(status, 0) + 1
    if duration_i is not None:
        digest.durations[duration_i] = digest.durations.get(duration_i, 0) + 1
        if digest.duration_max is None or duration_s > digest.duration_max:  # type: ignore[operator]
            digest.duration_max = duration_s
    if lateness_i is not None:
        digest.lateness[lateness_i] = digest.lateness.get(lateness_i, 0) + 1
    # why: _later inline, and no store when the latest stays: once per run folded
    if finished_at is not None:
        if status == "succeeded":
            if digest.last_success is None or finished_at > digest.last_success:
                digest.last_success = finished_at
        elif status in FAILED:
            if digest.last_failure is None or finished_at > digest.last_failure:
                digest.last_failure = finished_at


def merge(digests: Iterable[Digest], into: Digest | None = None) -> Digest:
    """One digest of all: counts and buckets added, maxima and latest times kept (`into`: added
    to that one, which is returned; why: a large total grows without a copy per merge)."""
    out = Digest() if into is None else into
    for d in digests:
        for status, n in d.by_status.items():
            out.by_status[status] = out.by_status.get(status, 0) + n
        for index, n in d.durations.items():
            _count(out.durations, index, n)
        for index, n in d.lateness.items():
            _count(out.lateness, index, n)
        if d.duration_max is not None and (
            out.duration_max is None or d.duration_max > out.duration_max
        ):
            out.duration_max = d.duration_max
        out.last_success = _later(out.last_success, d.last_success)
        out.last_failure = _later(out.last_failure, d.last_failure)
    return out


def _count(buckets: dict[int, int], index: int, n: int = 1) -> None:
    buckets[index] = buckets.get(index, 0) + n


def _later(a: datetime | None, b: datetime | None) -> datetime | None:
    if a is None:
        return b
    return a if b is None or a >= b else b
