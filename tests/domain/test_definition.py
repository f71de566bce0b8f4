"""The definition and its patch: every field an update can set exists, with the same type."""

from __future__ import annotations

import types
import typing
from typing import Any

import msgspec
import pytest

from jetcron.domain.definition import (
    PATCH_OF,
    CatchUp,
    Conditions,
    ConditionsPatch,
    DefinitionPatch,
    Job,
    JobPatch,
    RetryPatch,
    RetryPolicy,
    ScheduleDefinition,
    apply_patch,
    replacing,
)
from jetcron.domain.errors import CommandRejected
from jetcron.domain.validation import validate_definition

PAIRS = [pytest.param(whole, patch, id=whole.__name__) for whole, patch in PATCH_OF.items()]


def members(tp: Any) -> frozenset[Any]:
    """The types a (union) annotation admits."""
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        return frozenset(typing.get_args(tp))
    return frozenset([tp])


@pytest.mark.parametrize(("whole", "patch"), PAIRS)
def test_every_patch_field_is_a_field_of_the_same_type(whole: type, patch: type) -> None:
    wanted, got = typing.get_type_hints(whole), typing.get_type_hints(patch)
    assert set(got) == set(wanted), f"{patch.__name__} and {whole.__name__} differ in fields"
    for name, tp in wanted.items():
        # why: a patch field is the field's type, nested parts as their patch, plus UNSET (keep)
        patched = frozenset(PATCH_OF.get(m, m) for m in members(tp))
        assert members(got[name]) == patched | {msgspec.UnsetType}, name


def full() -> ScheduleDefinition:
    """A definition with a non-default value in every nested part."""
    return ScheduleDefinition(
        spec="@daily",
        job=Job(command=["backup"], env={"A": "1"}, cwd="/srv"),
        retry=RetryPolicy(max_attempts=3, initial_backoff_s=60.0),
        catchup=CatchUp(policy="all", window_s=600.0),
        conditions=Conditions(max_cpu_percent=80.0, disk_path="/tank", disk_above_percent=90.0),
        tags=["a"],
    )


def test_an_empty_patch_changes_nothing() -> None:
    assert apply_patch(full(), DefinitionPatch()) == full()


def test_a_nested_patch_changes_only_its_fields() -> None:
    patched = apply_patch(
        full(),
        DefinitionPatch(
            retry=RetryPatch(multiplier=3.0), conditions=ConditionsPatch(disk_path="/pool")
        ),
    )
    assert patched == msgspec.structs.replace(
        full(),
        retry=RetryPolicy(max_attempts=3, initial_backoff_s=60.0, multiplier=3.0),
        conditions=Conditions(max_cpu_percent=80.0, disk_path="/pool", disk_above_percent=90.0),
    )


def test_a_patch_that_empties_the_conditions_leaves_none() -> None:
    patch = DefinitionPatch(
        conditions=ConditionsPatch(max_cpu_percent=None, disk_path=None, disk_above_percent=None)
    )
    assert apply_patch(full(), patch).conditions is None


def test_replacing_sets_every_field_defaults_included() -> None:
    bare = ScheduleDefinition(spec="@hourly", job=Job(shell="true"))
    assert apply_patch(full(), replacing(bare)) == bare
    assert apply_patch(bare, replacing(full())) == full()


def test_old_whole_part_patches_still_decode() -> None:
    """An update sent by an older client (whole nested parts) decodes as a nested patch."""
    old = b'{"retry": {"max_attempts": 3}, "conditions": {"max_cpu_percent": 50.0}}'
    patch = msgspec.json.decode(old, type=DefinitionPatch)
    assert patch.retry == RetryPatch(max_attempts=3)
    assert patch.conditions == ConditionsPatch(max_cpu_percent=50.0)


def test_a_job_switched_to_a_command_drops_the_actions_params() -> None:
    action = msgspec.structs.replace(full(), job=Job(action="set_level", params={"level": 80}))
    patch = DefinitionPatch(job=JobPatch(command=["echo"], shell=None, action=None))
    assert apply_patch(action, patch).job == Job(command=["echo"])


def test_params_stored_with_a_command_before_they_were_refused_go_on_the_next_update() -> None:
    legacy = msgspec.structs.replace(full(), job=Job(command=["backup"], params={"x": 1}))
    assert apply_patch(legacy, DefinitionPatch(tags=["b"])).job == Job(command=["backup"])


def test_params_the_patch_sets_are_kept_for_validation_to_refuse() -> None:
    patch = DefinitionPatch(job=JobPatch(params={"x": 1}))
    assert apply_patch(full(), patch).job.params == {"x": 1}
    with pytest.raises(CommandRejected, match=r"params \(x\) go with an action"):
        validate_definition(apply_patch(full(), patch))
