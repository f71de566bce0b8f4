"""The web gateway and its NATS identity (newcomer19c #8): a change the server refuses to the
gateway's identity is a 403 (never succeeds), not a 503 (retry later); and `jetcron web` warns
at start when its token file grants a role that identity lacks."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from secured import Secured, started

from jetcron.connect import ConnectOptions
from jetcron.web.app import create_app
from jetcron.web.auth import Tokens, digest
from jetcron.web.gateway import Gateway
from test_e2e import ENV


@pytest.fixture
def sec(tmp_path: Path) -> Iterator[Secured]:
    yield from started(tmp_path)


async def test_a_change_the_gateways_identity_may_not_make_is_403(sec: Secured) -> None:
    tokens = Tokens({digest("tok-boss"): ("boss", "admin")})
    gateway = Gateway(
        ConnectOptions(servers=sec.url, creds=sec.creds("alice")), tokens, local_user="t"
    )
    await gateway.start()
    try:
        async with asyncio.timeout(10):
            while not gateway.connected:
                await asyncio.sleep(0.05)
        app = create_app(gateway, connect=False)
        transport = httpx.ASGITransport(app)
        headers = {"Authorization": "Bearer tok-boss"}
        async with httpx.AsyncClient(
            transport=transport, base_url="http://127.0.0.1", headers=headers
        ) as http:
            body = {"name": "pager", "command": ["/bin/true"]}
            said = await http.post("/api/v1/notifications", json=body)
    finally:
        await gateway.stop()
    assert said.status_code == 403, said.text
    assert said.json()["detail"].startswith("not permitted: ")


def test_jetcron_web_warns_when_its_tokens_grant_more_than_its_identity(
    sec: Secured, tmp_path: Path
) -> None:
    tokens = tmp_path / "tokens.toml"
    tokens.write_text(
        f'[users.boss]\nrole = "admin"\ntoken_sha256 = "{digest("b")}"\n'
        f'[users.olga]\nrole = "operator"\ntoken_sha256 = "{digest("o")}"\n'
    )
    argv = ["web", "--port", "0", "--token-file", str(tokens), "--server", sec.url]
    proc = subprocess.Popen(
        [sys.executable, "-m", "jetcron", *argv, "--creds", sec.creds("alice")],
        stderr=subprocess.PIPE, text=True, env=ENV,
    )  # fmt: skip
    try:
        assert proc.stderr is not None
        first = proc.stderr.readline()
    finally:
        proc.terminate()
        proc.wait(20)
    assert first == (
        f"warning: --token-file grants boss (admin) more than this gateway's NATS identity "
        f"({sec.creds('alice')}, operator) may do: those changes will be refused (403); run "
        "it with an admin's --creds\n"
    )
