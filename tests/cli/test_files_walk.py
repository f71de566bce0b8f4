"""`jetcron apply -f DIR`: which files a directory contributes, and a file it would not read
refuses the whole directory (so `--prune` never deletes what that file defines)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from served import cli, listed

from jetcron.cli import files

TICK = {"spec": "@every 30s", "shell": "echo tick"}
OTHERS = {name: {"spec": "@daily", "command": ["true"]} for name in ("a", "b", "c")}
TICK_YAML = 'schedules:\n  tick:\n    spec: "@every 30s"\n    shell: "echo tick"\n'
TICK_TOML = '[schedules.tick]\nspec = "@every 30s"\nshell = "echo tick"\n'


def apply(server: str, path: Path, *extra: str) -> Any:
    return cli(server, "apply", "-f", str(path), *extra)


def flat(text: str) -> str:
    """Output without rich's line wrapping."""
    return " ".join(text.split())


def live_four(server: str, tmp_path: Path) -> None:
    """tick, a, b and c live, applied from one file."""
    (tmp_path / "all.json").write_text(json.dumps({"schedules": {"tick": TICK, **OTHERS}}))
    assert apply(server, tmp_path / "all.json").exit_code == 0
    assert set(listed(server)) == {"tick", "a", "b", "c"}


@pytest.mark.parametrize(
    ("name", "content", "why"),
    [
        ("tick.yaml", TICK_YAML, "tick.yaml: .yaml files are not read; use .toml or .json"),
        ("tick.yml", TICK_YAML, "tick.yml: .yml files are not read; use .toml or .json"),
        ("tick.JSN", json.dumps({"schedules": {"tick": TICK}}), "tick.JSN: .JSN files are not read (did you mean .json?)"),
        ("tick.tml", "", "tick.tml: .tml files are not read (did you mean .toml?)"),
        ("tick.conf", TICK_TOML, "tick.conf: holds schedules, calendars or notifications but is not read"),
        ("tick", json.dumps({"schedules": {"tick": TICK}}), "tick: holds schedules, calendars or notifications but is not read"),
    ],
    ids=["yaml", "yml", "jsn-upper", "tml-empty", "toml-as-conf", "json-no-suffix"],
)  # fmt: skip
def test_a_definition_the_walk_would_skip_refuses_the_directory_and_prune_deletes_nothing(
    scheduler: str, tmp_path: Path, name: str, content: str, why: str
) -> None:
    live_four(scheduler, tmp_path)
    (tmp_path / "defs").mkdir()
    (tmp_path / "defs" / "main.json").write_text(json.dumps({"schedules": OTHERS}))
    (tmp_path / "defs" / name).write_text(content)
    for extra in (["--dry-run"], ["--yes"]):
        result = apply(scheduler, tmp_path / "defs", "--prune", *extra)
        assert result.exit_code == 2, result.output
        assert f"{tmp_path / 'defs'}/{why}" in flat(result.stderr)
        assert "nothing was changed" in flat(result.stderr)
        assert "delete" not in result.output
    assert set(listed(scheduler)) == {"tick", "a", "b", "c"}


def test_suffixes_are_read_in_any_case(scheduler: str, tmp_path: Path) -> None:
    (tmp_path / "up").mkdir()
    (tmp_path / "up" / "Good.TOML").write_text(TICK_TOML)
    (tmp_path / "up" / "More.Json").write_text(json.dumps({"schedules": OTHERS}))
    planned = apply(scheduler, tmp_path / "up", "--dry-run")
    assert planned.exit_code == 0, planned.output
    assert "nothing to change" not in planned.output
    assert apply(scheduler, tmp_path / "up" / "Good.TOML").exit_code == 0
    assert set(listed(scheduler)) == {"tick"}
    assert apply(scheduler, tmp_path / "up").exit_code == 0
    assert set(listed(scheduler)) == {"tick", "a", "b", "c"}


@pytest.mark.parametrize("other", [None, "README.md"], ids=["empty", "readme-only"])
def test_a_directory_with_no_definition_file_is_an_error_not_a_prune_of_everything(
    scheduler: str, tmp_path: Path, other: str | None
) -> None:
    live_four(scheduler, tmp_path)
    (tmp_path / "none").mkdir()
    if other:
        (tmp_path / "none" / other).write_text("# schedules\n\nSee `jetcron apply`.\n")
    for extra in ([], ["--prune", "--dry-run"], ["--prune", "--yes"]):
        result = apply(scheduler, tmp_path / "none", *extra)
        assert result.exit_code == 2, result.output
        assert f"{tmp_path / 'none'}: no .toml or .json file in it" in flat(result.stderr)
    assert set(listed(scheduler)) == {"tick", "a", "b", "c"}


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("y.yaml", "y.yaml: .yaml files are not read; use .toml or .json"),
        ("y.jsno", "y.jsno: .jsno files are not read (did you mean .json?); use .toml or .json"),
        ("y", "y: files without a .toml or .json suffix are not read; use .toml or .json"),
    ],
    ids=["yaml", "near-miss", "no-suffix"],
)
def test_a_single_file_with_another_suffix_is_refused_by_name(
    scheduler: str, tmp_path: Path, name: str, why: str
) -> None:
    (tmp_path / name).write_text(TICK_YAML)
    result = apply(scheduler, tmp_path / name)
    assert result.exit_code == 2, result.output
    assert flat(result.stderr) == f"error: {tmp_path}/{why}"
    assert listed(scheduler) == {}


def test_readmes_secrets_hidden_files_and_backups_pass_silently(tmp_path: Path) -> None:
    conf = tmp_path / "conf"
    for folder in (".git", ".vscode", "sub"):
        (conf / folder).mkdir(parents=True)
    (conf / "s.toml").write_text(
        '[schedules.db]\nspec = "@hourly"\ncommand = ["backup"]\nsecret_env = { PW = "@pw.txt" }\n'
    )
    (conf / "sub" / "t.json").write_text(json.dumps({"schedules": {"tick": TICK}}))
    (conf / "pw.txt").write_text("pa55\n")
    (conf / "README.md").write_text("Schedules. `schedules:` and [schedules.x] in prose.\n")
    for leftover in ("s.toml~", ".#s.toml", ".s.toml.swp", "s.toml.bak", "#s.toml#", "s.yaml.orig"):
        (conf / leftover).write_text(TICK_YAML)
    (conf / ".git" / "x.json").write_text("not json")
    (conf / ".vscode" / "settings.json").write_text('{"editor.tabSize": 4}')
    assert files.files_in(conf) == [conf / "s.toml", conf / "sub" / "t.json"]
    assert set(files.load_desired(conf)) == {"db", "tick"}
