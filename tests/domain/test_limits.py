"""The limits of a definition (validation.MAX_*): every number has an upper bound, free text a
length, the whole a size; fire times end before fires.LAST_FIRE. Bad input found here is one
line (CommandRejected / InvalidInput), never an overflow further on."""

from __future__ import annotations

from datetime import UTC, datetime

import msgspec
import pytest

from jetcron.domain.definition import (
    CatchUp,
    Conditions,
    Job,
    RetryPolicy,
    ScheduleDefinition,
)
from jetcron.domain.errors import CommandRejected, InvalidField, InvalidSpec
from jetcron.domain.field_values import check
from jetcron.domain.fires import LAST_FIRE, fires_within, next_fires
from jetcron.domain.validation import (
    MAX_DEFINITION_BYTES,
    validate_definition,
    validate_line,
    validate_spec,
)

HUGE = 99999999999999999999999
BASE = ScheduleDefinition(spec="@daily", job=Job(command=["true"]))


def _with(**changes: object) -> ScheduleDefinition:
    return msgspec.structs.replace(BASE, **changes)


@pytest.mark.parametrize(
    ("definition", "needle"),
    [
        pytest.param(
            _with(retry=RetryPolicy(max_attempts=HUGE)), "retry max_attempts", id="retries"
        ),
        pytest.param(
            _with(retry=RetryPolicy(max_attempts=1001)), "from 1 to 1000", id="retries-1001"
        ),
        pytest.param(_with(max_runs=HUGE), "max_runs", id="max-runs"),
        pytest.param(_with(catchup=CatchUp(max_fires=HUGE)), "max_fires", id="catchup"),
        pytest.param(_with(breaker_threshold=HUGE), "breaker threshold", id="breaker"),
        pytest.param(_with(retry=RetryPolicy(multiplier=1e300)), "multiplier", id="multiplier"),
        pytest.param(_with(timeout_s=1e12), "timeout must be from 0s to 366d", id="timeout"),
        pytest.param(_with(jitter_s=float("nan")), "jitter", id="jitter-nan"),
        pytest.param(_with(catchup=CatchUp(window_s=float("inf"))), "catch-up window", id="inf"),
        pytest.param(_with(conditions=Conditions(max_load=-1)), "max_load", id="load-negative"),
        pytest.param(_with(conditions=Conditions(idle_minutes=-5)), "idle_minutes", id="idle"),
        pytest.param(_with(tags=["bad tag!"]), "invalid tag 'bad tag!'", id="tag-space"),
        pytest.param(_with(tags=[""]), "invalid tag ''", id="tag-empty"),
        pytest.param(_with(tags=["\x1b[31mred"]), "invalid tag", id="tag-escape"),
        pytest.param(_with(description="a" * 9000), "too long (9000 characters", id="description"),
        pytest.param(
            _with(job=Job(command=["true", "x" * MAX_DEFINITION_BYTES])),
            "the definition is too large",
            id="command-size",
        ),
        pytest.param(
            _with(job=Job(action="noop", params={"n": HUGE})), "params:", id="params-huge-int"
        ),
        pytest.param(_with(spec="@every 2900000d"), "at most 3660d", id="every-huge"),
        pytest.param(
            _with(spec="@at 9999-12-31T23:00", tz="America/Los_Angeles"),
            "after the last fire time jetcron handles (9999-01-01T00:00Z)",
            id="at-west-of-utc",
        ),
        pytest.param(
            _with(start=datetime(9999, 6, 1, tzinfo=UTC)), "start 9999-06-01", id="start-9999"
        ),
        # nc21b #11: the bound itself is refused: "not before" it, written with a Z
        pytest.param(
            _with(start=datetime(9999, 1, 1, tzinfo=UTC)),
            "start 9999-01-01T00:00:00Z is not before the last fire time jetcron handles",
            id="start-at-the-bound",
        ),
    ],
)
def test_out_of_bounds_is_one_line(definition: ScheduleDefinition, needle: str) -> None:
    with pytest.raises(CommandRejected) as caught:
        validate_definition(definition)
    assert needle in str(caught.value) and "\n" not in str(caught.value)


def test_values_at_the_bounds_pass() -> None:
    validate_definition(
        _with(
            retry=RetryPolicy(max_attempts=1000, multiplier=100, max_backoff_s=366 * 86400),
            max_runs=1_000_000_000,
            catchup=CatchUp(max_fires=10_000, window_s=366 * 86400),
            breaker_threshold=1000,
            timeout_s=366 * 86400,
            conditions=Conditions(max_load=0, idle_minutes=0),
            tags=["ok", "a.b-c_d"],
            description="a" * 8192,
            spec="@every 3660d",
        )
    )


@pytest.mark.parametrize(
    ("key", "value", "problem"),
    [
        ("retries", HUGE, f"{HUGE}: must be at most 999"),
        ("max_runs", HUGE, "must be at most 1000000000"),
        ("catchup_max_fires", HUGE, "must be at most 10000"),
        ("breaker", HUGE, "must be at most 1000"),
        ("max_load", -1, "must be at least 0"),
        ("idle_minutes", -5, "must be at least 0"),
        ("timeout", "400d", "too long (at most 366d)"),
    ],
)
def test_the_flat_fields_say_the_bound_with_the_key(key: str, value: object, problem: str) -> None:
    with pytest.raises(InvalidField, match=f"^{key}: ") as caught:
        check(key, value)
    assert problem in str(caught.value)


def test_a_reason_is_at_most_a_line_long() -> None:
    validate_line("r" * 1024, "the reason")
    with pytest.raises(CommandRejected, match=r"the reason is too long \(1025 characters"):
        validate_line("r" * 1025, "the reason")


def test_fires_end_before_the_last_fire_time() -> None:
    # a stored `@every` longer than today's bound still reads: one fire, then none
    after = datetime(2026, 12, 2, tzinfo=UTC)
    assert [f.year for f in next_fires("@every 2900000d", "UTC", after, 3)] == [9909]
    late = datetime(9998, 12, 30, tzinfo=UTC)
    assert [f.isoformat() for f in next_fires("@daily", "UTC", late, 5)] == [
        "9998-12-31T00:00:00+00:00"
    ]
    assert next_fires("0 0 29 2 *", "UTC", datetime(9996, 3, 1, tzinfo=UTC), 2) == []
    assert next_fires("@at 9999-12-31T23:00", "America/Los_Angeles", after) == []
    far = _with(spec="@daily", start=datetime(9998, 12, 31, 12, tzinfo=UTC))
    assert fires_within(far, after, limit=3) == []
    assert all(f < LAST_FIRE for f in next_fires("@hourly", "Pacific/Kiritimati", late, 100))


def test_validate_spec_is_what_previews_ask() -> None:
    with pytest.raises(InvalidSpec, match="at most 3660d"):
        validate_spec("@every 2900000d", "UTC")
    assert validate_spec("@at 9998-12-30T23:00", "America/Los_Angeles").kind == "at"


@pytest.mark.parametrize(
    "spec",
    [
        "@every 1500ms",
        "@every 1m offset 1500ms",
        "@at 2026-12-03T09:52:28.5Z",
        "@at 2027-01-01T00:00:00.1",
    ],
)
def test_a_spec_whose_fires_fall_between_whole_seconds_is_refused(spec: str) -> None:
    # newcomer20c #3: texts show fire times to the second; such a fire could not be asked about
    with pytest.raises(InvalidSpec, match="fire times are whole seconds"):
        validate_spec(spec, "UTC")
    with pytest.raises(CommandRejected, match="fire times are whole seconds"):
        validate_definition(_with(spec=spec))
    assert validate_spec("@every 1m offset 2s", "UTC").kind == "every"


def test_the_fire_times_of_an_older_sub_second_spec_are_written_with_their_fraction() -> None:
    # a spec stored by an older jetcron still reads; its fires are named as the API names them
    from jetcron.cli.timing import fires_rows
    from jetcron.projections.asked import z

    fire = next_fires("@every 1500ms", "UTC", datetime(2026, 12, 3, 10, tzinfo=UTC))[0]
    assert fires_rows([fire], "UTC")[0]["utc"] == "2026-12-03T10:00:01.500000Z"
    assert z(fire) == "2026-12-03T10:00:01.500000Z"
