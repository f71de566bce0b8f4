"""The API for notifications, what-if and conflicts against a real stack (one per module)."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Iterator

import httpx
import nats
import pytest
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, iter_route_contexts
from test_api import problem
from webstack import Stack, cli, create, run_stack

from jetcron.connect import ConnectOptions
from jetcron.web.app import create_app
from jetcron.web.auth import Tokens
from jetcron.web.gateway import Gateway
from jetcron.web.http import body

NOTIFY = "/api/v1/notifications"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    yield from run_stack(tmp_path_factory.mktemp("web-gaps"))


@pytest.fixture
def http(stack: Stack) -> Iterator[httpx.Client]:
    with stack.client() as client:
        yield client


def test_notifications_add_list_test_remove(stack: Stack, http: httpx.Client) -> None:
    body = {"name": "gap-bus", "subject": "gaps.alerts", "on": ["failure"], "tags": ["reef"]}
    added = http.post(NOTIFY, json=body, headers={"X-Reason": "ops wants it"})
    assert added.status_code == 201, added.text
    assert added.headers["location"] == f"{NOTIFY}/gap-bus" and added.json()["seq"] > 0
    hook = {"name": "gap-hook", "webhook": "https://hooks.example/x", "secret": "s3", "window": "0"}
    assert http.post(NOTIFY, json=hook).status_code == 201

    rows = {r["name"]: r for r in http.get(NOTIFY).json()}
    assert rows["gap-bus"]["sink"] == "subject" and rows["gap-bus"]["where"] == "gaps.alerts"
    assert rows["gap-bus"]["notification"]["on"] == ["failure"]
    assert rows["gap-hook"]["signed"] and "secret" not in rows["gap-hook"]["notification"]["sink"]
    assert rows["gap-hook"]["notification"]["window_s"] == 0
    listed = cli(stack.nats_url, "notify", "list", "--json")
    assert {r["name"] for r in json.loads(listed.stdout)} >= {"gap-bus", "gap-hook"}

    tested = http.post(f"{NOTIFY}/gap-bus/test")
    assert tested.status_code == 200, tested.text
    assert tested.json()["delivered"] and "sent through 'gap-bus'" in tested.json()["detail"]

    dead = {"name": "gap-dead", "webhook": "http://127.0.0.1:1/hook", "timeout": "1s"}
    assert http.post(NOTIFY, json=dead).status_code == 201
    assert problem(http.post(f"{NOTIFY}/gap-dead/test"), 502).startswith("failed: ")

    assert "exists" in problem(http.post(NOTIFY, json=body), 409)
    assert http.delete(f"{NOTIFY}/gap-bus").status_code == 204
    assert "gap-bus" not in {r["name"] for r in http.get(NOTIFY).json()}
    assert "no notification" in problem(http.delete(f"{NOTIFY}/gap-bus"), 404)
    assert "no notification" in problem(http.post(f"{NOTIFY}/gap-nope/test"), 404)


def test_only_an_admin_token_adds_a_command_sink(stack: Stack, http: httpx.Client) -> None:
    body = {"name": "gap-cmd", "command": ["true"]}
    with stack.client("olga") as operator:
        assert "a command sink needs admin" in problem(operator.post(NOTIFY, json=body), 403)
        assert (
            operator.post(NOTIFY, json={"name": "gap-sub", "subject": "gaps.x"}).status_code == 201
        )
    assert http.post(NOTIFY, json=body).status_code == 201  # alice is the admin
    for name in ("gap-cmd", "gap-sub"):
        assert http.delete(f"{NOTIFY}/{name}").status_code == 204


def hook_secrets(url: str, name: str) -> list[bytes | None]:
    """What the webhook secrets bucket holds under the keys of notification `name` (a value,
    or the empty body of a purge marker), oldest first."""
    from jetcron import subjects

    async def go() -> list[bytes | None]:
        nc = await nats.connect(url)
        js = nc.jetstream()
        stream = subjects.kv_stream(subjects.HOOK_SECRETS_BUCKET)
        info = await js.stream_info(stream, subjects_filter=subjects.hook_secret_key(f"{name}.*"))
        last = [await js.get_last_msg(stream, s) for s in info.state.subjects or {}]
        await nc.close()
        return [m.data for m in sorted(last, key=lambda m: m.seq or 0)]

    return asyncio.run(go())


def test_removing_a_notification_purges_its_webhook_secret(
    stack: Stack, http: httpx.Client
) -> None:
    hook = {"name": "gap-signed", "webhook": "https://hooks.example/y", "secret": "s3cr3t"}
    other = {"name": "gap-other", "webhook": "https://hooks.example/z", "secret": "kept"}
    assert http.post(NOTIFY, json=hook).status_code == 201
    assert http.post(NOTIFY, json=other).status_code == 201
    assert http.post(NOTIFY, json={**hook, "secret": "refused"}).status_code == 409
    before = hook_secrets(stack.nats_url, "gap-signed")
    assert http.delete(f"{NOTIFY}/gap-signed").status_code == 204
    after = hook_secrets(stack.nats_url, "gap-signed")

    assert before == [b"s3cr3t", None]  # the refused add's secret is purged at once
    assert after == [None, None]  # purge markers: no value left
    assert hook_secrets(stack.nats_url, "gap-other") == [b"kept"]


def test_notification_errors_say_what_the_cli_says(stack: Stack, http: httpx.Client) -> None:
    bad = http.post(NOTIFY, json={"name": "gap-bad", "webhook": "ftp://x"})
    said = cli(stack.nats_url, "notify", "add", "gap-bad", "--webhook", "ftp://x")
    assert said.exit_code == 2
    # the CLI's line, with the body's field where it names its option
    assert said.stderr.strip() == "error: invalid --webhook 'ftp://x': use an http(s):// URL"
    assert problem(bad, 422) == "invalid webhook 'ftp://x': use an http(s):// URL"
    both = {"name": "gap-bad", "webhook": "https://h.example", "subject": "a.b"}
    assert "exactly one of webhook, command, subject" in problem(http.post(NOTIFY, json=both), 422)
    assert "unknown on kind 'x'" in problem(
        http.post(NOTIFY, json={**both, "subject": None, "on": ["x"]}), 422
    )
    assert "window: invalid duration 'soon'" in problem(
        http.post(NOTIFY, json={"name": "gap-bad", "subject": "a", "window": "soon"}), 422
    )
    assert 'invalid command "\'open"' in problem(
        http.post(NOTIFY, json={"name": "gap-bad", "command": "'open"}), 422
    )
    needs_shell = http.post(NOTIFY, json={"name": "gap-bad", "command": "echo hi > /tmp/x"})
    assert problem(needs_shell, 422).endswith('say so: "command": ["sh", "-c", "echo hi > /tmp/x"]')
    assert "secret signs webhooks only" == problem(
        http.post(NOTIFY, json={"name": "gap-bad", "subject": "a", "secret": "s"}), 422
    )
    assert "hook" in problem(
        http.post(NOTIFY, json={"name": "gap-bad", "subject": "a", "hook": 1}), 422
    )
    assert "invalid notification name" in problem(
        http.post(NOTIFY, json={"name": "a b", "subject": "a"}), 422
    )
    assert "invalid notification name" in problem(http.delete(f"{NOTIFY}/a b"), 422)
    assert "gap-bad" not in {r["name"] for r in http.get(NOTIFY).json()}  # why: nothing appended
    with stack.client("aud") as auditor:
        assert auditor.get(NOTIFY).status_code == 200
        assert "read-only" in problem(
            auditor.post(NOTIFY, json={"name": "gap-a", "subject": "a"}), 403
        )
        assert "read-only" in problem(auditor.delete(f"{NOTIFY}/gap-hook"), 403)
        assert "read-only" in problem(auditor.post(f"{NOTIFY}/gap-hook/test"), 403)
    with stack.client(None) as anonymous:
        assert "bearer token" in problem(anonymous.get(NOTIFY), 401)


def test_what_if_and_conflicts(stack: Stack, http: httpx.Client) -> None:
    assert create(http, "gap-lights", spec="*/5 * * * *", tags=["gap-pump"]).status_code == 201
    assert create(http, "gap-feed", spec="*/10 * * * *", tags=["gap-pump"]).status_code == 201

    answer = http.get(
        "/api/v1/schedules/gap-lights/what-if", params={"spec": "*/20 * * * *", "n": 3}
    )
    assert answer.status_code == 200, answer.text
    got = answer.json()
    assert got["before"]["spec"] == "*/5 * * * *" and got["after"]["spec"] == "*/20 * * * *"
    assert len(got["next_before"]) == 3 and len(got["next_after"]) == 3
    assert got["next_after"][0].endswith(("00:00Z", "20:00Z", "40:00Z"))
    said = cli(
        stack.nats_url,
        "schedule",
        "update",
        "gap-lights",
        "--spec",
        "*/20 * * * *",
        "--what-if",
        "-n",
        "3",
        "--json",
    )
    assert said.exit_code == 0, said.output
    cli_answer = json.loads(said.stdout)
    assert cli_answer["next_after"] == got["next_after"]  # why: the same view, the same answer
    zoned = http.get("/api/v1/schedules/gap-lights/what-if", params={"tz": "Asia/Kolkata"}).json()
    assert zoned["after"] == {"spec": "*/5 * * * *", "tz": "Asia/Kolkata"}
    assert http.get("/api/v1/schedules/gap-lights").json()["definition"]["spec"] == "*/5 * * * *"

    assert "invalid spec" in problem(
        http.get("/api/v1/schedules/gap-lights/what-if", params={"spec": "61 * * * *"}), 400
    )
    assert "unknown time zone" in problem(
        http.get("/api/v1/schedules/gap-lights/what-if", params={"tz": "Mars/X"}), 400
    )
    assert "window" in problem(
        http.get("/api/v1/schedules/gap-lights/what-if", params={"window": "0s"}), 400
    )
    assert "not found" in problem(
        http.get("/api/v1/schedules/gap-nope/what-if", params={"spec": "@daily"}), 404
    )

    found = http.get("/api/v1/conflicts", params={"within": "1h", "schedule": "gap-feed"}).json()
    pairs = {(c["a"], c["b"]) for c in found["conflicts"]}
    assert ("gap-feed", "gap-lights") in pairs, found
    assert found["complete"]
    everyone = http.get("/api/v1/conflicts").json()
    crowded = http.get("/api/v1/conflicts", params={"crowded": True}).json()
    assert "capacity" in crowded and "capacity" not in everyone  # the warning's kind
    assert len(crowded["conflicts"]) <= len(everyone["conflicts"])
    assert ("gap-feed", "gap-lights") in {(c["a"], c["b"]) for c in everyone["conflicts"]}
    assert "within" in problem(http.get("/api/v1/conflicts", params={"within": "soon"}), 400)
    assert "not found" in problem(
        http.get("/api/v1/conflicts", params={"schedule": "gap-nope"}), 404
    )


def test_openapi_lists_them(http: httpx.Client) -> None:
    paths = http.get("/api/v1/openapi.json").json()["paths"]
    for path in (NOTIFY, f"{NOTIFY}/{{name}}", f"{NOTIFY}/{{name}}/test", "/api/v1/conflicts"):
        assert path in paths, sorted(paths)
    assert "/api/v1/schedules/{name}/what-if" in paths
    assert "webhook" in str(paths[NOTIFY]["post"]["requestBody"])


def _reads_a_body(dependant: Dependant) -> bool:
    return any(d.call is body or _reads_a_body(d) for d in dependant.dependencies)


def test_every_route_that_reads_a_body_lists_it_in_openapi(
    stack: Stack, http: httpx.Client
) -> None:
    doc = http.get("/api/v1/openapi.json").json()
    # why: the routes read their bodies themselves (http.body), so FastAPI cannot list them;
    # which route reads one is in its dependencies, the same in any app made by create_app
    app = create_app(Gateway(ConnectOptions(), Tokens(), local_user="t"), connect=False)
    reads = {
        (context.path, method.lower()): _reads_a_body(context.route.dependant)
        for context in iter_route_contexts(app.routes)
        if isinstance(context.route, APIRoute)
        for method in context.methods or ()
    }
    bodies = []
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            listed = op.get("requestBody", {}).get("content", {}).get("application/json")
            assert bool(listed) == reads[(path, method)], f"{method.upper()} {path}: {listed}"
            if listed:
                bodies.append(f"{method.upper()} {path}")
                for ref in re.findall(r"'\$ref': '#/components/schemas/(\w+)'", str(listed)):
                    assert ref in doc["components"]["schemas"], ref
    assert len(bodies) >= 15, bodies  # why: the walk found the routes that read a body
    ack = doc["paths"]["/api/v1/health/ack"]["post"]["requestBody"]
    assert ack["content"]["application/json"]["schema"]["properties"]["reason"]["type"] == "string"
    assert not ack["required"]  # why: the reason is optional, an empty body is fine
    # the POSTs and DELETEs that take no body
    assert sorted(k for k, v in reads.items() if k[1] in ("post", "patch", "delete") and not v) == [
        ("/api/v1/calendars/{name}", "delete"),
        ("/api/v1/notifications/{name}", "delete"),
        ("/api/v1/notifications/{name}/test", "post"),
        ("/api/v1/schedules/{name}/backfill", "delete"),
    ]
    with stack.client(None) as anonymous:  # why: who asks is checked before the body is read
        malformed = anonymous.post(
            "/api/v1/health/ack", content=b"{", headers={"content-type": "application/json"}
        )
        assert malformed.status_code == 401


def test_health_ack_is_an_operators_command(stack: Stack, http: httpx.Client) -> None:
    acked = http.post("/api/v1/health/ack", params={"reason": "seen"})

    assert acked.status_code == 200 and acked.json()["seq"] > 0, acked.text
    assert http.get("/api/v1/health").json()["position"] >= 0
    with stack.client("aud") as auditor:
        assert "read-only" in problem(auditor.post("/api/v1/health/ack"), 403)
    # why: like pause or cancel, the reason may come in the body; a stray key is refused
    in_body = http.post("/api/v1/health/ack", json={"reason": "seen in the body"})
    assert in_body.status_code == 200, in_body.text
    assert "seen in the body" in asyncio.run(_raw_event(stack.nats_url, in_body.json()["seq"]))
    misspelt = http.post("/api/v1/health/ack", json={"reasn": "x"})
    assert "did you mean 'reason'" in problem(misspelt, 422)


async def _raw_event(nats_url: str, seq: int) -> str:
    """The stored bytes of the log's event at `seq`, as text."""
    import nats

    from jetcron.subjects import STREAM

    nc = await nats.connect(nats_url)
    try:
        return (await nc.jetstream().get_msg(STREAM, seq)).data.decode(errors="replace")
    finally:
        await nc.close()


def test_a_rule_for_an_unknown_schedule_is_422_unless_allow_missing(
    stack: Stack, http: httpx.Client
) -> None:
    assert create(http, "gap-hello").status_code == 201
    body = {"name": "gap-typo", "subject": "gaps.alerts", "schedules": ["gap-helo"]}
    said = problem(http.post(NOTIFY, json=body), 422)
    assert said.startswith("schedules: no schedule 'gap-helo' (did you mean 'gap-hello'?)"), said
    assert "gap-typo" not in {r["name"] for r in http.get(NOTIFY).json()}

    later = {**body, "name": "gap-later", "allow_missing": True}
    assert http.post(NOTIFY, json=later).status_code == 201
    known = {**body, "name": "gap-known", "schedules": ["gap-hello"]}
    assert http.post(NOTIFY, json=known).status_code == 201
    for name in ("gap-later", "gap-known"):
        assert http.delete(f"{NOTIFY}/{name}").status_code == 204
