"""`jetcron executors` and `jetcron actions`: executors online now, from their heartbeats."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from jetcron.cli import text
from jetcron.cli.common import (
    JsonOpt,
    ServerOpt,
    ask_view,
    echo,
    handle_errors,
    print_json,
    run,
    table,
    with_nats,
)
from jetcron.errors import (
    InfrastructureError,
    JetcronError,
)

if TYPE_CHECKING:
    from nats.aio.client import Client


def _executors(server: str) -> list[Any]:
    from jetcron.log.heartbeats import online_or_why

    async def listed(nc: Client) -> list[Any]:
        rows, why = await online_or_why(nc, timeout=5.0)
        if rows is None:
            raise InfrastructureError(why)  # why: "nats: timeout" alone names nothing
        return rows

    return run(with_nats(server, listed))


@handle_errors
def executors(server: str = ServerOpt, as_json: bool = JsonOpt) -> None:
    """Executors online now (from their heartbeats)."""
    rows = _executors(server)
    if as_json:
        print_json(rows)
        return
    if not rows:
        echo("no executor online (none has a live heartbeat)")
        for note in _log_full(server):
            echo(f"note: {note} (heartbeats are refused too)", err=True)
        return
    table(
        None,
        ["name", "targets", "running", "shell", "cpu %", "mem %", "clock", "seen", "problems"],
        (
            [
                e.name,
                ", ".join([*e.targets, *(f"tag:{t}" for t in e.tags)]),
                len(e.running),
                {True: "yes", False: "no", None: "-"}[e.allow_shell],
                "-" if e.cpu_percent is None else f"{e.cpu_percent:.0f}",
                "-" if e.memory_percent is None else f"{e.memory_percent:.0f}",
                "-" if e.clock_offset_s is None else f"{e.clock_offset_s:+.3f}s",
                text.utc(e.seen_at or e.host_time),
                "; ".join(e.problems) or "-",
            ]
            for e in rows
        ),
    )


def _log_full(server: str) -> list[str]:
    """The service's `log full` note, if it has one (why no heartbeat is stored)."""
    try:
        notes = ask_view(server, "status").get("service", {}).get("notes", [])
    except (JetcronError, OSError):
        return []  # why: no service answers (or may not be asked): just "none online"
    return [n for n in notes if n.startswith("log full")]


@handle_errors
def actions(server: str = ServerOpt, as_json: bool = JsonOpt) -> None:
    """Actions the executors online now can run, and who offers them."""
    offered = actions_offered(_executors(server))
    if as_json:
        print_json(offered)
        return
    if not offered:
        echo("no executor online offers an action")
        return
    table(
        None,
        ["action", "parameters", "executors", "targets"],
        (
            [a["action"], " ".join(a["parameters"]) or "-", ", ".join(a["executors"]),
             ", ".join(a["targets"])]
            for a in offered
        ),
    )  # fmt: skip


def actions_offered(infos: Iterable[Any]) -> list[dict[str, Any]]:
    """[{action, parameters, executors, targets}] by action name, from executor heartbeats."""
    by: dict[str, dict[str, set[str]]] = {}
    params: dict[str, list[str]] = {}
    for info in infos:
        for name in info.actions:
            entry = by.setdefault(name, {"executors": set(), "targets": set()})
            entry["executors"].add(info.name)
            entry["targets"].update(info.targets)
            params.setdefault(name, list(info.action_params.get(name, [])))
    return [
        {
            "action": name,
            "parameters": params[name],
            "executors": sorted(e["executors"]),
            "targets": sorted(e["targets"]),
        }
        for name, e in sorted(by.items())
    ]
