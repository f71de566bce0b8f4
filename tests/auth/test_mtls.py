"""Mutual TLS: a server that verifies clients lets in a certificate the local CA signed
(`jetcron auth cert`, then --tls-cert/--tls-key) and refuses a client without one."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import msgspec
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


async def test_a_certificate_gates_the_network_and_the_nkey_is_the_identity(
    server: NatsServer, auth: AuthDir
) -> None:
    """newcomer19c #17, as the README says: alice's certificate with the admin's nkey connects
    as the admin (nats-server binds no certificate to an nkey user), and the certificate is
    public (0644) while its key is the user's secret (0600)."""
    from jetcron.connect import identity_of

    CliRunner().invoke(app, ["auth", "cert", "alice", "--dir", str(auth.path)])
    cert = auth.path / "certs" / "alice-cert.pem"
    assert cert.stat().st_mode & 0o777 == 0o644
    assert (auth.path / "certs" / "alice-key.pem").stat().st_mode & 0o777 == 0o600
    as_admin = msgspec.structs.replace(
        options(server, auth, cert), creds=str(auth.identity_file("admin"))
    )
    nc = await connect(as_admin)
    try:
        assert identity_of(nc) == "admin"
        info = await nc.jetstream().account_info()  # the admin's, through alice's certificate
        assert info is not None
    finally:
        await nc.close()
    help_text = CliRunner().invoke(app, ["auth", "cert", "--help"]).output
    assert "the nkey (--creds) is the identity" in " ".join(help_text.split())


@pytest.mark.parametrize(
    ("flags", "said"),
    [
        (["--tls-cert", "c.pem"], "--tls-cert needs --tls-key (or NATS_KEY)"),
        (["--tls-key", "k.pem"], "--tls-key needs --tls-cert (or NATS_CERT)"),
    ],
)
def test_a_certificate_without_its_key_is_one_line_exit_2(
    tmp_path: Path, flags: list[str], said: str
) -> None:
    for name in ("c.pem", "k.pem"):
        (tmp_path / name).write_text("x")
    flags = [f if not f.endswith(".pem") else str(tmp_path / f) for f in flags]
    result = CliRunner().invoke(
        app,
        ["status", "--server", "tls://127.0.0.1:1", *flags],
        env={"NATS_CERT": "", "NATS_KEY": ""},
    )
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith(f"error: {said}: "), result.stderr
    assert result.stderr.count("\n") == 1
