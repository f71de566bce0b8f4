"""A run-history retention under the rollup horizon is refused (newcomer16b F6): the open UTC
day's statistics live only in the views until its rollup (a day + 1 h), so a shorter retention
made `stats` undercount and replicas disagree. One line, exit 2, naming the minimum; 2d and
'forever' are fine; a log set shorter before this rule gets a warning from the service."""

from __future__ import annotations

import asyncio
import logging
import subprocess
import sys
from collections.abc import Iterator

import nats
import pytest
from served import scheduler_in_thread

from jetcron import service
from jetcron.cli.serving import parse_retention
from jetcron.errors import InvalidInput
from jetcron.log.stream import EventLog
from test_e2e import ENV

REFUSED = (
    "at least 2d, or 'forever': run events must outlive their UTC day's rollup (a day + 1 h), "
    "or `stats` undercounts that day and replicas disagree"
)


def jetcron(argv: list[str], tmp_path: object) -> subprocess.CompletedProcess[str]:
    """`python -m jetcron ARGV` ({tmp} in ARGV is tmp_path), as a person starts it."""
    args = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    return subprocess.run(
        [sys.executable, "-m", "jetcron", *args],
        capture_output=True,
        text=True,
        env=ENV,
        timeout=30,
    )


@pytest.mark.parametrize(
    "argv",
    [
        ["up", "--data-dir", "{tmp}/data", "--port", "1", "--retention", "10m"],
        ["serve", "-s", "nats://127.0.0.1:1", "--retention", "1d"],
    ],
    ids=["up-10m", "serve-1d"],
)
def test_up_and_serve_refuse_a_retention_under_two_days_before_starting_anything(
    argv: list[str], tmp_path: object
) -> None:
    done = jetcron(argv, tmp_path)

    assert done.returncode == 2, done.stderr
    assert done.stderr == f"error: --retention {argv[-1]}: {REFUSED}\n"
    assert not (tmp_path / "data").exists()  # type: ignore[operator]


@pytest.mark.parametrize(
    ("text", "seconds"), [("2d", 172800), ("30d", 2592000), ("forever", 0), ("48h", 172800)]
)
def test_two_days_or_more_and_forever_are_accepted(text: str, seconds: int) -> None:
    assert parse_retention(text) == seconds


@pytest.mark.parametrize("text", ["500ms", "10m", "47h59m", "1d"])
def test_anything_shorter_is_refused(text: str) -> None:
    with pytest.raises(InvalidInput, match=r"at least 2d, or 'forever'"):
        parse_retention(text)


async def test_the_python_api_refuses_it_too(nc: nats.aio.client.Client) -> None:
    with pytest.raises(InvalidInput, match=r"^retention 600s: at least 2d"):
        await service.run(nc, stop=asyncio.Event(), config=service.ServiceConfig(retention_s=600))


@pytest.fixture
def short_log(nats_url: str) -> str:
    async def go() -> None:
        nc = await nats.connect(nats_url)
        await EventLog(nc).ensure_stream(retention_s=600)
        await nc.close()

    asyncio.run(go())
    return nats_url


def test_a_log_set_shorter_before_gets_a_warning(
    short_log: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="jetcron.service"):
        started: Iterator[str] = scheduler_in_thread(short_log)
        next(started)
        next(started, None)

    assert "the log keeps run history 10m, too short (at least 2d, or 'forever': " in caplog.text
    assert "restart a replica with --retention 2d or longer" in caplog.text


@pytest.mark.parametrize("text", ["0", "off", "none", "OFF"])
def test_the_ambiguous_spellings_are_refused_forever_is_not(text: str) -> None:
    # newcomer19c #4: `serve --retention 0` meant forever for the whole log, silently
    with pytest.raises(InvalidInput, match=r"ambiguous \(keep nothing, or forever\?\)"):
        parse_retention(text)


def test_serve_refuses_retention_0_before_connecting(tmp_path: object) -> None:
    argv = ["serve", "-s", "nats://127.0.0.1:1", "--retention", "0"]
    done = jetcron(argv, tmp_path)
    assert done.returncode == 2, done.stderr
    assert done.stderr == (
        "error: --retention 0: ambiguous (keep nothing, or forever?): give 'forever' or a "
        "duration of at least 2d\n"
    )


@pytest.mark.parametrize(
    "argv",
    [
        ["up", "--data-dir", "{tmp}/data", "--port", "1", "--retention", "99999d"],
        ["serve", "-s", "nats://127.0.0.1:1", "--retention", "3651d"],
    ],
    ids=["up-99999d", "serve-3651d"],
)
def test_a_retention_beyond_ten_years_is_refused_forever_is_not(
    argv: list[str], tmp_path: object
) -> None:
    # newcomer20b F2: 99999d started without a word, and nats-server deleted every run event
    done = jetcron(argv, tmp_path)
    assert done.returncode == 2, done.stderr
    assert done.stderr == (
        f"error: --retention {argv[-1]}: at most 3650d (10 years), or 'forever': nats-server "
        "deletes events with a much longer TTL as soon as they are stored\n"
    )
    assert not (tmp_path / "data").exists()  # type: ignore[operator]
    assert parse_retention("3650d") == 3650 * 86400


def test_health_names_a_log_set_beyond_the_maximum() -> None:
    from jetcron.projections.status import retention_problems

    [problem] = retention_problems("JETCRON", 99999 * 86400)
    assert problem["kind"] == "retention_long"
    assert problem["detail"].startswith("run history kept 99999d, too long (at most 3650d")
    assert problem["detail"].endswith("restart a replica with --retention forever")
    assert retention_problems("JETCRON", 3650 * 86400) == []
