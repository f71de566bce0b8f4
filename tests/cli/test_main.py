"""The command tree: loaded on demand, help in words, and no NATS import where none is needed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from jetcron.cli import tree

runner = CliRunner()
SRC = str(Path(__file__).resolve().parents[2] / "src")


@pytest.mark.parametrize("name", list(tree.COMMANDS))
def test_the_listing_says_what_each_command_says_of_itself(name: str) -> None:
    loaded = tree.load(name)

    assert tree.COMMANDS[name][1] == (loaded.help or "").strip().splitlines()[0]


@pytest.mark.parametrize(
    "args", [[], ["runs", "list"], ["schedule", "add"], ["health"], ["preview"], ["up"]]
)
def test_help_names_types_in_words_and_lists_the_global_options(args: list[str]) -> None:
    result = runner.invoke(tree.app, [*args, "--help"], env={"COLUMNS": "100"})

    assert result.exit_code == 0, result.output
    assert "<" not in result.stdout.replace("<tag>", "")  # no <bool>, <str>, <int>
    # why: preview connects too, to read the calendars it is asked to honour
    assert "--server" in result.stdout and "--creds" in result.stdout


SNIFF = """
import sys
sys.argv = ["jetcron", *sys.argv[1:]]
from jetcron.cli.main import main
try:
    main()
except SystemExit:
    pass
heavy = ("nats", "asyncio", "pydantic", "rich", "jetcron.client", "typer")
print(sorted(m for m in heavy if m in sys.modules))
"""


@pytest.mark.parametrize(
    ("args", "imported"),
    [
        (["--version"], []),
        (["--help"], ["typer"]),
        (["preview", "0 3 * * *"], ["typer"]),
    ],
)
def test_commands_that_need_no_server_import_no_nats(args: list[str], imported: list[str]) -> None:
    env = {**os.environ, "PYTHONPATH": SRC, "COLUMNS": "100"}
    done = subprocess.run(
        [sys.executable, "-c", SNIFF, *args], capture_output=True, text=True, env=env, timeout=30
    )

    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == str(imported)
    assert done.stdout.strip() != str(imported)  # it printed its answer too


def test_plain_values_are_converted_without_pydantic_and_bad_ones_say_so() -> None:
    bad = runner.invoke(tree.app, ["preview", "@daily", "-n", "two"])
    good = runner.invoke(tree.app, ["preview", "@daily", "-n", "2", "--json"])

    assert bad.exit_code == 2 and "'two' is not a valid integer" in bad.output
    assert good.exit_code == 0 and good.stdout.count('"utc"') == 2
