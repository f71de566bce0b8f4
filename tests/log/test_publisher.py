"""How JetStream's publish acks map to jetcron's errors (no server: the mapping is pure)."""

from __future__ import annotations

import pytest

from jetcron.log.acks import parse_ack
from jetcron.log.errors import AppendFailed, ConcurrencyConflict

HEADERS = {"Nats-Expected-Last-Subject-Sequence": "7"}


def ack_error(err_code: int, description: str) -> bytes:
    return b'{"error":{"code":400,"err_code":%d,"description":"%s"}}' % (
        err_code,
        description.encode(),
    )


@pytest.mark.parametrize(
    ("err_code", "description"),
    [(10071, "wrong last sequence: 9"), (10164, "wrong last sequence")],
    ids=["single-server-10071", "cluster-10164"],
)
def test_a_lost_race_is_a_conflict_on_one_server_and_on_a_cluster(
    err_code: int, description: str
) -> None:
    with pytest.raises(ConcurrencyConflict, match="expected last sequence 7") as raised:
        parse_ack("jetcron.sched.a", (ack_error(err_code, description), ""), HEADERS)
    assert raised.value.subject == "jetcron.sched.a"
    assert raised.value.expected == 7


def test_other_errors_are_append_failures() -> None:
    with pytest.raises(AppendFailed, match="err_code 10077"):
        parse_ack("jetcron.sched.a", (ack_error(10077, "maximum messages exceeded"), ""), HEADERS)
    with pytest.raises(AppendFailed, match="no responders"):
        parse_ack("jetcron.sched.a", (b"", "503"), HEADERS)


def test_an_ack_is_parsed() -> None:
    ack = parse_ack("jetcron.sched.a", (b'{"stream":"JETCRON","seq":8}', ""), HEADERS)
    assert (ack.stream, ack.seq, ack.duplicate) == ("JETCRON", 8, False)
