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
        assert "jetstream" in config and "name: jetcron" in config and "verify: true" in config
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


def auth_dir(path: Path) -> None:
    """What compose.yaml's header makes: users, then the CA and node certificate."""
    from jetcron.auth.store import AuthDir
    from jetcron.auth.tls import LocalTLS

    AuthDir(path).init()
    LocalTLS(path).ensure(["localhost", "127.0.0.1", "nats-1", "nats-2", "nats-3"])


def node_config(name: str, tmp_path: Path, ports: dict[str, int] | None = None) -> Path:
    """A node's config from compose.yaml, its paths in tmp_path (and, given ports, on localhost)."""
    text = compose()["configs"][name]["content"]
    text = text.replace("/etc/nats/auth", str(tmp_path / "auth")).replace(
        "/data", str(tmp_path / name)
    )
    if ports is not None:
        for node in ("nats-1", "nats-2", "nats-3"):
            text = text.replace(f"{node}:6222", f"127.0.0.1:{ports[node + '/route']}")
        text = text.replace('"0.0.0.0:6222"', f'"127.0.0.1:{ports[name + "/route"]}"')
        text = text.replace("http_port: 8222\n", "")
        text += f'port: {ports[name]}\nhttp: "127.0.0.1:{ports[name + "/http"]}"\n'
    path = tmp_path / f"{name}.conf"
    path.write_text(text)
    return path


def test_each_node_config_is_valid_for_nats_server_with_the_auth_dir(tmp_path: Path) -> None:
    import subprocess

    from conftest import require_nats_server

    binary = require_nats_server()
    auth_dir(tmp_path / "auth")
    for name in compose()["configs"]:
        path = node_config(name, tmp_path)
        checked = subprocess.run([binary, "-c", str(path), "-t"], capture_output=True, text=True)
        assert checked.returncode == 0, checked.stderr


def test_the_nodes_form_their_cluster_over_tls(tmp_path: Path) -> None:
    import json
    import subprocess
    import time
    import urllib.request

    from conftest import require_nats_server
    from jetcron.serverproc import free_ports

    binary = require_nats_server()
    auth_dir(tmp_path / "auth")
    names = ["nats-1", "nats-2", "nats-3"]
    keys = [f"{n}{kind}" for n in names for kind in ("", "/route", "/http")]
    ports = dict(zip(keys, free_ports(len(keys)), strict=True))
    procs = [
        subprocess.Popen(
            [binary, "-c", str(node_config(n, tmp_path, ports))],
            stdout=subprocess.DEVNULL,
            stderr=(tmp_path / f"{n}.log").open("wb"),
        )
        for n in names
    ]

    def monitor(node: str, endpoint: str) -> dict:
        url = f"http://127.0.0.1:{ports[node + '/http']}/{endpoint}"
        with urllib.request.urlopen(url, timeout=2) as answer:
            return json.loads(answer.read())

    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                if all(monitor(n, "routez")["num_routes"] >= 2 for n in names):
                    break
            except OSError:
                pass
            logs = [(tmp_path / f"{n}.log").read_text() for n in names]
            assert time.monotonic() < deadline, logs
            time.sleep(0.2)
        for n in names:
            cluster = monitor(n, "varz")["cluster"]
            assert cluster["tls_required"] and cluster["tls_verify"], cluster
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(10)


def test_a_client_container_sees_only_its_own_identity_and_the_ca_certificate() -> None:
    services = compose()["services"]
    for name in ("scheduler-1", "scheduler-2", "executor", "cli"):
        service = services[name]
        creds = service["environment"]["NATS_CREDS"]
        mounted = sorted(v.split(":")[1] for v in service["volumes"])
        # why: the whole ./auth holds the CA's key and every user's seed, admin's included
        assert mounted == sorted([creds, service["environment"]["NATS_CA"]]), (name, mounted)
