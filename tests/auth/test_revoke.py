"""Revoking a user takes effect on a config reload, with the log left as it was."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from secured import Secured, secured_server
from typer.testing import CliRunner

from conftest import require_nats_server
from jetcron import subjects
from jetcron.auth.store import AuthDir
from jetcron.cli.main import app
from jetcron.connect import ConnectOptions, connect
from jetcron.errors import InfrastructureError
from jetcron.log.stream import EventLog

runner = CliRunner()


@pytest.fixture
def sec(tmp_path: Path) -> Iterator[Secured]:
    require_nats_server()
    with secured_server(tmp_path) as s:
        yield s


async def refused(sec: Secured, creds: str) -> bool:
    try:
        nc = await connect(ConnectOptions(servers=sec.url, creds=creds))
    except InfrastructureError as err:
        assert "Authorization Violation" in str(err)
        return True
    await nc.close()
    return False


async def test_a_revoked_user_is_refused_after_the_reload_and_the_log_stays(sec: Secured) -> None:
    admin = await sec.client("admin")
    await EventLog(admin).open(create=True)
    js = admin.jetstream()
    for i in range(3):
        await js.publish(subjects.fire(f"s{i}"), b"{}")
    alice = await sec.client("alice")
    kept = shutil.copy(sec.creds("alice"), sec.auth.path.parent / "alice.nk")  # revoke deletes it
    result = runner.invoke(app, ["auth", "user", "revoke", "alice", "--dir", str(sec.auth.path)])
    assert result.exit_code == 0, result.output
    assert f"reloaded the embedded nats-server (pid {sec.server.pid})" in result.output
    for _ in range(100):
        if not alice.is_connected and await refused(sec, kept):
            break
        await asyncio.sleep(0.05)
    else:
        raise AssertionError("alice is still let in after the reload")
    assert await refused(sec, sec.creds("audrey")) is False  # the others stay
    info = await js.stream_info(subjects.STREAM)
    assert info.state.messages == 3 and info.state.last_seq == 3
    assert sec.server.running
    await alice.close()
    await admin.close()


def test_auth_commands_say_what_is_wrong_in_one_line(tmp_path: Path) -> None:
    d = str(tmp_path / "auth")
    assert runner.invoke(app, ["auth", "user", "list", "--dir", d]).exit_code == 2  # no init
    assert runner.invoke(app, ["auth", "init", "--dir", d]).exit_code == 0
    again = runner.invoke(app, ["auth", "init", "--dir", d])
    assert again.exit_code == 0 and "no user added; auth.conf rewritten" in again.output
    cases = {
        ("bob", "--role", "root"): "--role 'root': one of admin, operator",
        ("b b", "--role", "operator"): "user name 'b b'",
        ("bob", "--role", "operator", "--target", "x"): "--target and --tag are for executors",
        ("admin", "--role", "operator"): "user 'admin' exists",
    }
    conf = (tmp_path / "auth" / "auth.conf").read_text()
    for args, message in cases.items():
        result = runner.invoke(app, ["auth", "user", "add", *args, "--dir", d])
        assert result.exit_code == 2, args
        assert message in result.output and result.output.count("\n") == 1
    assert (tmp_path / "auth" / "auth.conf").read_text() == conf  # nothing written
    revoked = runner.invoke(app, ["auth", "user", "revoke", "nobody", "--dir", d])
    assert revoked.exit_code == 2 and "no active user 'nobody'" in revoked.output


def test_user_add_writes_a_secret_identity_file_and_list_shows_it(tmp_path: Path) -> None:
    d = str(tmp_path / "auth")
    runner.invoke(app, ["auth", "init", "--dir", d])
    out = tmp_path / "keys" / "pi.nk"
    added = runner.invoke(
        app, ["auth", "user", "add", "pi", "--role", "executor", "--tag", "gpio", "--out", str(out),
              "--dir", d],
    )  # fmt: skip
    assert added.exit_code == 0, added.output
    assert out.stat().st_mode & 0o777 == 0o600
    assert out.read_text().startswith("# jetcron user pi (executor)")
    listed = runner.invoke(app, ["auth", "user", "list", "--dir", d]).output
    assert "pi" in listed and "tag:gpio" in listed
    conf = (tmp_path / "auth" / "auth.conf").read_text()
    seed = out.read_text().splitlines()[2]
    assert seed.startswith("SU") and seed not in conf  # the server holds public keys only
    perms = runner.invoke(app, ["auth", "permissions", "pi", "--dir", d]).output
    assert '"jetcron.trigger.gpio"' in perms or "jetcron.trigger.gpio" in perms


def test_revoke_says_it_removed_the_identity_file_and_a_later_use_says_why(
    tmp_path: Path,
) -> None:
    """newcomer19c #7: the removed file was only "no such readable file" afterwards."""
    d = tmp_path / "auth"
    runner.invoke(app, ["auth", "init", "--dir", str(d)])
    runner.invoke(app, ["auth", "user", "add", "alice", "--role", "operator", "--dir", str(d)])
    path = d / "users" / "alice.nk"
    result = runner.invoke(app, ["auth", "user", "revoke", "alice", "--dir", str(d)])
    assert result.exit_code == 0, result.output
    assert f"; its identity file {path} was removed" in result.output.splitlines()[0]
    assert not path.exists()
    used = runner.invoke(
        app, ["schedule", "list"], env={"NATS_URL": "nats://127.0.0.1:1", "NATS_CREDS": str(path)}
    )
    assert used.exit_code == 2, used.output
    assert used.stderr.strip() == (
        f"error: --creds {path}: no such readable file: user 'alice' was revoked at "
        f"{AuthDir(d).users()[-1].revoked_at}, which removed its identity file"
    )
    other = runner.invoke(app, ["schedule", "list"], env={"NATS_CREDS": str(d / "nobody.nk")})
    assert other.stderr.strip() == f"error: --creds {d / 'nobody.nk'}: no such readable file"
