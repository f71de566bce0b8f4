"""The gateway's pure parts: ETags, cursors, token files, the bind rule (no server)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from jetcron.errors import InvalidInput
from jetcron.web import bodies
from jetcron.web.auth import Tokens, digest, load_tokens
from jetcron.web.problems import Problem
from jetcron.web.serve import check_bind

if TYPE_CHECKING:
    from jetcron.server import NatsServer


@pytest.mark.parametrize(
    ("header", "version"),
    [(None, None), ("*", None), ('"3"', 3), ('W/"4"', 4), ('"5", "6"', 5), ("7", 7)],
)
def test_if_match(header: str | None, version: int | None) -> None:
    assert bodies.if_match(header) == version


def test_an_if_match_that_is_no_version_is_412() -> None:
    with pytest.raises(Problem, match="not an ETag of this API") as err:
        bodies.if_match('"abc"')
    assert err.value.status == 412


def test_pages_by_name_survive_inserts_before_and_after_the_cursor() -> None:
    rows = [{"name": n} for n in ("b", "d", "f", "h")]
    first, cursor = bodies.page(rows, 2, None)
    assert [r["name"] for r in first] == ["b", "d"] and cursor is not None
    rows += [{"name": "a"}, {"name": "e"}]
    second, cursor = bodies.page(rows, 2, cursor)
    assert [r["name"] for r in second] == ["e", "f"]
    last, cursor = bodies.page(rows, 2, cursor)
    assert [r["name"] for r in last] == ["h"] and cursor is None


@pytest.mark.parametrize("cursor", ["%%%", "\xff", "\x00\xff", "é"])
def test_a_foreign_cursor_is_400(cursor: str) -> None:
    with pytest.raises(Problem, match="invalid cursor") as err:
        bodies.page([], 2, cursor)
    assert err.value.status == 400


def test_token_file(tmp_path: Path) -> None:
    path = tmp_path / "tokens.toml"
    path.write_text(
        '[users.alice]\nrole = "admin"\ntoken = "s3cret"\n\n'
        f'[users.aud]\nrole = "auditor"\ntoken_sha256 = "{digest("look")}"\n'
    )
    tokens = load_tokens(path)
    alice, aud = tokens.user("s3cret"), tokens.user("look")
    assert alice is not None and alice.name == "alice" and alice.can_write
    assert aud is not None and aud.role == "auditor" and not aud.can_write
    assert tokens.user("nope") is None


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (
            '[users.a]\nrole = "root"\ntoken = "x"\n',
            "users.a.role 'root': use admin, operator, auditor",
        ),
        ('[users.a]\nrole = "admin"\n', "give token or token_sha256"),
        ("", "no users in it"),
        (
            '[users.a]\nrole = "admin"\ntoken = "x"\ncolour = "red"\n',
            "users.a.colour: no such key",
        ),
        # nc21a #8: the user and the key meant, not "unknown field `tokn` - at `$.users[...]`"
        (
            '[users.alice]\nrole = "admin"\ntokn = "x"\n',
            "users.alice.tokn: no such key (did you mean 'token'?)",
        ),
        ('[user.alice]\nrole = "admin"\n', "user: no such key (did you mean 'users'?)"),
        (
            f'[users.a]\nrole = "admin"\ntoken = "x"\ntoken_sha256 = "{digest("x")}"\n',
            "users.a: give token or token_sha256, not both",
        ),
        ('[users.empty]\nrole = "admin"\ntoken = ""\n', "users.empty: the token is empty"),
        ('[users.blank]\nrole = "admin"\ntoken = "  "\n', "users.blank: the token is empty"),
        (
            f'[users.e]\nrole = "admin"\ntoken_sha256 = "{digest("")}"\n',
            "users.e: the token is empty",
        ),
        (
            '[users.h]\nrole = "admin"\ntoken_sha256 = "abc"\n',
            "users.h.token_sha256: not a SHA-256 digest",
        ),
        (
            '[users.a]\nrole = "admin"\ntoken = "same"\n'
            '[users.b]\nrole = "auditor"\ntoken = "same"\n',
            "users.a and users.b have the same token",
        ),
        (
            '[users.a]\nrole = "admin"\ntoken = "same"\n'
            f'[users.b]\nrole = "auditor"\ntoken_sha256 = "{digest("same").upper()}"\n',
            "users.a and users.b have the same token",
        ),
    ],
)
def test_a_bad_token_file_is_one_line_naming_it(tmp_path: Path, text: str, problem: str) -> None:
    path = tmp_path / "tokens.toml"
    path.write_text(text)
    with pytest.raises(InvalidInput, match=f"--token-file {path}") as err:
        load_tokens(path)
    assert problem in str(err.value) and "\n" not in str(err.value)


def test_web_refuses_a_token_file_with_a_shared_token_before_it_serves(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from jetcron.cli.main import app

    path = tmp_path / "tokens.toml"
    path.write_text(
        '[users.a]\nrole = "admin"\ntoken = "same"\n[users.b]\nrole = "auditor"\ntoken = "same"\n'
    )
    path.chmod(0o600)
    result = CliRunner().invoke(app, ["web", "--port", "1", "--token-file", str(path)])
    assert result.exit_code == 2, result.output
    assert "users.a and users.b have the same token" in result.output
    assert result.output.count("\n") == 1, result.output


def test_binding_beyond_localhost_needs_tokens() -> None:
    check_bind("127.0.0.1", Tokens())
    check_bind("0.0.0.0", Tokens({digest("t"): ("a", "admin")}))
    with pytest.raises(InvalidInput, match="refusing to serve beyond localhost"):
        check_bind("0.0.0.0", Tokens())


async def test_without_nats_the_probes_and_the_api_say_so() -> None:
    import httpx

    from jetcron.connect import ConnectOptions
    from jetcron.web.app import create_app
    from jetcron.web.gateway import Gateway

    gateway = Gateway(ConnectOptions(servers="nats://127.0.0.1:1"), Tokens(), local_user="me")
    app = create_app(gateway, connect=False)  # why: as while the first connect still waits
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app), base_url="http://localhost"
    ) as http:
        assert (await http.get("/healthz")).status_code == 200
        assert (await http.get("/readyz")).status_code == 503
        answer = await http.get("/api/v1/schedules")
        assert answer.status_code == 503
        assert answer.json()["detail"] == "not connected to NATS at nats://127.0.0.1:1 yet"
        preview = await http.get("/api/v1/preview", params={"spec": "@daily"})
        assert preview.status_code == 200  # why: offline, like `jetcron preview`


def test_the_gateways_roles_are_those_of_nats_security() -> None:
    from typing import get_args

    from jetcron.auth.roles import ROLES
    from jetcron.web.auth import Role

    assert set(get_args(Role)) <= set(ROLES)


async def _never_answer(msg: object) -> None:
    """A query responder that takes the request and never replies (a stalled service)."""


async def test_readyz_names_the_service_that_did_not_answer(nats_url: str) -> None:
    import httpx
    import nats

    from jetcron.connect import ConnectOptions
    from jetcron.subjects import query
    from jetcron.web.app import create_app
    from jetcron.web.gateway import Gateway

    stalled = await nats.connect(nats_url)
    await stalled.subscribe(query("due"), cb=_never_answer)
    gateway = Gateway(ConnectOptions(servers=nats_url), Tokens(), local_user="me")
    app = create_app(gateway, connect=False)
    await gateway.start()
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app), base_url="http://localhost"
        ) as http:
            for _ in range(100):
                if gateway.connected:
                    break
                await asyncio.sleep(0.05)
            answer = await http.get("/readyz")
        assert answer.status_code == 503
        assert answer.json() == {"ready": False, "problem": "no jetcron service answered within 2s"}
    finally:
        await gateway.stop()
        await stalled.close()


async def test_the_gateway_dates_outages_from_natss_last_answer(
    nats_server: NatsServer,
) -> None:
    # newcomer16b F1: only `serve` probed. The client gives a frozen server up within 4-6 s
    # (newcomer17b #1); an outage dated from the freeze, not from the connect 5 s before it,
    # shows the gateway's watch is fed by probes too
    import os
    import signal

    from conftest import freeze
    from jetcron.connect import ConnectOptions
    from jetcron.web.gateway import Gateway

    gateway = Gateway(ConnectOptions(servers=nats_server.url), Tokens(), local_user="me")
    await gateway.start()
    try:
        for _ in range(100):
            if gateway.connected:
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(5)  # probes answered
        freeze(nats_server)
        await asyncio.sleep(8)
        assert nats_server.pid is not None
        os.kill(nats_server.pid, signal.SIGCONT)
        for _ in range(200):
            if gateway.watch.last_outage is not None:
                break
            await asyncio.sleep(0.05)
        outage = gateway.watch.report()["last_outage"]
        assert outage is not None and outage["connection_held"] is False, outage
        assert 7.5 <= outage["seconds"] <= 11.5, outage
        assert outage["noticed"] > outage["from"]
    finally:
        await gateway.stop()


async def test_a_stalled_nats_is_one_cause_for_every_route_dated_from_the_first_failure(
    nats_server: NatsServer,
) -> None:
    # newcomer18b F11: /api/v1/views blamed "all replicas busy, stalled or frozen" and dated it
    # from an answer 22 s before the outage, while /api/v1/runs said "NATS is unreachable"
    import os
    import signal
    import time

    from conftest import freeze
    from jetcron.connect import ConnectOptions
    from jetcron.errors import NatsUnreachable
    from jetcron.web.gateway import Gateway

    cause = "NATS is unreachable (the server does not answer, or the connection is lost"
    gateway = Gateway(ConnectOptions(servers=nats_server.url), Tokens(), local_user="me")
    await gateway.start()
    try:
        for _ in range(100):
            if gateway.connected:
                break
            await asyncio.sleep(0.05)
        gateway.freshness.answered(None)  # as an earlier page's poll did
        await asyncio.sleep(2)
        freeze(nats_server)
        began = time.time()
        said = []
        for view in ("due", "runs"):
            with pytest.raises(NatsUnreachable) as raised:
                await gateway.ask(view)
            said.append(str(raised.value))
        report = gateway.freshness.report()
    finally:
        assert nats_server.pid is not None
        os.kill(nats_server.pid, signal.SIGCONT)
        await gateway.stop()
    assert all(cause in s for s in said), said
    assert cause in report["problem"]
    since = datetime.strptime(report["since"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    assert since.timestamp() >= int(began), report


def test_the_views_last_word_stale_silent_and_current_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from jetcron.web import freshness

    wall = iter([1_000.0, 1_060.0, 1_120.0, 1_180.0])
    monkeypatch.setattr(freshness.time, "time", lambda: next(wall))
    seen = freshness.Freshness()
    assert seen.due() and seen.report() == {"current": True, "answering": True}

    seen.answered(("2026-03-01T12:00:00Z", "3 event(s) behind the log"))
    assert not seen.due()
    assert seen.report() == {"current": False, "answering": True,
                             "since": "2026-03-01T12:00:00Z", "problem": "3 event(s) behind the log"}  # fmt: skip

    line = "no jetcron service answered query `due`: start one with `jetcron up` (local, "
    seen.failed(line + "embedded server) or `jetcron serve` (against an existing NATS)")
    assert "`jetcron" not in seen.report()["problem"]  # worded for the web
    seen.failed("no jetcron service answered query `due`: again")
    report = seen.report()
    # since the first failure (1060 s after the epoch), not the last answer (newcomer18b F11)
    assert (report["answering"], report["since"]) == (False, "1970-01-01T00:17:40Z")
    assert report["last_answer"] == "1970-01-01T00:16:40Z"
    assert report["problem"] == "no jetcron service answered query `due`: again"

    seen.answered(None)
    assert seen.report() == {"current": True, "answering": True}


def test_a_nats_outage_is_dated_as_the_live_stream_dates_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """nc21a #13: the banner's "NATS is unreachable since T" kept T from the live stream
    (the connection's start of the outage), then moved to the views' first failed query."""
    from jetcron.web import freshness

    monkeypatch.setattr(freshness.time, "time", lambda: 1_066.0)
    seen = freshness.Freshness()
    seen.failed("NATS is unreachable (reconnecting)", nats_away=True, began=1_060.0)
    assert seen.report()["since"] == "1970-01-01T00:17:40Z"  # 1060, not the query's 1066
    later = freshness.Freshness()
    later.failed("no jetcron service answered query `due`", began=None)
    assert later.report()["since"] == "1970-01-01T00:17:46Z"


def test_a_stale_reason_names_no_jetstream_subject() -> None:
    from jetcron.web import freshness

    seen = freshness.Freshness()
    reason = (
        "the projection follower is down (JetStream API $JS.API.CONSUMER.CREATE.JETCRON.p-1: "
        "NATS is unreachable (reconnecting))"
    )
    seen.answered(("2026-03-01T12:00:00Z", reason))
    said = seen.report()["problem"]
    assert said == "the projection follower is down (NATS is unreachable (reconnecting))"


def test_a_readable_token_file_with_tokens_in_clear_is_warned_about(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    clear, hashed = tmp_path / "clear.toml", tmp_path / "hashed.toml"
    clear.write_text('[users.a]\nrole = "admin"\ntoken = "x"\n')
    hashed.write_text(f'[users.a]\nrole = "admin"\ntoken_sha256 = "{digest("x")}"\n')
    for path in (clear, hashed):
        path.chmod(0o644)

    load_tokens(hashed)
    assert not caplog.records  # why: digests hold nothing to steal
    load_tokens(clear)
    assert "readable by others (mode 644): chmod 600 it" in caplog.text
    caplog.clear()
    clear.chmod(0o600)
    load_tokens(clear)
    assert not caplog.records


def test_the_definition_is_shown_as_schedule_show_says_it() -> None:
    import msgspec

    from jetcron.domain.field_values import definition_of
    from jetcron.domain.fields import FIELDS, ScheduleFields

    fields = ScheduleFields(
        spec="0 3 * * *", tz="Europe/Berlin", command=["backup", "--full"], cwd="/srv",
        env={"MODE": "x"}, secret_env={"TOKEN": "kv:backup.TOKEN"}, retries=2,
        retry_backoff="30s", end=datetime(2027, 1, 1, tzinfo=UTC), max_runs=5,
        max_cpu=80.0, metadata={"owner": "ops"}, expect_done_by="06:00", exclude=["holidays"],
    )  # fmt: skip
    data = msgspec.to_builtins(definition_of(fields))
    shown = bodies.shown_fields(data)
    assert shown["fields"] == msgspec.to_builtins(fields)  # every field set, export's units
    assert shown["fields"]["secret_env"] == {"TOKEN": "kv:backup.TOKEN"}  # a reference only
    assert shown["defaults"]["timeout"] == "1h" and shown["defaults"]["overlap"] == "skip"
    # why: every field of the table is said once, set or default (a job's kind is set)
    said = [*shown["fields"], *shown["defaults"]]
    assert sorted(said) == sorted(k for k in FIELDS if k not in ("shell", "action", "params"))


def test_next_fires_mark_the_skipped_ones() -> None:
    from jetcron.web.timing import fire_rows, planned_skips

    fires = [datetime(2026, 12, d, 2, 30, tzinfo=UTC) for d in (3, 4)]
    rows = fire_rows(fires, "30 2 * * *", "UTC")
    marked = planned_skips(rows, {"skips": {"2026-12-03T02:30:00Z": "skipped by alice: tonight"}})
    assert [r.get("skipped") for r in marked] == ["skipped by alice: tonight", None]
    assert planned_skips(rows, {}) == rows
