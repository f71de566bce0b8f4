"""The views as snapshot bytes and back, and as plain data that equal views give equally."""

from __future__ import annotations

import logging
from itertools import chain, islice
from typing import Any

import msgspec

from jetcron.log.sharing import Sharing
from jetcron.projections import ledger, rejoin, runs
from jetcron.projections.state import Views

log = logging.getLogger(__name__)

SNAPSHOT_VERSION = 17
"""Bump whenever a view's fields or fold semantics change; older snapshots are then ignored."""
_MAGIC = b"JCV"
_encoder = msgspec.msgpack.Encoder()
_HEADER = _MAGIC + SNAPSHOT_VERSION.to_bytes(2, "big")
PART_ROWS = 4096
"""Rows per part of a map stored in parts (_PARTED)."""
_PARTED: tuple[tuple[str, str, type], ...] = (
    ("runs", "rows", runs.RunRow),
    ("ledger", "entries", ledger.LedgerEntry),
)
"""(view, field, row class) of the maps that hold a row per run, stored in parts.

why: restored in one piece, every string of such a map is decoded, then shared away, leaving
holes the allocator cannot give back (the RSS stays); decoded a part at a time, the next part
reuses what the last one left, so a restore costs about what its shared objects need."""


class _Stored(msgspec.Struct, array_like=True, gc=False):
    """A snapshot as stored: the views with the _PARTED maps empty, then those maps in parts."""

    views: Views
    parts: list[list[msgspec.Raw]]
    """Per _PARTED map, its rows in order, PART_ROWS to a msgpack map."""


_decoder = msgspec.msgpack.Decoder(_Stored)
_part_decoders = [msgspec.msgpack.Decoder(dict[str, cls]) for _, _, cls in _PARTED]  # type: ignore[valid-type]


def snapshot(views: Views, part_rows: int = PART_ROWS) -> bytes:
    """The views as versioned msgpack bytes."""
    shell = msgspec.structs.replace(views)
    parts = []
    for view, field, _ in _PARTED:
        part = getattr(views, view)
        rows = getattr(part, field)
        setattr(shell, view, msgspec.structs.replace(part, **{field: {}}))
        items = iter(rows.items())
        parts.append([dict(islice(items, part_rows)) for _ in range(0, len(rows), part_rows)])
    # why: the parts are encoded as maps and decoded as Raw (the same bytes), one at a time
    return _HEADER + _encoder.encode((shell, parts))


def canonical(views: Views | dict[str, Any]) -> dict[str, Any]:
    """The views as plain data (from Views, or from their JSON decoded) that equal views give
    equally: equal strings shared onto the declared defaults (log/sharing.py says why), and
    map keys of the declared types (JSON made the digests' bucket numbers strings)."""
    typed = views if isinstance(views, Views) else msgspec.convert(views, Views, strict=False)
    Sharing(defaults_of=Views).share(typed)
    plain: dict[str, Any] = msgspec.to_builtins(typed)
    return plain


def restore(data: bytes) -> Views | None:
    """Views from snapshot bytes; None if the snapshot is from another version or unreadable.

    Equal strings come back as one object each (log/sharing.py).
    """
    if not data.startswith(_HEADER):
        # why: an upgrade (or downgrade) across a format change refolds the whole log at start;
        # on a long log that takes minutes, which the operator must be able to tell from a hang
        was = int.from_bytes(data[len(_MAGIC) : len(_HEADER)], "big")
        form = f"format v{was}" if data.startswith(_MAGIC) and was else "an unknown format"
        log.warning(
            "the views' snapshot is of %s, this jetcron reads v%d (an upgrade or downgrade): "
            "rebuilding the views from the log, ~10 s per million events",
            form,
            SNAPSHOT_VERSION,
        )
        return None
    try:
        stored = _decoder.decode(memoryview(data)[len(_HEADER) :])
        if len(stored.parts) != len(_PARTED):
            raise msgspec.ValidationError(f"{len(stored.parts)} parted maps, not {len(_PARTED)}")
        views, sharing = stored.views, Sharing(defaults_of=Views)
        sharing.share(views)
        schedules_ = views.schedules
        rejoin.definitions(
            chain(schedules_.rows.values(), schedules_.deleted.values()), views.audit.known
        )
        _unpart(views, stored.parts, sharing)
        return views
    except (msgspec.DecodeError, msgspec.ValidationError) as err:
        log.warning("ignoring unreadable projection snapshot: %s", err)
        return None


def _unpart(views: Views, parted: list[list[msgspec.Raw]], sharing: Sharing) -> None:
    """The _PARTED maps, decoded a part at a time, each part shared as it comes.

    why: a ledger part takes its run rows' equal objects (rejoin.py) before the next part is
    decoded, so the next one reuses the memory this one let go (runs come first in _PARTED).
    """
    for (view, field, _), parts, decoder in zip(_PARTED, parted, _part_decoders, strict=True):
        rows = getattr(getattr(views, view), field)
        for part in parts:
            decoded = sharing.share(decoder.decode(part), decoder.type)
            if view == "ledger":
                rejoin.ledger(decoded.values(), views.runs.rows)
            rows.update(decoded)
