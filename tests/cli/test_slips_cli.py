"""Input that was accepted silently and only failed, or only meant something, later
(newcomer19a #11): refused with one line, exit 2 and nothing stored, or noted."""

from __future__ import annotations

import pytest
from served import cli, listed


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (
            ["schedule", "add", "e", "@daily", "-e", "BAD KEY=1", "--", "true"],
            "invalid variable name 'BAD KEY': letters, digits and '_', not starting with a digit",
        ),
        (
            ["schedule", "add", "t", "@daily", "--tag", "x", "--tag", "x", "--", "true"],
            "tag 'x' given twice",
        ),
        (
            ["calendar", "add", "k3", "--dates", "2026-12-25,2026-12-25"],
            "date '2026-12-25' given twice",
        ),
    ],
    ids=["env-name", "tag-twice", "date-twice"],
)
def test_a_slip_is_refused_and_nothing_is_stored(
    scheduler: str, args: list[str], said: str
) -> None:
    result = cli(scheduler, *args)

    assert result.exit_code == 2, result.output
    [line] = result.stderr.strip().splitlines()
    assert said in line, line
    assert listed(scheduler) == {}
    assert "k3" not in cli(scheduler, "calendar", "list").stdout


def test_an_update_that_repeats_a_tag_changes_nothing(scheduler: str) -> None:
    assert (
        cli(scheduler, "schedule", "add", "c11", "@daily", "--tag", "a", "--", "true").exit_code
        == 0
    )

    result = cli(scheduler, "schedule", "update", "c11", "--tag", "x", "--tag", "x")

    assert result.exit_code == 2, result.output
    assert "tag 'x' given twice" in result.stderr
    assert listed(scheduler)["c11"]["definition"]["tags"] == ["a"]


def test_a_capped_jitter_is_noted_on_add_and_update(scheduler: str) -> None:
    added = cli(scheduler, "schedule", "add", "j", "@every 10s", "--jitter", "1h", "--", "true")
    assert added.exit_code == 0, added.output
    assert (
        "note: jitter 1h is more than half the 10s between fires: each fire waits less than 5s"
        in added.stderr
    )

    slower = cli(scheduler, "schedule", "update", "j", "--spec", "@every 1m")
    assert slower.exit_code == 0, slower.output
    assert "each fire waits less than 30s" in slower.stderr
    fits = cli(scheduler, "schedule", "update", "j", "--jitter", "20s")
    assert fits.exit_code == 0 and "jitter" not in fits.stderr, fits.stderr


def test_a_secret_referred_to_by_name_is_said_to_be_unchecked(scheduler: str) -> None:
    flags = ["--secret-env", "K=kv:nosuchkey", "--", "true"]
    added = cli(scheduler, "schedule", "add", "s", "@daily", *flags)

    assert added.exit_code == 0, added.output
    assert "note: secret K: kv:nosuchkey is not checked now" in added.stderr
    assert "kv:nosuchkey" not in cli(scheduler, "schedule", "update", "s", "--retries", "1").stderr
