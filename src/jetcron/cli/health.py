"""`jetcron health`: problems found by the views, and their acknowledgement (`--ack`)."""

from __future__ import annotations

from typing import Any

import typer

from jetcron.cli.common import (
    ActorOpt,
    JsonOpt,
    ServerOpt,
    ask_view,
    command_meta,
    echo,
    handle_errors,
    print_json,
    run,
    table,
    with_nats,
)
from jetcron.errors import (
    InfrastructureError,
    InvalidInput,
    NotPermitted,
    ServiceUnavailable,
)

HEALTHY, UNHEALTHY, UNREACHABLE = 0, 1, 3
"""`jetcron health` exit codes: all good, problems found, no answer (no NATS or no service)."""


@handle_errors
def health(
    server: str = ServerOpt,
    as_json: bool = JsonOpt,
    ack: bool = typer.Option(
        False,
        "--ack",
        help="Acknowledge the unreadable and rejected events and the offline executors listed "
        "now (recorded in the log with --reason; the events stay in the log and in `status`, an "
        "executor is listed again if it comes back and dies); then show what is left.",
    ),
    reason: str = typer.Option("", "--reason", help="Why (with --ack), recorded with it."),
    actor: str | None = ActorOpt,
) -> None:
    """Problems: failing, flaky or stale schedules, breaker pauses, offline executors, bad events.

    Bad events: unreadable or rejected ones; offline executors: heartbeat expired (one stopped
    on purpose is not listed). `--ack` acknowledges those listed now.

    Exit 0 healthy, 1 unhealthy, 3 unreachable (no NATS, or no jetcron service answers).
    """
    if reason and not ack:
        raise InvalidInput("--reason goes with --ack")
    seq = 0
    if ack:  # why: outside the try below: a refused or lost command is not "unreachable"
        seq = run(with_nats(server, lambda nc: _acknowledge(nc, actor, reason)))
        echo(
            f"acknowledged the unreadable and rejected events before log seq {seq}, "
            "and the executors offline then",
            err=True,
        )
    try:
        report = _health_at(server, ask_view(server, "health"), seq)
    except NotPermitted:
        raise  # why: the identity may not ask; the service is not unreachable (exit 1)
    except (InfrastructureError, OSError) as err:
        # why: no service answers, but NATS does: say whether a scheduler still ticks
        ticker = _no_ticker(server) if type(err) is ServiceUnavailable else None
        if as_json:
            more = {"problems": [ticker]} if ticker else {}
            print_json({"healthy": False, "reachable": False, "error": str(err), **more})
        echo(f"unreachable: {err}", err=True)
        if ticker:
            echo(ticker["detail"], err=True)
        raise typer.Exit(UNREACHABLE) from None
    if as_json:
        print_json(report)
    elif report.get("healthy"):
        echo("healthy")
    else:
        table(
            None,
            ["problem", "subject", "detail"],
            ([p["kind"].replace("_", " "), p["subject"], p["detail"]] for p in report["problems"]),
        )
    raise typer.Exit(HEALTHY if report.get("healthy") else UNHEALTHY)


def _no_ticker(server: str) -> dict[str, Any] | None:
    """The `no_ticker_leader` problem as the lease bucket shows it (the rule: health.py);
    None if a scheduler holds the lease, or NATS cannot be asked either."""
    from datetime import UTC, datetime

    import msgspec

    from jetcron.log.lease import last_written, lease_holder
    from jetcron.projections.health import no_ticker_leader

    async def look(nc: Any) -> tuple[str | None, float | None]:
        holder = await lease_holder(nc)
        return holder, None if holder else await last_written(nc)

    try:
        holder, written = run(with_nats(server, look))
    except (InfrastructureError, OSError):
        return None
    when = datetime.fromtimestamp(written, UTC) if written else None
    problem = no_ticker_leader(holder, last_held=when)
    return None if problem is None else msgspec.to_builtins(problem)


async def _acknowledge(nc: Any, actor: str | None, reason: str) -> int:
    """Send `health-ack`; the log seq of the acknowledgement."""
    from jetcron.client import send_command
    from jetcron.domain.commands import AcknowledgeHealth

    reply = await send_command(nc, AcknowledgeHealth(**command_meta("health", actor, reason)))
    return int(reply.events[0].seq)


def _health_at(server: str, report: Any, seq: int, wait_s: float = 3.0) -> Any:
    """The health report once the views have folded log seq `seq` (or the last one after
    `wait_s`): the answer to an --ack shows the acknowledgement."""
    import time

    deadline = time.monotonic() + wait_s
    while report.get("position", seq) < seq and time.monotonic() < deadline:
        time.sleep(0.1)
        report = ask_view(server, "health")
    return report
