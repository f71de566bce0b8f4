"""Wording of the errors an operator reads when NATS is away: one cause, and what became of the
request (newcomer19b F6: a stalled server's answer said both "cannot send" and "sent")."""

from jetcron.errors import NatsUnreachable


def test_a_request_a_stalled_server_took_is_not_called_unsent() -> None:
    said = str(NatsUnreachable("query `runs`", stalled=True))
    assert said.startswith("no answer to query `runs`: NATS is unreachable")
    assert "cannot send" not in said and "it was sent, but no answer came" in said


def test_a_request_never_sent_says_so() -> None:
    said = str(NatsUnreachable("query `runs`"))
    assert said.startswith("cannot send query `runs`: NATS is unreachable")
    assert "nothing was sent" in said
