"""Bounded windows: per schedule, the keys of the last N finished rows, oldest first.

why: a view that keeps every run grows with time; one that keeps the last N finished rows
per schedule grows with the number of schedules. Keys enter a window when their row becomes
final, in fold order, so the same events evict the same rows (live == rebuild).
"""

from __future__ import annotations

DEFAULT_KEEP = 500
"""Finished runs, fires and run audit entries kept per schedule (`serve --keep-runs`)."""


def push(windows: dict[str, list[str]], group: str, key: str, keep: int) -> str | None:
    """Add `key` as the newest of `group`; the key that fell out (beyond `keep`), if any.

    keep 0 keeps everything.
    """
    keys = windows.get(group)
    if keys is None:
        windows[group] = [key]
        return None
    keys.append(key)
    if keep and len(keys) > keep:
        # why: a list, not a deque: msgspec serialises it into the snapshot as is; N is small
        return keys.pop(0)
    return None


def unindex(index: dict[str, list[str]], group: str, key: str) -> None:
    """Remove an evicted key from a per-schedule index (it is near the front: old rows)."""
    keys = index.get(group)
    if keys is None:
        return
    try:
        keys.remove(key)
    except ValueError:
        return
    if not keys:
        del index[group]
