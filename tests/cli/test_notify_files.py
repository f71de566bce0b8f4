"""Notification sinks in `jetcron apply` / `export` files, against a live scheduler service:
they travel with the schedules, export then apply changes nothing, signing keys never leave the
bucket, bad input is one line and appends nothing."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import nats
from served import cli, listed
from test_notify_cli import last_seq

from jetcron.log.secrets import get_hook_secret


def hook_secret(url: str, key: str) -> str | None:
    async def read() -> str | None:
        nc = await nats.connect(url)
        try:
            return await get_hook_secret(nc, key)
        finally:
            await nc.close()

    return asyncio.run(read())


def sinks(url: str) -> dict[str, Any]:
    result = cli(url, "notify", "list", "--json")
    assert result.exit_code == 0, result.output
    return {r["name"]: r for r in json.loads(result.stdout)}


def apply(url: str, path: Path, *extra: str) -> Any:
    return cli(url, "apply", "-f", str(path), *extra)


def flat(text: str) -> str:
    return " ".join(text.split())


DEFS = """
[schedules.backup]
spec = "0 3 * * *"
command = ["true"]

[notifications.ops]
webhook = "https://hooks.example/ops"
secret = "@ops.secret"
on = ["failure", "timeout"]
schedules = ["backup"]

[notifications.bus]
subject = "ops.alerts"
window = "5m"
"""


def test_sinks_apply_export_and_apply_again_change_nothing(scheduler: str, tmp_path: Path) -> None:
    (tmp_path / "ops.secret").write_text("s3cr3t\n")
    (tmp_path / "defs.toml").write_text(DEFS)
    dry = apply(scheduler, tmp_path / "defs.toml", "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert "notifications (dry run)" in dry.stdout and sinks(scheduler) == {}
    assert hook_secret(scheduler, "ops.file") is None  # a dry run puts nothing

    done = apply(scheduler, tmp_path / "defs.toml")
    assert done.exit_code == 0, done.output
    live = sinks(scheduler)
    assert set(live) == {"ops", "bus"} and live["ops"]["signed"]
    assert live["ops"]["notification"]["on"] == ["failure", "timeout"]
    assert live["bus"]["notification"]["window_s"] == 300
    assert hook_secret(scheduler, "ops.file") == "s3cr3t"
    again = apply(scheduler, tmp_path / "defs.toml")
    assert again.stdout.strip() == "up to date: nothing to change; 1 secret(s) put again"

    exported = cli(scheduler, "export")
    assert exported.exit_code == 0, exported.output
    doc = json.loads(exported.stdout)
    assert doc["notifications"] == {
        "bus": {"subject": "ops.alerts", "window": "5m"},
        "ops": {
            "webhook": "https://hooks.example/ops",
            "secret": "kv:ops.file",
            "on": ["failure", "timeout"],
            "schedules": ["backup"],
        },
    }
    assert "s3cr3t" not in exported.stdout
    assert 'for another cluster give each as secret = "@FILE"' in flat(exported.stderr)
    (tmp_path / "exported.json").write_text(exported.stdout)
    before = last_seq(scheduler)
    round_trip = apply(scheduler, tmp_path / "exported.json", "--prune")
    assert (round_trip.exit_code, round_trip.stdout.strip()) == (
        0,
        "up to date: nothing to change",
    ), round_trip.output
    assert last_seq(scheduler) == before


def test_an_edited_sink_is_updated_in_place_and_prune_removes_the_rest(
    scheduler: str, tmp_path: Path
) -> None:
    (tmp_path / "ops.secret").write_text("s3cr3t")
    (tmp_path / "defs.toml").write_text(DEFS)
    assert apply(scheduler, tmp_path / "defs.toml").exit_code == 0
    assert cli(scheduler, "notify", "add", "by-hand", "--subject", "ops.hand").exit_code == 0
    added_at = sinks(scheduler)["ops"]["added_at"]

    edited = DEFS.replace('on = ["failure", "timeout"]', 'on = ["failure"]').replace(
        'secret = "@ops.secret"\n', ""
    )
    (tmp_path / "defs.toml").write_text(edited)
    no_yes = apply(scheduler, tmp_path / "defs.toml", "--prune", "--dry-run")
    assert no_yes.exit_code == 0, no_yes.output
    plan = flat(no_yes.stdout)
    assert "update ops" in plan and "on: failure, timeout → failure" in plan
    assert "secret: removed" in plan and "delete by-hand" in plan

    done = apply(scheduler, tmp_path / "defs.toml", "--prune")
    assert done.exit_code == 0, done.output
    live = sinks(scheduler)
    assert set(live) == {"ops", "bus"}
    assert (live["ops"]["signed"], live["ops"]["notification"]["on"]) == (False, ["failure"])
    assert live["ops"]["added_at"] == added_at  # the same sink, its record kept
    assert hook_secret(scheduler, "ops.file") is None  # the key it no longer signs with: purged
    audit = cli(scheduler, "audit", "ops").stdout
    assert "notification updated" in audit, audit


def test_prune_leaves_sinks_alone_when_the_files_have_no_notifications_table(
    scheduler: str, tmp_path: Path
) -> None:
    assert cli(scheduler, "notify", "add", "ops", "--subject", "ops.alerts").exit_code == 0
    (tmp_path / "s.json").write_text(json.dumps({"schedules": {}}))
    result = apply(scheduler, tmp_path / "s.json", "--prune")
    assert result.exit_code == 0, result.output
    assert "the notification sinks are left alone" in flat(result.stderr)
    assert set(sinks(scheduler)) == {"ops"}

    (tmp_path / "n.json").write_text(json.dumps({"notifications": {}}))
    refused = apply(scheduler, tmp_path / "n.json", "--prune")
    assert refused.exit_code == 2
    assert "refusing to delete 1 of 1 live notification sinks without --yes (ops)" in flat(
        refused.stderr
    )
    assert set(sinks(scheduler)) == {"ops"}
    dry = apply(scheduler, tmp_path / "n.json", "--prune", "--dry-run")
    assert dry.exit_code == 2 and "the real run refuses this plan" in flat(dry.stderr)
    assert apply(scheduler, tmp_path / "n.json", "--prune", "--yes").exit_code == 0
    assert sinks(scheduler) == {}


def test_a_file_exported_elsewhere_names_a_key_this_cluster_lacks(
    scheduler: str, tmp_path: Path
) -> None:
    doc = {"notifications": {"ops": {"webhook": "https://h/x", "secret": "kv:ops.abc123"}}}
    (tmp_path / "moved.json").write_text(json.dumps(doc))
    before = last_seq(scheduler)
    result = apply(scheduler, tmp_path / "moved.json")
    assert result.exit_code == 2
    assert flat(result.stderr) == (
        f"error: {tmp_path / 'moved.json'}: notifications.ops.secret: kv:ops.abc123 is not in "
        "this cluster's webhook secrets (a file exported from another cluster?): give the "
        'signing key as "@FILE"; nothing was changed'
    )
    assert last_seq(scheduler) == before


BAD = [
    ({"ops": {"webhok": "https://h/x"}}, "notifications.ops: unknown key 'webhok' (did you mean 'webhook'?)"),
    ({"ops": {}}, "notifications.ops: a notification needs exactly one of webhook, command, subject"),
    ({"ops": {"webhook": "ftp://h/x"}}, "notifications.ops: invalid webhook 'ftp://h/x'"),
    ({"ops": {"webhook": "https://h/x", "secret": "s3cr3t"}}, "notifications.ops.secret: a signing key is never written in a file"),
    ({"ops": {"webhook": "https://h/x", "secret": "@nope.secret"}}, "notifications.ops.secret: cannot read"),
    ({"ops": {"subject": "a", "on": "failure"}}, "notifications.ops.on: 'failure': must be"),
    ({"ops": {"subject": "a", "on": ["failed"]}}, "notifications.ops: unknown on kind 'failed'"),
    ({"ops": {"subject": "a", "window": "soon"}}, "notifications.ops: window: invalid duration 'soon'"),
    ({"ops": {"subject": "a", "schedules": ["helo"]}}, "notifications.ops.schedules: no schedule 'helo' (did you mean 'hello'?) (allow_missing = true for one still to come); nothing was changed"),
    ({"bad name": {"subject": "a"}}, "notifications.bad name: invalid notification name 'bad name'"),
    ("x", "'notifications' must be a table/object of name -> fields"),
]  # fmt: skip


def test_bad_sinks_are_one_line_exit_2_and_append_nothing(scheduler: str, tmp_path: Path) -> None:
    assert cli(scheduler, "schedule", "add", "hello", "@daily", "--", "true").exit_code == 0
    before = last_seq(scheduler)
    for table, says in BAD:
        path = tmp_path / "bad.json"
        path.write_text(json.dumps({"notifications": table}))
        result = apply(scheduler, path)
        assert result.exit_code == 2, (table, result.output)
        line = flat(result.stderr)
        assert str(path) in line and says in line, (says, line)
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert last_seq(scheduler) == before and sinks(scheduler) == {}

    later = {"ops": {"subject": "a", "schedules": ["not-yet"], "allow_missing": True}}
    (tmp_path / "later.json").write_text(json.dumps({"notifications": later}))
    assert apply(scheduler, tmp_path / "later.json").exit_code == 0
    doc = json.loads(cli(scheduler, "export").stdout)
    assert doc["notifications"]["ops"]["allow_missing"] is True  # so it applies again as is


def test_an_empty_toml_with_prune_plans_nothing_and_a_directory_needs_a_table(
    scheduler: str, tmp_path: Path
) -> None:
    assert cli(scheduler, "schedule", "add", "hello", "@daily", "--", "true").exit_code == 0
    (tmp_path / "empty.toml").write_text("")
    result = apply(scheduler, tmp_path / "empty.toml", "--prune", "--dry-run")
    assert result.exit_code == 2 and "empty file" in result.stderr and result.stdout == ""

    folder = tmp_path / "defs"
    folder.mkdir()
    (folder / "none.json").write_text("{}")
    refused = apply(scheduler, folder, "--prune")
    assert refused.exit_code == 2
    assert "no file in it has a schedules, calendars or notifications table" in flat(refused.stderr)
    (folder / "hello.json").write_text(
        json.dumps({"schedules": {"hello": {"spec": "@daily", "command": ["true"]}}})
    )
    assert apply(scheduler, folder, "--prune").exit_code == 0  # none.json is passed over
    assert set(listed(scheduler)) == {"hello"}


def test_a_key_kept_in_an_old_log_is_never_exported_and_the_export_says_so(
    scheduler: str,
) -> None:
    from datetime import UTC, datetime

    from jetcron import ids
    from jetcron.client import send_command
    from jetcron.domain.commands import AddNotification
    from jetcron.domain.notifications import Notification, Sink

    old = Notification(name="old", sink=Sink(webhook="https://h/x", secret="inline-s3cr3t"))
    command = AddNotification(
        name="old", command_id=ids.new_id(), at=datetime.now(UTC), actor="t", notification=old
    )

    async def add() -> None:
        nc = await nats.connect(scheduler)
        try:
            await send_command(nc, command)
        finally:
            await nc.close()

    asyncio.run(add())
    exported = cli(scheduler, "export")
    assert exported.exit_code == 0, exported.output
    assert "inline-s3cr3t" not in exported.stdout + exported.stderr
    assert json.loads(exported.stdout)["notifications"] == {"old": {"webhook": "https://h/x"}}
    assert "1 webhook(s) sign with a key kept in the log itself" in flat(exported.stderr)
