"""`jetcron up --secure`: users and TLS on the embedded server; the CLI in the same directory
finds the operator's identity and the CA; elsewhere, without them, it is refused."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from conftest import free_port, require_nats_server

SRC = str(Path(__file__).resolve().parents[2] / "src")
ENV = {k: v for k, v in os.environ.items() if not k.startswith(("NATS_", "JETCRON_"))}
ENV["PYTHONPATH"] = SRC


def jetcron(cwd: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "jetcron", *args],
        cwd=cwd, env={**ENV, **env}, capture_output=True, text=True, timeout=30,
    )  # fmt: skip


def start_up(cwd: Path, port: int, *flags: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "jetcron", "up", "--port", str(port), *flags],
        cwd=cwd, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip


def stop(proc: subprocess.Popen[str]) -> str:
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=20)
    return out


def test_up_secure_runs_jobs_with_roles_and_tls_and_refuses_strangers(tmp_path: Path) -> None:
    require_nats_server()
    port = free_port()
    url = f"nats://127.0.0.1:{port}"
    up = start_up(tmp_path, port, "--secure")
    try:
        deadline = time.monotonic() + 30
        while jetcron(tmp_path, "status", "-s", url).returncode != 0:
            assert up.poll() is None and time.monotonic() < deadline
            time.sleep(0.3)
        added = jetcron(
            tmp_path, "schedule", "add", "hi", "@every 1s", "-s", url, "--", "echo", "hi"
        )
        assert added.returncode == 0, added.stderr
        while "succeeded" not in jetcron(tmp_path, "runs", "list", "-s", url).stdout:
            assert time.monotonic() < deadline
            time.sleep(0.3)
        tls_url = url.replace("nats://", "tls://")
        assert "hi" in jetcron(tmp_path, "runs", "last", "hi", "-s", tls_url).stdout
        auth = tmp_path / ".jetcron" / "auth"
        elsewhere = tmp_path / "elsewhere"
        elsewhere.mkdir()
        # no identity (the CA given): refused by the server
        stranger = jetcron(elsewhere, "status", "-s", url, NATS_CA=str(auth / "ca.pem"))
        assert stranger.returncode == 1 and "Authorization Violation" in stranger.stderr
        # an identity but no CA: the TLS handshake fails, and says what to pass
        no_ca = jetcron(
            elsewhere, "status", "-s", url, NATS_CREDS=str(auth / "users" / "operator.nk")
        )
        assert no_ca.returncode == 1 and "--tls-ca" in no_ca.stderr
        roles = jetcron(tmp_path, "auth", "user", "list", "--dir", str(auth)).stdout
        assert all(role in roles for role in ("admin", "scheduler", "operator", "executor"))
    finally:
        out = stop(up)
    first = out.splitlines()[0]
    assert "users and TLS required" in first, out
    assert "tls://127.0.0.1" in out
    # the last banner line gives what the line before it gives (newcomer19c #15)
    (banner,) = [line for line in out.splitlines() if line.startswith("jetcron is up")]
    auth = (tmp_path / ".jetcron" / "auth").resolve()
    assert (
        f"export NATS_URL={url.replace('nats://', 'tls://')} "
        f"NATS_CREDS={auth / 'users' / 'operator.nk'} NATS_CA={auth / 'ca.pem'})"
    ) in banner, banner
    # its local executor's jobs run as the OS user who owns the auth dir: said at the start
    (warning,) = [line for line in out.splitlines() if line.startswith("warning:")]
    assert "any operator can become admin with one job" in warning


def test_up_without_secure_says_so_on_its_first_line(tmp_path: Path) -> None:
    require_nats_server()
    port = free_port()
    up = start_up(tmp_path, port, "--no-executor")
    try:
        assert up.stdout is not None
        first = up.stdout.readline()
    finally:
        stop(up)
    assert "no auth" in first and "listening on 127.0.0.1 only" in first, first
