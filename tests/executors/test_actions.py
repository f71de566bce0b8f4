"""Actions: the registry, the built-ins, and how their outcomes become RunResults."""

from __future__ import annotations

import asyncio
import http.server
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from importlib.metadata import EntryPoint
from typing import Any

import pytest

from jetcron.executors import actions
from jetcron.executors.actions import (
    ActionContext,
    ActionError,
    InvalidAction,
    UnknownAction,
    installed,
    resolve,
    run_action,
)
from jetcron.executors.failure import FailureClass


def ctx(**params: Any) -> ActionContext:
    return ActionContext(
        run_id="r1",
        schedule="lights",
        fire_time=datetime(2026, 1, 1, tzinfo=UTC),
        attempt=1,
        cancel=asyncio.Event(),
        params=params,
    )


# -- registry ---------------------------------------------------------------------------------


def test_builtins_are_installed_without_packaging() -> None:
    assert {"log", "http", "sleep", "noop"} <= set(installed())
    assert resolve("log") is actions.log_action
    assert resolve("noop") is actions.noop_action


def test_unknown_action_names_what_is_installed() -> None:
    with pytest.raises(
        UnknownAction, match=r"unknown action 'warp' \(installed: .*http, log, noop, sleep"
    ):
        resolve("warp")


async def test_unknown_action_is_a_permanent_failure() -> None:
    result = await run_action("warp", ctx())
    assert (result.outcome, result.failure_class) == ("failed", "permanent")
    assert result.error.startswith("unknown action 'warp'")


async def test_params_that_do_not_fit_are_a_permanent_failure() -> None:
    result = await run_action("http", ctx(json={"a": 1}))  # no url
    assert (result.outcome, result.failure_class) == ("failed", "permanent")
    assert "bad params" in result.error


def test_invalid_action_message() -> None:
    assert str(InvalidAction("x", "cannot load m:f")) == "action 'x': cannot load m:f"


# -- built-ins -----------------------------------------------------------------------------------


async def test_log_returns_its_message(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("INFO", logger="jetcron.executors.actions")
    result = await run_action("log", ctx(message="lights on"))
    assert (result.outcome, result.result) == ("succeeded", "lights on")
    assert "lights on" in caplog.text and "r1" in caplog.text


async def test_noop_returns_none_at_once() -> None:
    result = await run_action("noop", ctx())
    assert (result.outcome, result.result) == ("succeeded", None)
    assert result.duration_s < 0.1


async def test_sleep_honours_cancel() -> None:
    c = ctx(seconds=30)
    asyncio.get_running_loop().call_later(0.1, c.cancel.set)
    t0 = time.monotonic()
    result = await run_action("sleep", c)
    assert result.outcome == "cancelled"
    assert time.monotonic() - t0 < 1


async def test_sleep_finishes() -> None:
    result = await run_action("sleep", ctx(seconds=0.05))
    assert result.outcome == "succeeded" and result.result >= 0.05


async def test_sleep_times_out() -> None:
    result = await run_action("sleep", ctx(seconds=30), timeout=0.1)
    assert (result.outcome, result.failure_class) == ("timed_out", "timeout")


class _Handler(http.server.BaseHTTPRequestHandler):
    received: list[bytes] = []

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        body = self.rfile.read(int(self.headers["Content-Length"]))
        _Handler.received.append(body)
        status = int(self.path.strip("/") or 200)
        self.send_response(status)
        self.end_headers()
        self.wfile.write(b'{"ok": true}' if status < 300 else b"nope")

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def http_url() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


async def test_http_posts_json(http_url: str) -> None:
    result = await run_action("http", ctx(url=f"{http_url}/200", json={"level": 40}))
    assert result.outcome == "succeeded"
    assert result.result == {"status": 200, "body": '{"ok": true}'}
    assert _Handler.received[-1] == b'{"level":40}'


@pytest.mark.parametrize(
    ("status", "failure_class"), [(500, "transient"), (404, "permanent"), (429, "transient")]
)
async def test_http_non_2xx_fails(http_url: str, status: int, failure_class: str) -> None:
    result = await run_action("http", ctx(url=f"{http_url}/{status}", json={}))
    assert (result.outcome, result.failure_class) == ("failed", failure_class)
    assert result.error.startswith(f"HTTP {status} from ")


# -- custom actions -------------------------------------------------------------------------------


async def test_raising_action_is_a_transient_failure(monkeypatch: pytest.MonkeyPatch) -> None:
    async def boom(ctx: ActionContext) -> None:
        raise RuntimeError("controller offline")

    monkeypatch.setitem(actions.BUILTINS, "boom", boom)
    result = await run_action("boom", ctx())
    assert (result.outcome, result.failure_class, result.error) == (
        "failed",
        "transient",
        "RuntimeError: controller offline",
    )


async def test_action_error_chooses_its_class(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(ctx: ActionContext) -> None:
        raise ActionError("level out of range", FailureClass.PERMANENT)

    monkeypatch.setitem(actions.BUILTINS, "refuse", refuse)
    result = await run_action("refuse", ctx())
    assert (result.outcome, result.failure_class, result.error) == (
        "failed",
        "permanent",
        "level out of range",
    )


async def test_sync_action_runs_in_a_thread_with_params(monkeypatch: pytest.MonkeyPatch) -> None:
    def set_level(ctx: ActionContext, level: int) -> dict[str, Any]:
        return {"level": level, "thread": threading.current_thread() is not threading.main_thread()}

    monkeypatch.setitem(actions.BUILTINS, "set_level", set_level)
    result = await run_action("set_level", ctx(level=70))
    assert result.result == {"level": 70, "thread": True}


async def test_unserializable_result_is_kept_as_repr(monkeypatch: pytest.MonkeyPatch) -> None:
    async def odd(ctx: ActionContext) -> object:
        return {1, 2}

    async def odder(ctx: ActionContext) -> object:
        return object()

    monkeypatch.setitem(actions.BUILTINS, "odd", odd)
    monkeypatch.setitem(actions.BUILTINS, "odder", odder)
    assert (await run_action("odd", ctx())).result == {1, 2}
    assert (await run_action("odder", ctx())).result.startswith("<object object")


async def test_uncooperative_action_is_abandoned_after_grace(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def stubborn(ctx: ActionContext) -> None:
        while True:
            try:
                await asyncio.sleep(10)
            except asyncio.CancelledError:
                return

    monkeypatch.setitem(actions.BUILTINS, "stubborn", stubborn)
    t0 = time.monotonic()
    result = await run_action("stubborn", ctx(), timeout=0.1, grace=0.1)
    assert result.outcome == "timed_out"
    assert time.monotonic() - t0 < 1


def _plugins(monkeypatch: pytest.MonkeyPatch, **targets: str) -> None:
    """Pretend these entry points are installed (name -> "module:attr")."""
    eps = {n: EntryPoint(name=n, value=v, group=actions.GROUP) for n, v in targets.items()}
    monkeypatch.setattr(actions, "_entry_points", lambda: eps)
    monkeypatch.setattr(actions, "_loaded", {})


async def test_entry_point_actions_are_loaded_by_name(monkeypatch: pytest.MonkeyPatch) -> None:
    _plugins(monkeypatch, dim="jetcron.executors.actions:sleep_action", log="os:getcwd")
    assert resolve("dim") is actions.sleep_action
    assert resolve("log") is actions.log_action  # why: built-ins win over plugins
    assert "dim" in installed()
    assert (await run_action("dim", ctx(seconds=0))).outcome == "succeeded"


async def test_broken_plugin_fails_its_runs_permanently(monkeypatch: pytest.MonkeyPatch) -> None:
    _plugins(monkeypatch, gone="no_such_module_xyz:f", data="jetcron.executors.actions:GROUP")
    missing, not_callable = await run_action("gone", ctx()), await run_action("data", ctx())
    assert (missing.failure_class, not_callable.failure_class) == ("permanent", "permanent")
    assert missing.error.startswith("action 'gone': cannot load no_such_module_xyz:f")
    assert not_callable.error == "action 'data': jetcron.executors.actions:GROUP is not callable"
