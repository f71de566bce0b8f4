"""End to end: a schedule whose target no executor serves: its first run is triggered and never
started, and `fires` and `why` say the fires after it were skipped for a run "triggered, not
started yet", not for one "still in flight" (the ticker's TickerState.unstarted)."""

from __future__ import annotations

import re
import time

from test_e2e import Up


def test_fires_skipped_behind_a_run_nobody_started_say_so(up: Up) -> None:
    added = up.cli("schedule", "add", "lonely", "@every 2s", "--target", "nobody", "--", "true")
    assert added.returncode == 0, added.stderr
    deadline = time.monotonic() + 30
    while True:
        fires = up.cli("fires", "lonely")
        skipped = re.findall(r"^(\S+)\s+skipped\s.*?(overlap: .*)$", fires.stdout, re.M)
        if skipped:
            break
        assert time.monotonic() < deadline, (fires.stdout, fires.stderr)
        time.sleep(0.5)
    when, said = skipped[-1]
    assert re.fullmatch(r"overlap: previous run triggered, not started yet \(run \w{8}\)", said)
    why = up.cli("why", "lonely", when)
    assert why.returncode == 0, why.stderr
    assert "Skipped: overlap: previous run triggered, not started yet (run " in why.stdout
