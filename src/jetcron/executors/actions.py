"""Actions: Python callables run by name, registered in the `jetcron.actions` entry-point group.

An action is `async def f(ctx: ActionContext, **params) -> Any` or a plain function (run in
a thread). Packages register theirs in pyproject.toml:

    [project.entry-points."jetcron.actions"]
    set_level = "reef_actions:set_level"

The built-ins (`log`, `http`, `sleep`, `noop`) are registered directly too, so they work
from a source checkout, and they win over a plugin of the same name.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import logging
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from importlib.metadata import EntryPoint, entry_points
from typing import Any

import msgspec

from jetcron.errors import InvalidInput, JetcronError
from jetcron.executors.failure import FailureClass
from jetcron.executors.results import RunResult, jsonable, rejected
from jetcron.log.follow import set_within

log = logging.getLogger(__name__)

GROUP = "jetcron.actions"
HTTP_BODY_CAP = 4096
Action = Callable[..., Any]


@dataclass(frozen=True)
class ActionContext:
    """What an action knows about the run it serves."""

    run_id: str
    schedule: str
    fire_time: datetime
    attempt: int
    cancel: asyncio.Event
    """Set when the run is cancelled, handed back or times out: stop soon."""
    params: dict[str, Any] = field(default_factory=dict)


class UnknownAction(InvalidInput, LookupError):
    """No action of this name is installed on the executor."""

    def __init__(self, name: str, installed: list[str]) -> None:
        self.name = name
        self.installed = installed
        super().__init__(f"unknown action {name!r} (installed: {', '.join(installed) or 'none'})")


class InvalidAction(InvalidInput):
    """An action that cannot be loaded, or params that do not fit its signature."""

    def __init__(self, name: str, problem: str) -> None:
        self.name = name
        self.problem = problem
        super().__init__(f"action {name!r}: {problem}")


class ActionError(JetcronError):
    """Raised by an action to fail with a specific class (e.g. permanent: do not retry)."""

    def __init__(self, message: str, failure_class: FailureClass = FailureClass.TRANSIENT) -> None:
        self.failure_class = failure_class
        super().__init__(message)


# -- the registry ------------------------------------------------------------------------------


@functools.cache
def _entry_points() -> dict[str, EntryPoint]:
    """Installed entry points of the group, by name (read once per process)."""
    return {ep.name: ep for ep in entry_points(group=GROUP)}


_loaded: dict[str, Action] = {}


def installed() -> list[str]:
    """Names of every action this executor can run."""
    return sorted(set(BUILTINS) | set(_entry_points()))


def parameters() -> dict[str, list[str]]:
    """Each installed action's parameters as `name` (required) or `name=default`."""
    out: dict[str, list[str]] = {}
    for name in installed():
        try:
            sig = inspect.signature(resolve(name))
        except (InvalidInput, TypeError, ValueError):
            out[name] = []  # why: a plugin that cannot load still shows up, without parameters
            continue
        out[name] = [_describe(p) for p in list(sig.parameters.values())[1:] if _is_param(p)]
    return out


def _is_param(p: inspect.Parameter) -> bool:
    return p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)


def _describe(p: inspect.Parameter) -> str:
    """`url` (required), `[json]` (optional, no default), `timeout=30.0` (JSON default)."""
    if p.default is p.empty:
        return p.name
    if p.default is None:
        return f"[{p.name}]"
    try:
        return f"{p.name}={msgspec.json.encode(p.default).decode()}"
    except TypeError:
        return f"[{p.name}]"


def resolve(name: str) -> Action:
    """The callable of an action; UnknownAction or InvalidAction if there is none."""
    if name in BUILTINS:
        return BUILTINS[name]
    if name in _loaded:
        return _loaded[name]
    ep = _entry_points().get(name)
    if ep is None:
        raise UnknownAction(name, installed())
    try:
        fn = ep.load()
    except Exception as err:  # noqa: BLE001 - a broken plugin fails its runs, not the executor
        raise InvalidAction(name, f"cannot load {ep.value}: {err}") from err
    if not callable(fn):
        raise InvalidAction(name, f"{ep.value} is not callable")
    _loaded[name] = fn
    return _loaded[name]


# -- running one -------------------------------------------------------------------------------


async def run_action(
    name: str,
    ctx: ActionContext,
    *,
    timeout: float | None = None,  # noqa: ASYNC109 - the job's own limit, reported as timed_out
    grace: float = 5.0,
) -> RunResult:
    """Run an action to a RunResult; its failures, timeouts and cancellation are data."""
    started = time.monotonic()
    try:
        fn = resolve(name)
        _check_params(name, fn, ctx.params)
    except InvalidInput as err:
        return rejected(err)
    result = await _supervise(fn, ctx, timeout, grace)
    return msgspec.structs.replace(result, duration_s=time.monotonic() - started)


def _check_params(name: str, fn: Action, params: Mapping[str, Any]) -> None:
    """InvalidAction if the params do not bind to the action's signature."""
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError):
        return  # why: some callables (C functions) have no signature; let the call decide
    try:
        signature.bind(None, **params)
    except TypeError as err:
        raise InvalidAction(name, f"bad params: {err}") from err


async def _supervise(
    fn: Action, ctx: ActionContext, limit: float | None, grace: float
) -> RunResult:
    """Run the action until it returns, the time limit passes or the run is cancelled."""
    task = asyncio.ensure_future(_call(fn, ctx))
    cancelled = asyncio.ensure_future(ctx.cancel.wait())
    try:
        done, _ = await asyncio.wait(
            {task, cancelled}, timeout=limit, return_when=asyncio.FIRST_COMPLETED
        )
    except BaseException:
        task.cancel()
        raise
    finally:
        cancelled.cancel()
    # why the flag, not which task the loop saw end first: an action that returns at its
    # run's cancel (sleep) ends in the same turn as the cancel, and was then reported succeeded
    if task in done and not ctx.cancel.is_set():
        return _outcome(task)
    ending = "cancelled" if ctx.cancel.is_set() else "timed_out"
    ctx.cancel.set()  # why: tell a cooperative action to stop, then give it `grace` seconds
    await asyncio.wait({task}, timeout=grace)
    task.cancel()
    # why: a thread running a sync action cannot be stopped; we stop waiting for it.
    await asyncio.gather(task, return_exceptions=True)
    if ending == "timed_out":
        return RunResult(
            outcome="timed_out", failure_class=FailureClass.TIMEOUT.value, error="timed out"
        )
    return RunResult(outcome="cancelled")


async def _call(fn: Action, ctx: ActionContext) -> Any:
    """Await an async action; run a sync one in a thread."""
    if inspect.iscoroutinefunction(fn):
        return await fn(ctx, **ctx.params)
    value = await asyncio.to_thread(fn, ctx, **ctx.params)
    return await value if inspect.isawaitable(value) else value


def _outcome(task: asyncio.Future[Any]) -> RunResult:
    """The RunResult of an action task that ended by itself."""
    if task.cancelled():
        return RunResult(
            outcome="failed", failure_class="transient", error="the action cancelled itself"
        )
    err = task.exception()
    if err is None:
        return RunResult(outcome="succeeded", result=jsonable(task.result()))
    if isinstance(err, ActionError):
        return RunResult(outcome="failed", failure_class=err.failure_class.value, error=str(err))
    log.debug("action raised", exc_info=err)
    return RunResult(
        outcome="failed", failure_class="transient", error=f"{type(err).__name__}: {err}"
    )


# -- built-ins ---------------------------------------------------------------------------------


async def log_action(ctx: ActionContext, message: str = "", **_: Any) -> str:
    """Log `message` (with the run id) and return it."""
    log.info("run %s (%s): %s", ctx.run_id, ctx.schedule, message)
    return message


async def noop_action(ctx: ActionContext, **_: Any) -> None:
    """Do nothing, at once (benchmarks measure the executor with it)."""


async def sleep_action(ctx: ActionContext, seconds: float = 1.0, **_: Any) -> float:
    """Sleep `seconds`, returning early when the run is cancelled; returns the time slept."""
    started = time.monotonic()
    await set_within(ctx.cancel, float(seconds))
    return round(time.monotonic() - started, 3)


async def http_action(
    ctx: ActionContext,
    url: str,
    json: Any = None,
    timeout: float = 30.0,  # noqa: ASYNC109 - passed to urllib, which runs in a thread
    headers: dict[str, str] | None = None,
    method: str = "POST",
    **_: Any,
) -> dict[str, Any]:
    """POST `json` to `url`; a non-2xx answer fails the run (4xx other than 408/429: permanent)."""
    body = msgspec.json.encode(json)
    request = urllib.request.Request(url, data=body, method=method.upper())
    request.add_header("Content-Type", "application/json")
    request.add_header("X-Jetcron-Run-Id", ctx.run_id)
    for name, value in (headers or {}).items():
        request.add_header(name, value)
    status, text = await asyncio.to_thread(_send, request, float(timeout))
    if not 200 <= status < 300:
        permanent = 400 <= status < 500 and status not in (408, 429)
        cls = FailureClass.PERMANENT if permanent else FailureClass.TRANSIENT
        raise ActionError(f"HTTP {status} from {url}: {text[:200]}", cls)
    return {"status": status, "body": text}


def _send(request: urllib.request.Request, timeout: float) -> tuple[int, str]:
    """Send a request; (status, body text capped at HTTP_BODY_CAP)."""
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - operator's URL
            return int(response.status), response.read(HTTP_BODY_CAP).decode("utf-8", "replace")
    except urllib.error.HTTPError as err:
        with err:
            return int(err.code), err.read(HTTP_BODY_CAP).decode("utf-8", "replace")


BUILTINS: dict[str, Action] = {
    "log": log_action,
    "http": http_action,
    "sleep": sleep_action,
    "noop": noop_action,
}
