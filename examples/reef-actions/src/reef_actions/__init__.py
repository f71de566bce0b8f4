"""A pretend reef light controller as jetcron actions: on, off, set_level, ramp.

The "controller" is a JSON file holding the level (0-100 %) of each channel, so the
example runs anywhere. Its path is the `state_file` param, else $REEF_STATE_FILE, else
`reef-light.json` in the executor's working directory. A real plugin would talk to the
hardware (serial, HTTP, GPIO) in the same places.
"""

from __future__ import annotations

import asyncio
import json
import os
import tempfile
import threading
from pathlib import Path
from typing import Any

from jetcron.executors.actions import ActionContext, ActionError
from jetcron.executors.failure import FailureClass

DEFAULT_STATE_FILE = "reef-light.json"
CHANNELS = ("white", "blue")
_lock = threading.Lock()


def _path(state_file: str | None) -> Path:
    return Path(state_file or os.environ.get("REEF_STATE_FILE") or DEFAULT_STATE_FILE)


def read_state(state_file: str | None = None) -> dict[str, float]:
    """The current level of every channel (0 when never set)."""
    try:
        stored = json.loads(_path(state_file).read_text())
    except FileNotFoundError:
        stored = {}
    return {channel: float(stored.get(channel, 0.0)) for channel in CHANNELS}


def _write(levels: dict[str, float], state_file: str | None) -> dict[str, float]:
    """Store levels atomically (a reader never sees half a file)."""
    path = _path(state_file)
    with _lock:
        state = read_state(state_file) | levels
        fd, tmp = tempfile.mkstemp(dir=path.parent or ".", prefix=".reef-")
        with os.fdopen(fd, "w") as f:
            json.dump(state, f)
        os.replace(tmp, path)
    return state


def _channels(channel: str) -> list[str]:
    if channel == "all":
        return list(CHANNELS)
    if channel not in CHANNELS:
        # why: a typo in a schedule will not fix itself: fail permanently, no retries.
        raise ActionError(
            f"unknown channel {channel!r} (have: all, {', '.join(CHANNELS)})",
            FailureClass.PERMANENT,
        )
    return [channel]


def _level(level: Any) -> float:
    try:
        value = float(level)
    except (TypeError, ValueError):
        value = -1.0
    if not 0.0 <= value <= 100.0:
        raise ActionError(f"level must be 0..100, got {level!r}", FailureClass.PERMANENT)
    return value


def set_level(
    ctx: ActionContext, level: float, channel: str = "all", state_file: str | None = None
) -> dict[str, float]:
    """Set a channel (or all) to `level` percent; returns the new state."""
    value = _level(level)
    return _write({c: value for c in _channels(channel)}, state_file)


def on(ctx: ActionContext, channel: str = "all", state_file: str | None = None) -> dict[str, float]:
    """Full brightness."""
    return set_level(ctx, 100, channel, state_file)


def off(
    ctx: ActionContext, channel: str = "all", state_file: str | None = None
) -> dict[str, float]:
    """Lights out."""
    return set_level(ctx, 0, channel, state_file)


async def ramp(
    ctx: ActionContext,
    to: float,
    seconds: float = 60.0,
    steps: int = 20,
    channel: str = "all",
    state_file: str | None = None,
) -> dict[str, Any]:
    """Fade from the current level to `to` over `seconds`; stops where it is when cancelled."""
    target, channels = _level(to), _channels(channel)
    start = read_state(state_file)
    steps = max(1, int(steps))
    for i in range(1, steps + 1):
        share = i / steps
        _write({c: round(start[c] + (target - start[c]) * share, 2) for c in channels}, state_file)
        if i < steps:
            try:
                await asyncio.wait_for(ctx.cancel.wait(), timeout=float(seconds) / steps)
            except TimeoutError:
                continue
            return {"stopped_at_step": i, "state": read_state(state_file)}
    return {"state": read_state(state_file)}
