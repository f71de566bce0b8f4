"""Definition options: generated from the fields table, allowed values from the domain's Literals."""

from __future__ import annotations

import re
import typing
from pathlib import Path

import pytest
from typer.testing import CliRunner

from jetcron.cli.main import app
from jetcron.cli.options import OPTIONS, flag, patch_for_update
from jetcron.domain.definition import CatchUpPatch, CatchUpPolicy, Overlap
from jetcron.domain.fields import FIELDS
from jetcron.domain.runs import RunStatus
from jetcron.errors import InvalidInput
from jetcron.projections.runs import FINAL_STATUSES, OUTCOMES

README = Path(__file__).resolve().parents[2] / "README.md"


@pytest.mark.parametrize("value", typing.get_args(Overlap))
def test_every_overlap_policy_is_accepted(value: str) -> None:
    assert patch_for_update(None, None, {"overlap": value}).overlap == value


@pytest.mark.parametrize("value", typing.get_args(CatchUpPolicy))
def test_every_catchup_policy_is_accepted(value: str) -> None:
    assert patch_for_update(None, None, {"catchup": value}).catchup == CatchUpPatch(policy=value)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("options", "flag_", "allowed"),
    [
        pytest.param({"overlap": "queue"}, "--overlap", Overlap, id="overlap"),
        pytest.param({"catchup": "some"}, "--catchup", CatchUpPolicy, id="catchup"),
    ],
)
def test_an_unknown_value_names_every_allowed_one(
    options: dict[str, str], flag_: str, allowed: object
) -> None:
    with pytest.raises(
        InvalidInput, match=f"^{flag_}: .*: use one of {', '.join(typing.get_args(allowed))}$"
    ):
        patch_for_update(None, None, options)


def test_every_field_but_the_arguments_is_an_option_named_like_its_key() -> None:
    assert set(OPTIONS) == set(FIELDS) - {"spec", "command"}
    for key in OPTIONS:
        # why: repeatable options read singular (--tag for tags), all others are the key itself
        assert flag(key).removeprefix("--").replace("-", "_") in (key, key.rstrip("s"), "meta")


def test_help_lists_every_option_with_its_default() -> None:
    shown = " ".join(
        CliRunner()
        .invoke(app, ["schedule", "update", "--help"], env={"COLUMNS": "200"})
        .stdout.split()
    )
    for key in OPTIONS:
        assert flag(key) in shown, key
    assert "Default: 1h." in shown and "--no-conditions" in shown and "--reset" in shown


def test_the_readme_names_every_option() -> None:
    text = README.read_text()
    missing = [flag(k) for k in OPTIONS if not re.search(re.escape(flag(k)) + r"\b", text)]
    assert missing == []


def test_run_status_filter_names_every_status() -> None:
    result = CliRunner().invoke(app, ["runs", "list", "--status", "exploded"])

    assert result.exit_code != 0
    assert f"one of {', '.join(typing.get_args(RunStatus))}" in " ".join(result.stderr.split())


def test_every_status_the_runs_view_sets_is_a_run_status() -> None:
    statuses = set(typing.get_args(RunStatus))
    assert set(OUTCOMES.values()) | FINAL_STATUSES <= statuses
