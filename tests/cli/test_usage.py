"""Usage errors are one `error:` line with exit 2, help stays click's, a closed pipe is quiet."""

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


@pytest.mark.parametrize(
    ("args", "said"),
    [
        pytest.param(
            ["schedule", "add", "x", "@daily", "--tiemout", "1m", "--", "true"],
            "error: no such option --tiemout (did you mean --timeout",
            id="option-typo",
        ),
        pytest.param(
            ["preveiw"], "error: no such command 'preveiw' (did you mean 'preview'?)", id="command"
        ),
        pytest.param(
            ["runs", "lsit"], "error: no such command 'lsit' (did you mean 'list'", id="subcommand"
        ),
        pytest.param(
            ["runs", "run", "x"],
            "error: no such command 'run' (did you mean `jetcron schedule trigger NAME`?)",
            id="in-another-group",
        ),
        pytest.param(
            ["run", "x"],
            "error: no such command 'run' (did you mean 'runs', or `jetcron schedule trigger NAME`?)",
            id="close-and-elsewhere",
        ),
        pytest.param(
            ["--bogus", "status"],
            "error: no such option --bogus (did you mean --verbose?)",
            id="root-option",
        ),  # fmt: skip
        pytest.param(
            ["preview"],
            "error: missing argument 'SPEC' (see `jetcron preview --help`)",
            id="missing-argument",
        ),
        pytest.param(
            ["runs", "list", "--limit", "abc"],
            "error: invalid value for '--limit': 'abc' is not a valid integer",
            id="bad-value",
        ),
        pytest.param(
            ["preview", "@daily", "-x"],
            "error: no such option -x (see `jetcron preview --help`)",
            id="no-guess",
        ),
    ],
)
def test_usage_errors_are_one_line_and_exit_2(args: list[str], said: str) -> None:
    result = runner.invoke(tree.app, args, prog_name="jetcron")

    assert result.exit_code == 2
    assert result.stdout == ""
    assert len(result.stderr.splitlines()) == 1, result.stderr
    assert result.stderr.startswith(said), result.stderr


def test_help_and_a_bare_group_still_show_the_help() -> None:
    helped = runner.invoke(tree.app, ["preview", "--help"], prog_name="jetcron")
    bare = runner.invoke(tree.app, ["runs"], prog_name="jetcron")

    assert helped.exit_code == 0
    assert helped.stdout.startswith("Usage: jetcron preview [OPTIONS] SPEC\n")
    # preview connects only to read the calendars it is asked to honour
    assert "--server" in helped.stdout and "--exclude CAL" in helped.stdout
    assert "Usage: jetcron runs [OPTIONS] COMMAND" in bare.output


def test_a_reader_that_closes_the_pipe_ends_the_command_quietly() -> None:
    env = {**os.environ, "PYTHONPATH": SRC}
    script = "from jetcron.cli.main import main; main()"
    command = [sys.executable, "-c", script, "preview", "@every 1m", "-n", "5000"]
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env) as p:
        assert p.stdout is not None and p.stderr is not None
        first = p.stdout.readline()
        p.stdout.close()  # what `| head -1` does
        stderr = p.stderr.read()
        code = p.wait(30)

    assert first == b"@every 1m (UTC)\n"
    assert (code, stderr) == (0, b"")


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["runs", "list", "--limit", "0"], "'--limit': must be from 1 to 10000, not 0"),
        (["runs", "list", "--limit", "-5"], "'--limit': must be from 1 to 10000, not -5"),
        (["runs", "list", "--limit", "10001"], "'--limit': must be from 1 to 10000, not 10001"),
        (["fires", "x", "--limit", "0"], "'--limit': must be from 1 to 10000, not 0"),
        (["schedule", "next", "x", "-n", "0"], "'-n': must be from 1 to 10000, not 0"),
        (["runs", "follow", "-n", "0"], "'--count' / '-n': must be at least 1, not 0"),
    ],
)
def test_limits_out_of_range_are_refused_before_connecting(args: list[str], said: str) -> None:
    nowhere = "nats://127.0.0.1:1"  # why: the check must come first, no server is asked
    result = runner.invoke(tree.app, ["-s", nowhere, *args], prog_name="jetcron")

    assert result.exit_code == 2
    assert len(result.stderr.splitlines()) == 1
    assert result.stderr.startswith(f"error: invalid value for {said} (see `jetcron "), (
        result.stderr
    )
