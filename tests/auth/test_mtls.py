"""Mutual TLS: a server that verifies clients lets in a certificate the local CA signed
(`jetcron auth cert`, then --tls-cert/--tls-key) and refuses a client without one."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from conftest import require_nats_server
from jetcron.auth.store import AuthDir
from jetcron.auth.tls import LocalTLS
from jetcron.cli.main import app
from jetcron.connect import ConnectOptions, connect
from jetcron.errors import InfrastructureError
from jetcron.server import NatsServer


@pytest.fixture
def auth(tmp_path: Path) -> Iterator[AuthDir]:
    require_nats_server()
    auth = AuthDir(tmp_path / "auth")
    auth.init()
    auth.add("alice", "operator")
    result = CliRunner().invoke(app, ["auth", "tls", "--host", "nats-1", "--dir", str(auth.path)])
    assert result.exit_code == 0, result.output
    yield auth


@pytest.fixture
def server(auth: AuthDir, tmp_path: Path) -> Iterator[NatsServer]:
    tls = LocalTLS(auth.path)
    with NatsServer(
        data_dir=tmp_path / "nats",
        include=auth.server_conf,
        tls=(tls.cert, tls.key),
        verify_clients=tls.ca,
    ) as server:
        yield server


def options(server: NatsServer, auth: AuthDir, cert: Path | None = None) -> ConnectOptions:
    return ConnectOptions(
        servers=server.url.replace("nats://", "tls://"),
        creds=str(auth.identity_file("alice")),
        tls_ca=str(LocalTLS(auth.path).ca),
        tls_cert=str(cert) if cert else None,
        tls_key=str(cert).replace("-cert.pem", "-key.pem") if cert else None,
    )


async def test_a_client_certificate_of_the_local_ca_is_let_in(
    server: NatsServer, auth: AuthDir, tmp_path: Path
) -> None:
    result = CliRunner().invoke(app, ["auth", "cert", "alice", "--dir", str(auth.path)])
    assert result.exit_code == 0, result.output
    cert = auth.path / "certs" / "alice-cert.pem"
    assert f"--tls-cert {cert}" in result.output
    assert (auth.path / "certs" / "alice-key.pem").stat().st_mode & 0o077 == 0

    nc = await connect(options(server, auth, cert))
    assert nc.is_connected
    await nc.flush()
    await nc.close()


async def test_a_client_without_a_certificate_or_with_a_strangers_is_refused(
    server: NatsServer, auth: AuthDir, tmp_path: Path
) -> None:
    with pytest.raises(InfrastructureError, match="--tls-cert/--tls-key"):
        await connect(options(server, auth))
    stranger = LocalTLS(tmp_path / "other")
    stranger.ensure()
    cert, _ = stranger.client("alice", tmp_path / "other")
    with pytest.raises(InfrastructureError):
        await connect(options(server, auth, cert))


def test_no_certificate_for_an_unknown_or_revoked_user(auth: AuthDir, tmp_path: Path) -> None:
    """newcomer16c #18: `auth cert nosuchuser` and a revoked user's exited 0 with a cert."""
    runner = CliRunner()
    unknown = runner.invoke(app, ["auth", "cert", "alicee", "--dir", str(auth.path)])
    assert unknown.exit_code == 2, unknown.output
    [line] = unknown.stderr.splitlines()
    assert line.startswith("error: no user 'alicee' in ") and "(did you mean 'alice'?)" in line
    auth.revoke("alice")
    revoked = runner.invoke(app, ["auth", "cert", "alice", "--dir", str(auth.path)])
    assert revoked.exit_code == 2, revoked.output
    assert revoked.stderr.startswith("error: user 'alice' was revoked at ")
    assert not (auth.path / "certs" / "alice-cert.pem").exists()
    out = tmp_path / "mine"
    made = runner.invoke(app, ["auth", "cert", "admin", "--dir", str(auth.path), "--out", str(out)])
    assert made.exit_code == 0, made.output
    assert (out / "admin-cert.pem").is_file()  # in --out itself, as the README says
