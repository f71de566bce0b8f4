"""The flat fields table: conversions both ways, and a one-field patch changes that field only."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from jetcron.domain.definition import ScheduleDefinition, apply_patch
from jetcron.domain.errors import InvalidField
from jetcron.domain.field_values import (
    changes,
    check,
    definition_of,
    fields_of,
    flat_diff,
    patch_of,
)
from jetcron.domain.fields import FIELDS, JOB_KINDS, ScheduleFields, renamed
from jetcron.projections.audit import diff

ALT: dict[str, Any] = {
    "spec": "*/5 * * * *",
    "tz": "Europe/Berlin",
    "command": ["tar", "czf", "/tmp/b.tgz"],
    "shell": "echo hi | wc",
    "action": "set_level",
    "params": {"channel": "blue", "level": 80},
    "cwd": "/srv",
    "env": {"A": "1"},
    "secret_env": {"B": "kv:job.B"},
    "target": "nas",
    "timeout": "20s",
    "retries": 2,
    "retry_backoff": "1m",
    "retry_multiplier": 3.0,
    "retry_max_backoff": "1h",
    "overlap": "allow",
    "catchup": "all",
    "catchup_window": "10m",
    "catchup_max_fires": 5,
    "start": datetime(2026, 1, 1, tzinfo=UTC),
    "end": datetime(2030, 1, 1, tzinfo=UTC),
    "jitter": "5s",
    "max_runs": 7,
    "breaker": 0,
    "breaker_cooldown": "30m",
    "max_cpu": 80.0,
    "max_memory": 70.0,
    "max_load": 1.5,
    "disk_path": "/tank",
    "disk_above": 85.0,
    "disk_below": 95.0,
    "idle_minutes": 5.0,
    "max_defer": "5m",
    "on_expire": "force",
    "description": "nightly backup",
    "tags": ["ops", "nas"],
    "metadata": {"team": "storage"},
    "expect_success_within": "1d2h",
    "expect_done_by": "06:00",
    "exclude": ["maint", "holidays"],
    "only_within": ["office-hours"],
}
"""A non-default value of every field, canonical (as export writes it)."""

BASE = ScheduleFields(spec="@daily", command=["true"])
RICH = ScheduleFields(**{k: v for k, v in ALT.items() if k not in ("shell", "command")})
"""Every field set: an action job, as params go with an action."""


def test_every_field_has_a_test_value() -> None:
    assert set(ALT) == set(FIELDS)
    assert all(ALT[k] != f.default for k, f in FIELDS.items())


@pytest.mark.parametrize("fields", [BASE, RICH], ids=["defaults", "every-field-set"])
def test_fields_survive_the_definition(fields: ScheduleFields) -> None:
    definition = definition_of(fields)
    assert fields_of(definition) == fields
    assert definition_of(fields_of(definition)) == definition


def test_defaults_are_the_definitions_defaults() -> None:
    assert definition_of(BASE) == ScheduleDefinition(spec="@daily", job=definition_of(BASE).job)
    assert msgspec.json.decode(msgspec.json.encode(fields_of(definition_of(BASE)))) == {
        "spec": "@daily",
        "command": ["true"],
    }


def _expected(key: str) -> set[str]:
    """The fields a one-field patch of `key` changes: itself, and the other job kind."""
    return {key} | ({"command"} if key in ("shell", "action") else set())


@pytest.mark.parametrize("key", FIELDS)
def test_setting_one_field_keeps_every_other(key: str) -> None:
    before = definition_of(BASE)
    after = apply_patch(before, patch_of({key: ALT[key]}))
    changed = {k for k, _, _ in changes(fields_of(before), fields_of(after))}
    assert changed == _expected(key)
    assert getattr(fields_of(after), key) == ALT[key]


@pytest.mark.parametrize("key", [k for k in FIELDS if k not in ("spec", *JOB_KINDS)])
def test_resetting_one_field_keeps_every_other(key: str) -> None:
    before = definition_of(RICH)
    after = apply_patch(before, patch_of({key: FIELDS[key].default}))
    assert [k for k, _, _ in changes(fields_of(before), fields_of(after))] == [key]


@given(st.sets(st.sampled_from([k for k in FIELDS if k not in ("shell", "action")])))
def test_any_mix_of_fields_round_trips(keys: set[str]) -> None:
    fields = ScheduleFields(**{"spec": "@daily", "command": ["x"], **{k: ALT[k] for k in keys}})
    assert fields_of(definition_of(fields)) == fields


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("timeout", "none", None),
        ("timeout", "0", None),
        ("breaker_cooldown", "off", None),
        ("jitter", "0", 0.0),
        ("retries", 0, 1),
        ("timeout", "90m", 5400.0),
    ],
)
def test_units(key: str, value: Any, expected: Any) -> None:
    node: Any = patch_of({key: check(key, value)})
    for part in FIELDS[key].at:
        node = getattr(node, part)
    assert node == expected


def test_canonical_durations() -> None:
    fields = ScheduleFields(spec="@daily", command=["x"], timeout="60m", jitter="0s")
    assert fields_of(definition_of(fields)).timeout == "1h"


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("retries", -1, "retries: -1: must be at least 0"),
        (
            "overlap",
            "queue",
            "overlap: 'queue': use one of skip, buffer_one, allow, cancel_previous",
        ),
        ("timeout", 20, 'timeout: 20: write a duration with its unit, e.g. "20s"'),
        ("timeout", "soon", "timeout: invalid duration 'soon'"),
        ("jitter", "none", "jitter: invalid duration 'none'"),
        ("max_cpu", 101, "max_cpu: 101: must be at most 100.0"),
        ("start", "tomorrow", "start: invalid time 'tomorrow'"),
        ("retry", 3, "retry: no such field (did you mean 'retries'?)"),
        ("tags", "a", "tags: 'a': must be a list (e.g. [\"a\"])"),
    ],
)
def test_bad_values_name_the_field(key: str, value: Any, message: str) -> None:
    with pytest.raises(InvalidField, match=f"^{re.escape(message)}"):
        check(key, value)


def test_times_read_like_the_cli() -> None:
    assert check("start", "2026-05-01") == datetime(2026, 5, 1)
    assert check("end", "2026-05-01T10:00Z") == datetime(2026, 5, 1, 10, tzinfo=UTC)


def test_old_keys_name_their_replacements() -> None:
    assert renamed("timeout_s") == ["timeout"]
    assert renamed("breaker_threshold") == ["breaker"]
    assert renamed("retry") == ["retries", "retry_backoff", "retry_multiplier", "retry_max_backoff"]
    assert renamed("job") == ["command", "shell", "action", "params", "cwd", "env", "secret_env"]
    assert renamed("timeout") == []


def _audit_diff(old: dict[str, Any] | None, new: dict[str, Any]) -> dict[str, Any]:
    """A diff as the audit view stores it, between two definitions written as flat fields."""
    before = None if old is None else definition_of(ScheduleFields(**old))
    return msgspec.json.decode(
        msgspec.json.encode(diff(before, definition_of(ScheduleFields(**new))))
    )


def test_flat_diff_names_the_options_the_operator_typed_in_their_units() -> None:
    old = {"spec": "@every 10s", "command": ["echo", "hi"]}
    new = {**old, "retries": 3, "timeout": "30s", "retry_backoff": "5m", "max_cpu": 80, "cwd": "/"}

    changed = flat_diff(_audit_diff(old, new))

    assert sorted(changed) == sorted([
        ("cwd", None, "/"), ("timeout", "1h", "30s"), ("retries", 0, 3),
        ("retry_backoff", "10s", "5m"), ("max_cpu", None, 80.0),
    ])  # fmt: skip


def test_flat_diff_of_a_creation_lists_only_what_was_set() -> None:
    new = {
        "spec": "0 3 * * *",
        "shell": "ls | wc",
        "retries": 2,
        "catchup": "all",
        "env": {"A": "1"},
    }

    changed = flat_diff(_audit_diff(None, new), created=True)

    assert sorted(changed) == sorted([
        ("spec", None, "0 3 * * *"), ("shell", None, "ls | wc"), ("env", None, {"A": "1"}),
        ("retries", None, 2), ("catchup", None, "all"),
    ])  # fmt: skip


def test_flat_diff_keeps_keys_outside_the_table() -> None:
    assert flat_diff({"skip": [None, "2026-12-24T02:00:00Z"]}) == [
        ("skip", None, "2026-12-24T02:00:00Z")
    ]
