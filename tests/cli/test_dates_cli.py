"""A date that does not exist, said the same way by every time option, before anything is
asked of NATS (newcomer19a #6)."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from jetcron.cli.main import app


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (
            ["schedule", "add", "b29", "0 9 * * *", "--start", "2027-02-30", "--", "true"],
            "--start: '2027-02-30' does not exist: February 2027 has 28 days",
        ),
        (
            ["preview", "0 9 * * *", "--after", "2026-02-30T09:00"],
            "invalid time '2026-02-30T09:00': '2026-02-30' does not exist",
        ),
        (["runs", "list", "--since", "2026-02-30"], "'2026-02-30' does not exist"),
    ],
    ids=["start", "preview-after", "since"],
)
def test_the_cli_says_it_before_it_asks_anything(args: list[str], said: str) -> None:
    result = CliRunner().invoke(app, [*args, "--server", "nats://127.0.0.1:1"])
    assert result.exit_code == 2, result.output
    assert said in result.stderr
