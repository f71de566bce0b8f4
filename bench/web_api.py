"""The HTTP gateway: p50 of list-schedules and get-run through `jetcron web`, against the same
queries sent straight over NATS (the CLI's path) in the same run.

  api_list_p50_ms      GET /api/v1/schedules (100 schedules) over real HTTP (uvicorn)
  api_get_run_p50_ms   GET /api/v1/runs/{id}
  api_p50_ms           p50 over both requests together
  nats_list_p50_ms, nats_get_run_p50_ms   the same queries with jetcron.client.query
  api_overhead_ms      api_p50_ms minus the NATS p50 over both (what HTTP + the gateway add)
"""

from __future__ import annotations

import asyncio
import contextlib
import statistics
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

from bench.common import connected, nats_server

SCHEDULES = 100


@contextlib.contextmanager
def stack_in_thread(url: str, tmp: Path, token_file: Path | None = None) -> Iterator[str]:
    """The scheduler service, an executor (`webhost`, shell allowed) and `jetcron web` on one
    event loop in a background thread, against the NATS at `url`; yields the gateway's base URL.

    The web tests use this too (tests/web/webstack.py).
    """
    import nats

    from jetcron import service
    from jetcron.connect import ConnectOptions
    from jetcron.executors.agent import Executor
    from jetcron.executors.config import ExecutorConfig
    from jetcron.web.serve import gateway_for, listen, serve, url_of

    sock = listen("127.0.0.1", 0)
    gateway = gateway_for(ConnectOptions(servers=url, name="jetcron-web"), "127.0.0.1", token_file)
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    stop: list[asyncio.Event] = []

    async def main() -> None:
        stop.append(asyncio.Event())
        nc = await nats.connect(url)
        up = asyncio.Event()
        tasks = [asyncio.create_task(service.run(nc, stop=stop[0], ready=up))]
        await up.wait()
        config = ExecutorConfig(
            name="webhost", targets=["webhost", "default"], allow_shell=True, ack_wait_s=5,
            kill_grace_s=0.3, drain_timeout_s=0.5, journal_dir=str(tmp / "journal"),
        )  # fmt: skip
        tasks.append(asyncio.create_task(Executor(nc, config).run(stop[0])))
        tasks.append(asyncio.create_task(serve(gateway, sock, stop[0])))
        ready.set()
        await asyncio.gather(*tasks)
        await nc.close()

    thread = threading.Thread(target=loop.run_until_complete, args=(main(),), daemon=True)
    thread.start()
    assert ready.wait(30), "the stack did not start"
    try:
        yield url_of(sock)
    finally:
        loop.call_soon_threadsafe(stop[0].set)
        thread.join(20)
        loop.close()


def _prepare(http: httpx.Client) -> str:
    """SCHEDULES schedules and one finished run; its id."""
    deadline = time.monotonic() + 20
    while http.get("/readyz").status_code != 200:
        assert time.monotonic() < deadline, "gateway not ready"
        time.sleep(0.1)
    for i in range(SCHEDULES):
        body = {"name": f"bench-{i:03d}", "spec": "0 3 * * *", "command": ["true"]}
        http.post("/api/v1/schedules", json=body).raise_for_status()
    run_id: str = http.post("/api/v1/schedules/bench-000/trigger").json()["run_id"]
    while http.get(f"/api/v1/runs/{run_id}").json()["status"] != "succeeded":
        assert time.monotonic() < deadline + 20, "run did not finish"
        time.sleep(0.05)
    return run_id


def _p50(samples: list[float]) -> float:
    return round(statistics.median(samples), 2)


async def run(quick: bool) -> dict[str, Any]:
    from jetcron.client import query

    rounds = 100 if quick else 500
    api: dict[str, list[float]] = {"list": [], "run": []}
    direct: dict[str, list[float]] = {"list": [], "run": []}
    with tempfile.TemporaryDirectory(prefix="jetcron-bench-web-") as tmp:
        async with nats_server("web") as server:
            with (
                stack_in_thread(server.url, Path(tmp)) as base,
                httpx.Client(base_url=base, timeout=10) as http,
            ):
                run_id = await asyncio.to_thread(_prepare, http)
                async with connected(server.url) as nc:
                    for _ in range(rounds):  # why: interleaved, so load weighs on both alike
                        for key, path in (
                            ("list", "/api/v1/schedules"),
                            ("run", f"/api/v1/runs/{run_id}"),
                        ):
                            t0 = time.perf_counter()
                            await asyncio.to_thread(http.get, path)
                            api[key].append((time.perf_counter() - t0) * 1000)
                        for key, (view, params) in (
                            ("list", ("schedules", {})),
                            ("run", ("run", {"run_id": run_id})),
                        ):
                            t0 = time.perf_counter()
                            await query(nc, view, params)
                            direct[key].append((time.perf_counter() - t0) * 1000)
    both_api, both_nats = api["list"] + api["run"], direct["list"] + direct["run"]
    return {
        "api_p50_ms": _p50(both_api),
        "api_list_p50_ms": _p50(api["list"]),
        "api_get_run_p50_ms": _p50(api["run"]),
        "nats_list_p50_ms": _p50(direct["list"]),
        "nats_get_run_p50_ms": _p50(direct["run"]),
        "api_overhead_ms": round(_p50(both_api) - _p50(both_nats), 2),
        "notes": [
            f"web_api: {SCHEDULES} schedules, {rounds} rounds, HTTP/1.1 keep-alive, no tokens"
        ],
    }
