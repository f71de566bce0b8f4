"""End to end: expectations and notifications through `jetcron up` (real nats-server, service,
executor) to a real local HTTP server, a local command and a NATS subject."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import nats
import pytest

from conftest import free_port
from jetcron.domain.envelope import encode
from jetcron.domain.events import ExpectationMet, ExpectationMissed
from jetcron.domain.notify_events import NotifyDelivered, NotifyFailed
from polling import wait_until
from test_e2e import Up, read_log

SECRET = "s3cret"


class Hook:
    """A webhook receiver: records every POST; answers 503 to the first `refuse` of them."""

    def __init__(self, refuse: int = 0) -> None:
        self.posts: list[tuple[int, dict[str, str], bytes]] = []
        self.refuse = refuse
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers["Content-Length"]))
                status = 503 if len(hook.posts) < hook.refuse else 200
                hook.posts.append((status, dict(self.headers), body))
                self.send_response(status)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def accepted(self, kind: str | None = None) -> list[dict[str, Any]]:
        """Bodies of the POSTs answered 200 (of one kind), each with its signature checked."""
        out = []
        for status, headers, body in self.posts:
            data = json.loads(body)
            if status == 200 and kind in (None, data["kind"]):
                assert verify(SECRET, headers, body), headers
                out.append(data)
        return out


def verify(secret: str, headers: dict[str, str], body: bytes) -> bool:
    """The README's recipe: HMAC-SHA256 over `<timestamp>.<body>`, compared in constant time."""
    timestamp = headers["X-Jetcron-Timestamp"]
    expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return hmac.compare_digest("sha256=" + expected.hexdigest(), headers["X-Jetcron-Signature"])


@pytest.fixture
def hook() -> Iterator[Hook]:
    h = Hook(refuse=2)
    yield h
    h.server.shutdown()


def ok(instance: Up, *args: str) -> str:
    result = instance.cli(*args)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_webhooks_once_signed_with_retries_and_expectation_missed_then_met(
    up: Up,
    hook: Hook,
    tmp_path: Path,
) -> None:
    kinds = ["--on", "failure", "--on", "expectation_missed", "--on", "expectation_met"]
    (tmp_path / "hook.secret").write_text(SECRET + "\n")
    ok(
        up,
        "notify",
        "add",
        "ops",
        "--webhook",
        hook.url,
        "--secret",
        f"@{tmp_path / 'hook.secret'}",
        *kinds,
        "--window",
        "0s",
    )
    ok(up, "schedule", "add", "bad", "@yearly", "--breaker", "0", "--", "false")
    ok(up, "schedule", "trigger", "bad")

    # the sink refuses the first two POSTs: the leader retries with backoff, then delivers once
    [first] = wait_until(lambda: hook.accepted("failure"), 30)
    assert [status for status, _, _ in hook.posts[:3]] == [503, 503, 200]
    assert first["schedule"]["name"] == "bad" and first["run"]["status"] == "failed"
    assert first["cause"] == "exited with code 1" and first["why"].startswith("jetcron why bad ")
    assert first["id"] == hook.posts[2][1]["X-Jetcron-Delivery"]

    ok(up, "schedule", "trigger", "bad")
    wait_until(lambda: len(hook.accepted("failure")) == 2, 30)

    ok(up, "schedule", "add", "exp", "@every 1s", "--expect-success-within", "3s", "--", "true")
    ok(up, "schedule", "pause", "exp", "--reason", "disk swap")
    [missed] = wait_until(lambda: hook.accepted("expectation_missed"), 30)
    assert missed["schedule"]["name"] == "exp" and "paused" in missed["cause"], missed
    health = up.cli("health", "--json")
    assert health.returncode == 1 and "expectation_missed" in health.stdout, health.stdout
    story = json.loads(ok(up, "why", "exp", "--json"))
    assert story["expectations"][0]["cause"] == "paused", story
    assert "expectation success_within missed at" in ok(up, "fires", "exp")

    ok(up, "schedule", "resume", "exp")
    [met] = wait_until(lambda: hook.accepted("expectation_met"), 30)
    assert met["resolved"] is True and met["schedule"]["name"] == "exp"
    wait_until(lambda: "expectation_missed" not in up.cli("health", "--json").stdout, 10)

    time.sleep(1.5)  # why: anything sent twice would have arrived by now
    stored = asyncio.run(read_log(up.url))
    events = [s.envelope.event for s in stored]
    # why: the signing secret lives in the webhook secrets bucket; the log names it `kv:…`
    assert not [s.seq for s in stored if SECRET.encode() in encode(s.envelope)]
    delivered = [(e.name, e.event_seq) for e in events if isinstance(e, NotifyDelivered)]
    assert len(delivered) == len(set(delivered)) == len(hook.accepted()) == 4
    assert sum(isinstance(e, NotifyFailed) for e in events) == 2
    assert sum(isinstance(e, ExpectationMissed) for e in events) == 1
    assert sum(isinstance(e, ExpectationMet) for e in events) == 1
    assert len({b["id"] for b in hook.accepted()}) == 4
    listed = json.loads(ok(up, "notify", "list", "--json"))
    assert (listed[0]["delivered"], listed[0]["failing"], listed[0]["signed"]) == (4, False, True)
    assert "secret" not in listed[0]["notification"]["sink"]
    sinks_through_the_leader(up, tmp_path)


def sinks_through_the_leader(up: Up, tmp_path: Path) -> None:  # noqa: F811
    """`--command` gets the JSON on stdin on the leader's host; `--subject` gets it on NATS."""
    out = tmp_path / "got.json"
    ok(up, "notify", "add", "local", "--command", f"sh -c 'cat > {out}'")
    ok(up, "notify", "add", "bus", "--subject", "ops.alerts")

    async def on_subject() -> bytes:
        nc = await nats.connect(up.url)
        sub = await nc.subscribe("ops.alerts")
        await nc.flush()
        result = await asyncio.to_thread(up.cli, "notify", "test", "bus")
        assert result.returncode == 0, result.stderr
        msg = await sub.next_msg(timeout=5)
        await nc.close()
        return msg.data

    assert json.loads(asyncio.run(on_subject()))["kind"] == "test"
    assert "delivered" in ok(up, "notify", "test", "local")
    assert json.loads(out.read_text())["notification"] == "local"
