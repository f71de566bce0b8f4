"""When `up` restarts its nats-server for a stuck store: only stuck, only with room, not in a loop."""

from __future__ import annotations

import pytest

from jetcron.cli.upstore import ROOM, SPACING_S, Seen, action

NEVER = float("inf")


@pytest.mark.parametrize(
    ("seen", "then"),
    [
        pytest.param(Seen(False, 0, NEVER), "wait", id="not-stuck-full-disk"),
        pytest.param(Seen(True, 0, NEVER), "tell", id="stuck-no-room"),
        pytest.param(Seen(True, ROOM - 1, NEVER), "tell", id="stuck-too-little-room"),
        pytest.param(Seen(True, ROOM, NEVER), "restart", id="stuck-room"),
        pytest.param(Seen(True, ROOM, SPACING_S - 1), "tell", id="restarted-just-now"),
        pytest.param(Seen(True, ROOM, SPACING_S), "restart", id="restarted-a-while-ago"),
    ],
)
def test_action(seen: Seen, then: str) -> None:
    assert action(seen) == then
