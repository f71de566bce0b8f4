"""Next-fire computation speed over a mix of distinct cron specs and zones (warm and cold)."""

from __future__ import annotations

import random
import time
from datetime import UTC, datetime
from typing import Any

from jetcron.domain import cronmatch, fires
from jetcron.domain import spec as spec_mod
from jetcron.domain.errors import InvalidSpec
from jetcron.domain.fires import next_fire
from jetcron.domain.spec import parse_spec

ZONES = (
    "UTC", "Europe/Berlin", "Europe/London", "America/New_York", "America/Los_Angeles",
    "America/Sao_Paulo", "America/Santiago", "Asia/Tokyo", "Asia/Kolkata", "Asia/Kathmandu",
    "Australia/Sydney", "Australia/Lord_Howe", "Pacific/Auckland", "Pacific/Chatham",
    "Africa/Cairo", "Asia/Tehran", "America/St_Johns", "Europe/Moscow", "Asia/Shanghai",
    "America/Havana",
)  # fmt: skip
START = datetime(2026, 3, 1, tzinfo=UTC)


def _cron(rng: random.Random) -> str:
    minute = rng.choice(
        [
            "*",
            f"*/{rng.choice([2, 5, 10, 15, 20, 30])}",
            str(rng.randrange(60)),
            f"{rng.randrange(30)},{rng.randrange(30, 60)}",
            f"{rng.randrange(20)}-{rng.randrange(30, 59)}/7",
        ]
    )
    hour = rng.choice(
        [
            "*",
            "*",
            f"*/{rng.choice([2, 3, 4, 6])}",
            str(rng.randrange(24)),
            f"{rng.randrange(8)}-{rng.randrange(12, 23)}",
            f"{rng.randrange(12)},{rng.randrange(12, 24)}",
        ]
    )
    dom = rng.choice(["*", "*", "*", str(rng.randrange(1, 29)), "1,15", "*/2"])
    month = rng.choice(["*", "*", "*", "*/3", "1-6", "mar,oct"])
    dow = rng.choice(["*", "*", "*", "1-5", "0,6", "mon,wed,fri", "sun"])
    return f"{minute} {hour} {dom} {month} {dow}"


def sample_specs(n: int = 1000, seed: int = 7) -> list[tuple[str, str]]:
    """n distinct, valid (spec, zone) pairs: ~85% cron, ~10% @every, ~5% macros; deterministic."""
    rng = random.Random(seed)
    out: dict[tuple[str, str], None] = {}
    while len(out) < n:
        roll = rng.random()
        if roll < 0.10:
            text = f"@every {rng.choice([30, 60, 90, 300, 600])}s offset {rng.randrange(30)}s"
        elif roll < 0.15:
            text = rng.choice(["@hourly", "@daily", "@weekly", "@monthly"])
        else:
            text = _cron(rng)
        zone = rng.choice(ZONES)
        try:
            parse_spec(text, zone)
        except InvalidSpec:
            continue
        out[(text, zone)] = None
    return list(out)


EXTENSIONS = ("L", "LW", "15W", "1W", "?")
WEEK_EXTENSIONS = ("5L", "0L", "2#2", "1#1,5L", "fri#3")


def extension_specs(n: int = 200, seed: int = 7) -> list[tuple[str, str]]:
    """n (spec, zone) pairs using cron's L, W, # or ? (apart from the sample: same figures)."""
    rng = random.Random(seed)
    out: dict[tuple[str, str], None] = {}
    while len(out) < n:
        minute, hour, _, month, _ = _cron(rng).split()
        days = rng.choice([(rng.choice(EXTENSIONS), "*"), ("?", rng.choice(WEEK_EXTENSIONS))])
        out[(f"{minute} {hour} {days[0]} {month} {days[1]}", rng.choice(ZONES))] = None
    return list(out)


def _clear_caches() -> None:
    spec_mod._parse.cache_clear()
    fires._zone.cache_clear()
    spec_mod.validate_tz.cache_clear()
    fires.nominal_interval.cache_clear()
    cronmatch._MATCHERS.clear()


def measure(n_specs: int = 1000, rounds: int = 20) -> dict[str, Any]:
    """Mean µs per next_fire: cold (caches cleared, first call per spec) and warm (steady state:
    each spec asked for the fire after its previous one, as the ticker does)."""
    specs = sample_specs(n_specs)
    _clear_caches()
    started = time.perf_counter()
    for s, z in specs:
        next_fire(s, z, START)
    cold_s = time.perf_counter() - started
    return {
        "spec_next_us": _warm_us(specs, rounds),
        "spec_next_ext_us": _warm_us(extension_specs(), rounds),
        "spec_next_cold_us": round(cold_s / len(specs) * 1e6, 2),
        "spec_count": len(specs),
        "notes": [
            f"spec_speed: {len(specs)} distinct (spec, zone) pairs over {len(ZONES)} zones; "
            f"warm = {rounds} rounds of next_fire(spec_text, zone, previous fire); cold = first "
            "call per spec after clearing the parse, zone and matcher caches (includes building "
            "the 20 zone tables); ext = warm over 200 specs with L, W, # or ?",
        ],
    }


def _warm_us(specs: list[tuple[str, str]], rounds: int) -> float:
    """Mean µs per next_fire over `specs`, each asked for the fire after its previous one."""
    last = [next_fire(s, z, START) for s, z in specs]
    calls, started = 0, time.perf_counter()
    for _ in range(rounds):
        for i, (s, z) in enumerate(specs):
            after = last[i]
            last[i] = next_fire(s, z, after) if after is not None else None
            calls += 1
    return round((time.perf_counter() - started) / calls * 1e6, 2)


async def run(quick: bool) -> dict[str, Any]:
    """The spec figures."""
    return measure(1000, 10 if quick else 50)
