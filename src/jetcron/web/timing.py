"""Fire times as the console shows them: UTC, local wall time in the zone, DST notes."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytz

from jetcron.domain.days import ISO_HINT, bad_time
from jetcron.domain.dst import gap_notes
from jetcron.domain.fires import next_fires, search_after
from jetcron.domain.spec import is_interval_like, validate_tz, zone_note
from jetcron.domain.validation import validate_spec
from jetcron.errors import InvalidInput
from jetcron.projections.fire_story import dst_notes
from jetcron.projections.lifecycle import Window
from jetcron.projections.queries import abbr, iso


def fire_rows(
    fires: list[datetime], spec: str, tz: str, after: datetime | None = None
) -> list[dict[str, Any]]:
    """[{utc, local, tz, dst}]: `dst` says what DST did to that fire (the rules of `why`), and
    which fires of an interval-like spec a gap before it swallowed (as `jetcron preview`)."""
    zone = pytz.timezone(tz)
    window = Window(spec=spec, tz=tz)
    return [
        {
            "utc": iso(f),
            "local": f.astimezone(zone).replace(microsecond=0).isoformat(),
            "tz": tz,
            "abbr": abbr(f, tz),
            "dst": gap_notes(prev, f, spec, tz) + dst_notes(f, window),
        }
        for prev, f in zip([after, *fires], fires, strict=False)
    ]


def planned_skips(rows: list[dict[str, Any]], schedule: dict[str, Any]) -> list[dict[str, Any]]:
    """Fire rows with `skipped` ('skipped by alice: tonight') on the fires an operator skipped
    (the schedule row's `skips`), as `schedule next` marks them; the others as they are."""
    skips: dict[str, str] = schedule.get("skips") or {}
    return [dict(r, skipped=skips[r["utc"]]) if r["utc"] in skips else r for r in rows]


def parse_time(text: str, tz: str) -> datetime:
    """An ISO time to search for fires after; without an offset it is wall time in `tz` (the
    rule of preview --after: a wall time lost in a gap comes before the gap's end)."""
    try:
        when = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise InvalidInput(bad_time(text, ISO_HINT)) from None
    try:
        return search_after(when, tz)
    except OverflowError:
        raise InvalidInput(f"invalid time {text!r}: out of range in {tz}") from None


def preview(spec: str, tz: str, n: int, after: str | None, now: datetime) -> dict[str, Any]:
    """What `jetcron preview` shows, with DST notes and its note on the zone (`note`: EST is a
    fixed offset...; None for most zones): InvalidInput for a bad spec or zone."""
    zone = validate_tz(tz)
    parsed = validate_spec(spec, zone)
    start = parse_time(after, zone) if after else now.astimezone(UTC)
    return {
        "spec": spec,
        "tz": zone,
        "kind": parsed.kind,
        "interval_like": is_interval_like(parsed),
        "note": zone_note(zone),
        "fires": fire_rows(next_fires(spec, zone, start, n), spec, zone, start),
    }


def parse_stamp(text: str) -> datetime:
    """An ISO-8601 UTC stamp from a query answer."""
    return datetime.fromisoformat(text.replace("Z", "+00:00"))
