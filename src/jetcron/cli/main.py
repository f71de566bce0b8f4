"""The `jetcron` command: the entry point and its command tree."""

from __future__ import annotations

import logging
import os

import typer

from jetcron import __version__
from jetcron.cli import files, schedule, system, timing, views

app = typer.Typer(
    name="jetcron",
    help="Event-sourced cron on NATS JetStream. Start locally with `jetcron up`.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(schedule.app, name="schedule")
app.add_typer(views.runs_app, name="runs")
app.command("preview")(timing.preview)
app.command("due")(timing.due)
app.command("up")(system.up)
app.command("serve")(system.serve)
app.command("executor")(system.executor)
app.command("executors")(views.executors)
app.command("stats")(views.stats)
app.command("health")(views.health)
app.command("audit")(views.audit)
app.command("status")(views.status)
app.command("replay")(views.replay)
app.command("apply")(files.apply)
app.command("export")(files.export)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"jetcron {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    verbose: int = typer.Option(
        0, "--verbose", "-v", count=True, help="More logging (-v info, -vv debug)."
    ),
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version."
    ),
) -> None:
    level = {0: logging.WARNING, 1: logging.INFO}.get(verbose, logging.DEBUG)
    level_name = os.environ.get("JETCRON_LOG_LEVEL")
    logging.basicConfig(
        level=level_name or level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )


def main() -> None:
    """Console script entry point."""
    app()
