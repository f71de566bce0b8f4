"""Identifiers: fresh ids for the shell, derived ids for the pure core."""

from __future__ import annotations

import hashlib
import os
import time
from datetime import datetime


def new_id() -> str:
    """A fresh, time-sortable id (48-bit ms timestamp + 64 random bits), 28 hex chars."""
    return f"{time.time_ns() // 1_000_000:012x}{os.urandom(8).hex()}"


def derived_id(*parts: str) -> str:
    """A deterministic 20-hex-char id from its parts (pure; for ids decided by the core)."""
    return hashlib.blake2b("\x1f".join(parts).encode(), digest_size=10).hexdigest()


def fire_id(schedule_id: str, version: int, fire_time: datetime) -> str:
    """The identity of one nominal fire; the trigger's Nats-Msg-Id."""
    return f"{schedule_id}:v{version}:{_stamp(fire_time)}"


def slot_id(schedule_id: str, fire_time: datetime) -> str:
    """A fire time of a schedule whatever version was in force (what a backfill runs)."""
    return f"{schedule_id}:{_stamp(fire_time)}"


def backfill_fire_id(slot: str, rerun: int) -> str:
    """The fire id of a backfill of `slot`: one per (slot, rerun), so a resend is deduped."""
    return f"{slot}:backfill" + (f":{rerun}" if rerun else "")


def _stamp(t: datetime) -> str:
    # why: f-string over strftime: ~5x cheaper, and this runs once per fire
    stamp = f"{t.year:04d}{t.month:02d}{t.day:02d}T{t.hour:02d}{t.minute:02d}{t.second:02d}"
    if t.microsecond:
        stamp += f".{t.microsecond:06d}"
    return stamp + "Z"


def run_id_for(fire: str) -> str:
    """The run id of a fire: deterministic, so a trigger emitted twice names the same run."""
    return derived_id("run", fire)
