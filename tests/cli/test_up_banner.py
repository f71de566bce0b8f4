"""What a secured `up` says of how the CLI finds its identities, wherever its data dir is
(newcomer21c #10): the line names the auth dir, and says "finds … by itself" only when the
CLI of that terminal looks there."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from jetcron.auth.local import LocalSecurity
from jetcron.cli.embedded import secured_line
from jetcron.cli.main import app


def _files(auth: Path) -> LocalSecurity:
    users = auth / "users"
    return LocalSecurity(
        auth_dir=auth, server_conf=auth / "server.conf", pid_file=auth / "pid", ca=auth / "ca.pem",
        cert=auth / "server.pem", key=auth / "server.key", scheduler=users / "scheduler.nk",
        operator=users / "operator.nk", admin=users / "admin.nk", executor=None,
        scheduler_key="S", created=(),
    )  # fmt: skip


def test_a_data_dir_elsewhere_says_what_to_export(tmp_path: Path) -> None:
    auth = tmp_path / "sec" / "data" / "auth"
    said = secured_line(_files(auth), Path(".jetcron/auth"))
    assert said.startswith(f"secured: users and TLS in {auth}; the CLI finds them only when told")
    assert (
        f"export JETCRON_AUTH_DIR={auth} (`jetcron auth` reads it too; or pass --dir {auth})"
        in said
    )
    assert f"or export NATS_CREDS={auth}/users/operator.nk NATS_CA={auth}/ca.pem" in said
    assert "by itself" not in said


def test_the_default_data_dir_is_found_by_itself(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    auth = (tmp_path / ".jetcron" / "auth").resolve()
    said = secured_line(_files(auth), Path(".jetcron/auth"))
    assert said == (
        f"secured: users and TLS in {auth}; the CLI run here finds the operator's identity and "
        f"the CA there by itself (`--creds {auth}/users/admin.nk` to act as admin)"
    )
    # $JETCRON_AUTH_DIR pointing at it counts as the CLI looking there
    assert "by itself" in secured_line(_files(auth), auth)


def test_no_auth_here_names_the_data_dirs_auth_and_the_variable(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["auth", "user", "list", "--dir", str(tmp_path / "none")])
    assert result.exit_code == 2
    assert "a secured `jetcron up --data-dir X` keeps it in X/auth: pass --dir X/auth or " \
        "export JETCRON_AUTH_DIR=X/auth" in result.output  # fmt: skip
