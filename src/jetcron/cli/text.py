"""How values read in the CLI: times, durations, ids, sizes and diffs — never a Python repr."""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Collection, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

SHORT_ID = 8
"""Characters of a run id in tables; any unique prefix is accepted back."""
ARROW = "→"


_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
"""What free text must not bring to a terminal: C0/C1 controls (newline, carriage return,
escape, bell...) and the bidi overrides that reorder what a line shows."""
_CONTROL_IN_BLOCK = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
"""The same, but for text of several lines: newlines and tabs stay."""
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def clean(free: str) -> str:
    """Free text (a reason, a description, an error, an actor) for one line of human output:
    each control character escaped as `\\n`, `\\x1b`, `\\u202e`.

    why: a newline in a reason printed raw forged a line of `audit`; an escape sequence
    reached the auditor's terminal (colours, a title, erased lines). `--json` keeps the text.
    """
    return _CONTROL.sub(_escaped, free) if _CONTROL.search(free) else free


def visible(block: str) -> str:
    """Text of several lines (a job's output, a message) with its other controls escaped."""
    return _CONTROL_IN_BLOCK.sub(_escaped, block) if _CONTROL_IN_BLOCK.search(block) else block


def _escaped(match: re.Match[str]) -> str:
    char = match.group()
    code = ord(char)
    return _NAMED.get(char) or (f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")


def parse_time(text: str) -> datetime:
    """An ISO-8601 time (a `Z` suffix allowed); naive means UTC. ValueError if it is none."""
    dt = datetime.fromisoformat(text.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def utc(value: str | datetime | None) -> str:
    """A time as ISO-8601 UTC with a Z, to the second: 2026-11-22T13:05:00Z; '-' if none."""
    if value is None or value == "":
        return "-"
    dt = value if isinstance(value, datetime) else parse_time(str(value))
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def utc_fraction(value: str | datetime | None) -> str:
    """A time as utc() does, to the hundredth of a second: 2026-11-22T13:05:00.41Z."""
    if value is None or value == "":
        return "-"
    dt = value if isinstance(value, datetime) else parse_time(str(value))
    return f"{dt.astimezone(UTC):%Y-%m-%dT%H:%M:%S.%f}"[:-4] + "Z"


def duration(seconds: float | None) -> str:
    """Seconds in words: 250ms, 12.5s, 5m3s, 1h, 1h30m, 2d3h; '-' if unknown."""
    if seconds is None:
        return "-"
    s = float(seconds)
    if s < 1:
        return f"{s * 1000:.0f}ms" if s > 0 else "0s"
    if s < 60:
        return f"{s:.1f}".rstrip("0").rstrip(".") + "s"
    units = (("d", 86400), ("h", 3600), ("m", 60), ("s", 1))
    parts, rest = [], round(s)
    for name, size in units:
        if rest >= size:
            parts.append(f"{rest // size}{name}")
            rest %= size
    return "".join(parts[:2])  # why: 1h30m reads better than 1h30m12s in a table


def short_id(run_id: str | None) -> str:
    """The first characters of a run id, as tables show it (a fan-out member's with its
    executor: `7241fd3e-pi2`, which `runs show` takes too)."""
    head, dash, member = (run_id or "").partition("-")
    return f"{head[:SHORT_ID]}{dash}{member}" or "-"


def size(n: int | None) -> str:
    """Bytes in words: 512 B, 64 KiB, 1.5 MiB."""
    if n is None:
        return "-"
    value, unit = float(n), "B"
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            break
        value /= 1024
    return f"{value:.0f} {unit}" if unit == "B" or value >= 10 else f"{value:.1f} {unit}"


_COALESCED = re.compile(r"coalesced: [^;]*; only the newest \(([^)]+)\) runs")
"""A coalesced fire's reason, as planner._coalesced and catchup.late_reason word it."""
_FRACTION = re.compile(r"(T\d\d:\d\d:\d\d)\.\d+Z")


def coalesced(reason: str, day: datetime) -> tuple[str, str] | None:
    """A coalesced fire's reason as ('coalesced into 09:57:50', the rest of its words), the
    fire that ran first so that a cut keeps it (None: no coalesced reason); `day`: its fire's.

    why: `runs list` cut 'coalesced: several fires were due at once; only the newest …' right
    before the one fact that mattered, which fire ran (newcomer20a #12)."""
    found = _COALESCED.match(reason)
    if found is None:
        return None
    return f"coalesced into {short_time(found.group(1), day)}", reason[found.end() :]


def short_time(when: str, day: datetime) -> str:
    """An ISO time as HH:MM:SS when it falls on `day` (UTC), else as utc() writes it."""
    try:
        parsed = parse_time(when)
    except ValueError:
        return when
    return f"{parsed:%H:%M:%S}" if parsed.date() == day.date() else utc(parsed)


def whole_seconds(said: str) -> str:
    """ISO times in a text to the second (`09:56:53.989132Z` -> `09:56:53Z`), as utc()."""
    return _FRACTION.sub(r"\1Z", said)


def first_line(text: str | None, width: int = 60) -> str:
    """The first non-empty line, cut to width with an ellipsis."""
    line = clean(next((x.strip() for x in (text or "").splitlines() if x.strip()), ""))
    return line if len(line) <= width else line[: width - 1] + "…"


def value(v: Any, key: str = "") -> str:
    """One stored value as an operator reads it; `key` says what it is (`timeout_s`, `command`)."""
    if v is None:
        return "none"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, int | float) and key.endswith("_s"):
        return duration(v)
    if isinstance(v, float):
        return f"{v:g}"
    if isinstance(v, list):
        if not v:
            return "none"
        if key.endswith("command") and all(isinstance(x, str) for x in v):
            return shlex.join(v)
        return ", ".join(value(x) for x in v)
    if isinstance(v, Mapping) and key == "job":
        return job(v)
    if isinstance(v, Mapping):
        if not v:
            return "none"
        shown = (
            f"{label(str(k))}={value(x, str(k))}" for k, x in v.items() if x not in (None, [], {})
        )
        return ", ".join(shown)
    if isinstance(v, str):
        return clean(v) if v else '""'
    return clean(json.dumps(v, default=str))


def job(j: Mapping[str, Any]) -> str:
    """What a job runs: `echo hi`, `sh: cmd | pipe`, `action http url=...`, with cwd and env."""
    if j.get("command"):
        what = shlex.join(j["command"])
    elif j.get("shell"):
        what = f"sh: {j['shell']}"
    else:
        params = " ".join(f"{k}={json.dumps(x)}" for k, x in (j.get("params") or {}).items())
        what = f"action {j.get('action')}" + (f" {params}" if params else "")
    extra = [f"in {j['cwd']}"] if j.get("cwd") else []
    extra += [f"{k}={x}" for k, x in (j.get("env") or {}).items()]
    return clean(what + (f" ({', '.join(extra)})" if extra else ""))


def label(key: str) -> str:
    """A field name as help and diffs say it: `timeout_s` -> `timeout`."""
    return key[:-2] if key.endswith("_s") else key


def diff_lines(diff: Mapping[str, Any]) -> list[str]:
    """A field diff ({field: [old, new]}) as `field: old → new` lines; a new field as `field: new`."""
    out = []
    for key, (old, new) in diff.items():
        if old is None:
            out.append(f"{label(key)}: {value(new, key)}")
        else:
            out.append(f"{label(key)}: {value(old, key)} {ARROW} {value(new, key)}")
    return out


def change(c: Sequence[Any], *, arrow: bool = False) -> str:
    """One audit change `[field, old, new]` (flat field names and units, as the CLI takes
    them): `timeout: 1h → 30s`; `spec: @daily` when nothing was set before (old null)."""
    key, old, new = c
    if old is None and not arrow:
        return f"{key}: {value(new, key)}"
    return f"{key}: {value(old, key)} {ARROW} {value(new, key)}"


def counts(by: Mapping[str, int]) -> str:
    """{'active': 4, 'paused': 1} as `4 active, 1 paused`; `none` when empty."""
    return ", ".join(f"{n} {k}" for k, n in by.items() if n) or "none"


def render_table(
    title: str | None,
    columns: Sequence[str],
    rows: Sequence[Sequence[str]],
    *,
    width: int | None = None,
    cut: Collection[str] = (),
    drop: Sequence[str] = (),
    keep: Collection[str] = (),
    bold: bool = False,
) -> str:
    """Rows under a header and a rule, columns two spaces apart, one line per row (each
    cell's control characters escaped: text.clean).

    Within `width`, the columns named in `drop` are left out first (in that order), then the
    columns named in `cut` give way, then the widest but those in `keep`, then those: a cell
    that does not fit ends in an ellipsis. No width (piped output): nothing is cut.
    """
    cells = [[clean(c) for c in row] for row in rows]
    if width is not None:
        columns, cells = _dropped(columns, cells, width, drop)
    widths = [max([len(h), *(len(r[i]) for r in cells)]) for i, h in enumerate(columns)]
    if width is not None:
        _fit(widths, columns, width, cut, keep)
    lines = [title] if title else []
    head = _line(columns, widths)
    lines += [f"\x1b[1m{head}\x1b[0m" if bold else head, _line(["─" * w for w in widths], widths)]
    lines += [_line(r, widths) for r in cells]
    return "\n".join(lines)


def _dropped(
    columns: Sequence[str], cells: list[list[str]], width: int, drop: Sequence[str]
) -> tuple[Sequence[str], list[list[str]]]:
    """The columns and cells without those of `drop` (in order) the width has no room for."""
    for name in drop:
        widths = [max([len(h), *(len(r[i]) for r in cells)]) for i, h in enumerate(columns)]
        if sum(widths) + 2 * (len(widths) - 1) <= width or name not in columns:
            continue
        at = list(columns).index(name)
        columns = [c for i, c in enumerate(columns) if i != at]
        cells = [[c for i, c in enumerate(r) if i != at] for r in cells]
    return columns, cells


def _fit(
    widths: list[int],
    columns: Sequence[str],
    width: int,
    cut: Collection[str],
    keep: Collection[str] = (),
) -> None:
    """Narrow the columns (in place) until the row fits `width` or none can give more; those
    in `keep` only once no other can."""
    least = [max(len(h), 4) for h in columns]
    kept = [w if c in keep else f for c, w, f in zip(columns, widths, least, strict=True)]
    for floor in (kept, least):
        while sum(widths) + 2 * (len(widths) - 1) > width:
            candidates = [i for i, w in enumerate(widths) if w > floor[i]]
            if not candidates:
                break
            preferred = [i for i in candidates if columns[i] in cut] or candidates
            widest = max(preferred, key=lambda i: widths[i])
            widths[widest] -= 1


def _line(cells: Sequence[str], widths: Sequence[int]) -> str:
    out = [c if len(c) <= w else c[: w - 1] + "…" for c, w in zip(cells, widths, strict=True)]
    return "  ".join(c.ljust(w) for c, w in zip(out, widths, strict=True)).rstrip()
