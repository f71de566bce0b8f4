"""compose.yaml cannot run here (no Docker engine); check what can be checked without one."""

from __future__ import annotations

from pathlib import Path

import typer.main
import yaml

from jetcron.cli.main import app

ROOT = Path(__file__).resolve().parents[1]


def compose() -> dict:
    return yaml.safe_load((ROOT / "compose.yaml").read_text())


def test_compose_has_a_three_node_cluster_two_schedulers_and_an_executor() -> None:
    services = compose()["services"]
    assert {"nats-1", "nats-2", "nats-3", "scheduler-1", "scheduler-2", "executor"} <= set(services)
    configs = compose()["configs"]
    for node in ("nats-1", "nats-2", "nats-3"):
        # why: the whole node config is in a file, so a reload (revoking a user) finds it all
        (source,) = [c["source"] for c in services[node]["configs"]]
        config = configs[source]["content"]
        assert "jetstream" in config and "cluster { name: jetcron" in config
        assert "routes:" in config and "include auth/server.conf" in config
    assert services["scheduler-1"]["command"][0] == "serve"
    assert "--replicas" in services["scheduler-1"]["command"]


def test_every_jetcron_command_in_compose_parses() -> None:
    group = typer.main.get_command(app)
    for name, service in compose()["services"].items():
        if "build" not in service and service.get("image", "").startswith("nats"):
            continue
        args = list(service["command"])
        ctx = group.make_context("jetcron", [*args], resilient_parsing=True)
        sub = group.get_command(ctx, args[0])
        assert sub is not None, f"{name}: unknown jetcron command {args[0]!r}"
        sub.make_context(args[0], args[1:])  # raises on an unknown option


def test_dockerfile_copies_what_exists() -> None:
    for line in (ROOT / "Dockerfile").read_text().splitlines():
        if line.startswith("COPY"):
            for src in line.split()[1:-1]:
                assert (ROOT / src).exists(), src


def test_each_node_config_is_valid_for_nats_server_with_the_auth_dir(tmp_path: Path) -> None:
    import subprocess

    from conftest import require_nats_server
    from jetcron.auth.store import AuthDir

    binary = require_nats_server()
    AuthDir(tmp_path / "auth").init()
    for name, config in compose()["configs"].items():
        path = tmp_path / f"{name}.conf"
        path.write_text(config["content"].replace("/data", str(tmp_path / name)))
        checked = subprocess.run([binary, "-c", str(path), "-t"], capture_output=True, text=True)
        assert checked.returncode == 0, checked.stderr
