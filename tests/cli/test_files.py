"""`jetcron apply` / `export`: schedules kept as files, reconciled into the live system."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from pathlib import Path

import nats
import pytest
from typer.testing import CliRunner

from jetcron import service
from jetcron.cli.main import app

runner = CliRunner()

TOML = """
[schedules.reef-lights-on]
spec = "0 9 * * *"
tz = "Europe/Berlin"
target = "reef-pi"
job = { action = "set_level", params = { channel = "blue", level = 80 } }

[schedules.nas-rebalance]
spec = "@every 1h"
job = { command = ["/usr/local/bin/rebalance", "--pool", "tank"] }
conditions = { disk_path = "/tank", disk_above_percent = 85 }
"""


@pytest.fixture
def scheduler(nats_url: str) -> Iterator[str]:
    """A scheduler service in a background thread (the CLI runs its own event loop)."""
    loop = asyncio.new_event_loop()
    ready, stop = threading.Event(), None

    async def main() -> None:
        nonlocal stop
        stop = asyncio.Event()
        nc = await nats.connect(nats_url)
        up = asyncio.Event()
        task = asyncio.create_task(service.run(nc, stop=stop, ready=up))
        await up.wait()
        ready.set()
        await task
        await nc.close()

    thread = threading.Thread(target=loop.run_until_complete, args=(main(),), daemon=True)
    thread.start()
    assert ready.wait(20)
    yield nats_url
    loop.call_soon_threadsafe(stop.set)  # type: ignore[union-attr]
    thread.join(20)
    loop.close()


def cli(server: str, *args: str) -> object:
    return runner.invoke(app, [*args, "--server", server])


def test_apply_plan_apply_export_prune(scheduler: str, tmp_path: Path) -> None:
    (tmp_path / "defs").mkdir()
    (tmp_path / "defs" / "reef.toml").write_text(TOML)
    plan = cli(scheduler, "apply", "-f", str(tmp_path / "defs"), "--dry-run")
    assert plan.exit_code == 0 and "create" in plan.stdout and "reef-lights-on" in plan.stdout
    assert json.loads(cli(scheduler, "schedule", "list", "--json").stdout) == []

    assert cli(scheduler, "apply", "-f", str(tmp_path / "defs")).exit_code == 0
    assert "up to date" in cli(scheduler, "apply", "-f", str(tmp_path / "defs")).stdout

    exported = cli(scheduler, "export")
    assert exported.exit_code == 0
    data = json.loads(exported.stdout)
    assert data["schedules"]["reef-lights-on"]["job"]["params"] == {"channel": "blue", "level": 80}
    data["schedules"]["nas-rebalance"]["spec"] = "@every 2h"
    del data["schedules"]["reef-lights-on"]
    (tmp_path / "edited.json").write_text(json.dumps(data))
    pruned = cli(scheduler, "apply", "-f", str(tmp_path / "edited.json"), "--prune")
    assert pruned.exit_code == 0 and "update" in pruned.stdout and "delete" in pruned.stdout
    rows = json.loads(cli(scheduler, "schedule", "list", "--json").stdout)
    assert [(r["name"], r["spec"]) for r in rows] == [("nas-rebalance", "@every 2h")]


@pytest.mark.parametrize(
    ("content", "suffix", "needle"),
    [
        ('[schedules.x]\nspecc = "@daily"\n', ".toml", "schedules.x: unknown field 'specc'"),
        (
            '[schedules.x]\nspec = "@daily"\njob = { comand = ["true"] }\n',
            ".toml",
            "schedules.x.job: unknown field 'comand'",
        ),
        (
            '{"schedules": {"x": {"spec": "61 * * * *", "job": {"command": ["true"]}}}}',
            ".json",
            "schedules.x: invalid spec",
        ),
        (
            '{"schedules": {"x": {"spec": "@daily", "job": {"command": "true"}}}}',
            ".json",
            "schedules.x: Expected `array | null`, got `str` - at `$.job.command`",
        ),
        ("[schedules.x\n", ".toml", "bad.toml"),
    ],
    ids=["unknown-field", "unknown-nested-field", "bad-spec", "wrong-type", "syntax"],
)
def test_bad_files_name_the_file_and_field(
    scheduler: str, tmp_path: Path, content: str, suffix: str, needle: str
) -> None:
    path = tmp_path / f"bad{suffix}"
    path.write_text(content)
    result = cli(scheduler, "apply", "-f", str(path))
    assert result.exit_code == 2, result.output
    assert str(path) in result.stderr.replace("\n", "") and needle in result.stderr.replace(
        "\n", ""
    )
    assert json.loads(cli(scheduler, "schedule", "list", "--json").stdout) == []
