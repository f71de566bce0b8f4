"""The command tree: loaded on demand, help in words, and no NATS import where none is needed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from jetcron.cli import main

runner = CliRunner()
SRC = str(Path(__file__).resolve().parents[2] / "src")


@pytest.mark.parametrize("name", list(main.COMMANDS))
def test_the_listing_says_what_each_command_says_of_itself(name: str) -> None:
    loaded = main.load(name)

    assert main.COMMANDS[name][1] == (loaded.help or "").strip().splitlines()[0]


@pytest.mark.parametrize(
    "args", [[], ["runs", "list"], ["schedule", "add"], ["health"], ["preview"], ["up"]]
)
def test_help_names_types_in_words_and_lists_the_global_options(args: list[str]) -> None:
    result = runner.invoke(main.app, [*args, "--help"], env={"COLUMNS": "100"})

    assert result.exit_code == 0, result.output
    assert "<" not in result.stdout.replace("<tag>", "")  # no <bool>, <str>, <int>
    assert "--server" in result.stdout and "--creds" in result.stdout


SNIFF = """
import sys
sys.argv = ["jetcron", *sys.argv[1:]]
from jetcron.cli.main import main
try:
    main()
except SystemExit:
    pass
print(sorted(m for m in ("nats", "asyncio", "pydantic", "rich", "jetcron.client") if m in sys.modules))
"""


@pytest.mark.parametrize("args", [["--version"], ["--help"], ["preview", "0 3 * * *"]])
def test_commands_that_need_no_server_import_no_nats(args: list[str]) -> None:
    env = {**os.environ, "PYTHONPATH": SRC, "COLUMNS": "100"}
    done = subprocess.run(
        [sys.executable, "-c", SNIFF, *args], capture_output=True, text=True, env=env, timeout=30
    )

    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == "[]"


def test_plain_values_are_converted_without_pydantic_and_bad_ones_say_so() -> None:
    bad = runner.invoke(main.app, ["preview", "@daily", "-n", "two"])
    good = runner.invoke(main.app, ["preview", "@daily", "-n", "2", "--json"])

    assert bad.exit_code == 2 and "'two' is not a valid integer." in bad.output
    assert good.exit_code == 0 and good.stdout.count('"utc"') == 2
