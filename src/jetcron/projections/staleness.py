"""Whether the views may be missing events, and since when: pure verdicts for queries and `status`."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import msgspec


class Stale(msgspec.Struct, frozen=True, kw_only=True):
    """The views reflect the log only up to `since`; `reason` says why they are not current."""

    since: datetime
    reason: str

    def iso(self) -> str:
        """`since` as ISO-8601 UTC, second precision."""
        return self.since.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    def line(self) -> str:
        """One human line: "views stale since T: reason"."""
        return f"views stale since {self.iso()}: {self.reason}"


def verdict(
    *,
    behind: int | None,
    down_since: float | None,
    error: str,
    current_at: float | None,
    started_at: float,
    no_quorum: str | None = None,
) -> Stale | None:
    """None if the views are current; else since when they may lack events, and why.

    behind: events in the log not yet applied after waiting a moment (None: the log could not
    be asked). down_since/error: the follower's outage. current_at: the last time the follower
    had read everything (wall-clock seconds), started_at: when the service started.
    no_quorum: why the log takes no appends (its cluster lost its quorum), if it does not.
    """
    # why: "since" is the last moment the views are known to have been complete, which is what
    # an operator needs to judge an answer ("nothing after 14:02 is in here").
    since = _at(current_at if current_at is not None else started_at)
    if down_since is not None:
        return Stale(since=since, reason=f"the projection follower is down ({error or 'unknown'})")
    if behind is None:
        return Stale(since=since, reason="the log did not answer how far it goes")
    if behind > 0:
        return Stale(since=since, reason=f"{behind} event(s) behind the log")
    if no_quorum is not None:  # why: read to its end, but the log itself stands still
        return Stale(since=since, reason=no_quorum)
    return None


def notes(
    nats: dict[str, Any], followers: dict[str, dict[str, Any]], stale: Stale | None
) -> list[str]:
    """What `status` should tell a human about NATS, followers and staleness (empty: all fine)."""
    out = []
    if since := nats.get("unreachable_since"):
        noticed = nats.get("noticed_at")
        # why: since is its last answer (a frozen server is noticed only when pings run out)
        when = f" (its last answer; noticed at {noticed})" if noticed and noticed != since else ""
        out.append(f"NATS unreachable since {since}{when}: {nats.get('last_error') or ''}")
    if (outage := nats.get("last_outage")) is not None:
        noticed = outage.get("noticed")
        said = f", noticed at {noticed}" if noticed and noticed != outage["from"] else ""
        if outage.get("connection_held"):
            said += ", no answers though the connection held"
        out.append(
            f"last NATS outage {outage['from']} .. {outage['to']} ({outage['seconds']:.0f} s"
            f"{said}); {nats.get('reconnects', 0)} reconnect(s)"
        )
    for name, f in followers.items():
        if f.get("down_since"):
            out.append(f"follower {name} down since {f['down_since']}: {f.get('error') or ''}")
        elif f.get("restarts"):
            out.append(f"follower {name} restarted {f['restarts']} time(s); reading now")
    if stale is not None:
        out.append(stale.line())
    return out


def _at(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)
