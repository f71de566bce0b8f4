"""Definition options: the allowed values come from the domain's Literals, not a copy."""

from __future__ import annotations

import typing

import pytest
from typer.testing import CliRunner

from jetcron.cli.main import app
from jetcron.cli.options import DefinitionOptions, patch_of
from jetcron.domain.definition import CatchUp, CatchUpPolicy, Overlap
from jetcron.domain.events import RunStatus
from jetcron.errors import InvalidInput
from jetcron.projections.runs import FINAL_STATUSES, OUTCOMES


@pytest.mark.parametrize("value", typing.get_args(Overlap))
def test_every_overlap_policy_is_accepted(value: str) -> None:
    assert patch_of(DefinitionOptions(overlap=value)).overlap == value


@pytest.mark.parametrize("value", typing.get_args(CatchUpPolicy))
def test_every_catchup_policy_is_accepted(value: str) -> None:
    catchup = patch_of(DefinitionOptions(catchup=value)).catchup
    assert isinstance(catchup, CatchUp) and catchup.policy == value


@pytest.mark.parametrize(
    ("options", "flag", "allowed"),
    [
        pytest.param(DefinitionOptions(overlap="queue"), "--overlap", Overlap, id="overlap"),
        pytest.param(DefinitionOptions(catchup="some"), "--catchup", CatchUpPolicy, id="catchup"),
    ],
)
def test_an_unknown_value_names_every_allowed_one(
    options: DefinitionOptions, flag: str, allowed: object
) -> None:
    with pytest.raises(
        InvalidInput, match=f"{flag} .*: use one of {', '.join(typing.get_args(allowed))}$"
    ):
        patch_of(options)


def test_run_status_filter_names_every_status() -> None:
    result = CliRunner().invoke(app, ["runs", "list", "--status", "exploded"])

    assert result.exit_code != 0
    assert f"one of {', '.join(typing.get_args(RunStatus))}" in " ".join(result.stderr.split())


def test_every_status_the_runs_view_sets_is_a_run_status() -> None:
    statuses = set(typing.get_args(RunStatus))
    assert set(OUTCOMES.values()) | FINAL_STATUSES <= statuses
