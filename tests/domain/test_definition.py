"""The definition and its patch: every field an update can set exists, with the same type."""

from __future__ import annotations

import types
import typing
from typing import Any

import msgspec
import pytest

from jetcron.domain.definition import DefinitionPatch, Job, ScheduleDefinition, apply_patch

PATCH = typing.get_type_hints(DefinitionPatch)
DEFINITION = typing.get_type_hints(ScheduleDefinition)


def members(tp: Any) -> frozenset[Any]:
    """The types a (union) annotation admits."""
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        return frozenset(typing.get_args(tp))
    return frozenset([tp])


@pytest.mark.parametrize("name", DefinitionPatch.__struct_fields__)
def test_every_patch_field_is_a_definition_field_of_the_same_type(name: str) -> None:
    assert name in DEFINITION, f"DefinitionPatch.{name} is not a ScheduleDefinition field"
    # why: a patch field is the definition's type plus UNSET ("keep the old value")
    assert members(PATCH[name]) == members(DEFINITION[name]) | {msgspec.UnsetType}


def test_every_definition_field_can_be_patched() -> None:
    assert set(ScheduleDefinition.__struct_fields__) == set(DefinitionPatch.__struct_fields__)


def test_an_empty_patch_changes_nothing() -> None:
    d = ScheduleDefinition(spec="@daily", job=Job(shell="true"), max_runs=3)
    assert apply_patch(d, DefinitionPatch()) == d
