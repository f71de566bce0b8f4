"""Maps that churn, held at the size of what they keep rather than of what went through them.

why: a CPython dict never reuses the slot of a deleted key. Each new key takes the next free
slot, and when none is left the dict is rebuilt with room for three times its live keys
(`GROWTH_RATE` in Objects/dictobject.c). A map that keeps N rows while rows come and go (a
window: insert the newest, delete the oldest) therefore settles at a table sized for 3N: twice
the table of the same N keys copied or decoded at once, which is what a restored snapshot
holds (200,000 kept runs: 14.7 MiB against 7.3, for each of the three maps keyed by run).
Copying such a map into a fresh table before it fills (or once it outgrew its keys) keeps it
at the copy's size, and its size follows the keys both ways (a mass delete gives it back too).
For maps with str keys, as every view's are (a copy's bytes are measured per size class).
"""

from __future__ import annotations

import sys
from typing import NamedTuple, TypeVar

K = TypeVar("K")
V = TypeVar("V")

HEADROOM = 8
"""A copy is taken only if it leaves room for an eighth of its keys before the dict must grow
again, so copies move at most ~10 keys per key inserted (at 200k kept runs: ~1.6). The price:
with a live count within 11 % below a copy's usable slots (2/3 of them), the table stays at the
size churn gives it."""
AHEAD = 1.2
"""A followed table is copied once the keys inserted since its last copy, as the rate last
measured predicts them, fill 1/AHEAD of its room (the rate varies from batch to batch)."""
FOLLOWED_MAX = 64
"""Tables followed at most (a process that folds many views forgets the old ones)."""


class Track(NamedTuple):
    """What is known of a followed table since its last copy."""

    since: int
    """Fold position (log sequence) of the copy."""
    room: int
    """Keys it could take then before it must grow (0: not a copy, unknown)."""
    rate: float
    """Keys inserted per sequence folded, as measured the last time it grew (0: not yet)."""


_copy_bytes: dict[int, int] = {}
"""Slots of a copied table -> sys.getsizeof of a copy into that many slots, as measured here.

why measured, not computed: the bytes per slot differ between CPython versions and key kinds;
the slots only name the size class (`copy_slots`)."""
_followed: dict[int, Track] = {}
"""id of a table -> its track (why by id: a dict takes no weak reference, and a stale entry
only makes one copy early or late)."""


def copy_slots(keys: int) -> int:
    """Slots CPython gives a dict copied from `keys` keys: the smallest power of two that is
    at least 1.5 times as many (`estimate_log2_keysize` in Objects/dictobject.c), 8 at least."""
    return 1 << max(3, ((3 * keys + 1) // 2 - 1).bit_length())


def usable(slots: int) -> int:
    """Keys a table of `slots` slots takes, deleted ones included, before it must grow."""
    return (2 * slots) // 3


def compact(table: dict[K, V], position: int | None = None) -> dict[K, V]:
    """`table` itself, or a copy of it (same items, same order) in a table sized for its keys.

    A copy is taken when churn left `table` bigger than that, and, given the fold `position`,
    just before the table would fill (at the rate its keys came in since its last copy), so
    that CPython's own rebuild at twice the size, a transient of 1.5 times the table, is rare.
    """
    keys = len(table)
    slots = copy_slots(keys)
    room = usable(slots) - keys
    if room < keys // HEADROOM:
        # why: a copy with too little room would fill in a few inserts and grow again: each
        # time a copy of every key (the bigger table is the stable one for this many keys)
        return table
    track = _followed.get(id(table)) if position is not None else None
    size, known = sys.getsizeof(table), _copy_bytes.get(slots)
    if known is not None and size <= known:
        if track is None or not _due(track, position or 0):
            return table
        return _copied(table, dict(table), Track(position or 0, room, track.rate))
    copy = dict(table)
    copied = sys.getsizeof(copy)
    if copied >= size:
        # why: no smaller than the table: remember the size, so this copy is not tried again
        _copy_bytes[slots] = max(size, known or 0)
        if position is not None and track is None:
            _follow(table, Track(position, 0, 0.0))
        return table
    _copy_bytes[slots] = copied
    if position is None:
        return copy
    return _copied(table, copy, Track(position, room, _rate(track, position)))


def _copied(table: dict[K, V], copy: dict[K, V], track: Track) -> dict[K, V]:
    """`copy`, followed in place of `table`."""
    _followed.pop(id(table), None)
    _follow(copy, track)
    return copy


def _due(track: Track, position: int) -> bool:
    """Whether a table at its copy size is about to fill, at its last measured rate."""
    return track.rate > 0 and (position - track.since) * track.rate * AHEAD >= track.room


def _rate(track: Track | None, position: int) -> float:
    """Keys per sequence that filled a grown table's room since its copy (0: unknown)."""
    if track is None or not track.room:
        return track.rate if track else 0.0
    return track.room / max(1, position - track.since)


def _follow(table: dict[K, V], track: Track) -> None:
    if len(_followed) >= FOLLOWED_MAX:
        _followed.clear()
    _followed[id(table)] = track
