"""Benchmarks: one module per figure in DESIGN.md §7, run together by `python -m bench`; they
measure the jetcron of this checkout (its src/), whatever the venv has installed."""

import sys
from pathlib import Path

_SRC = Path(__file__).resolve().parents[1] / "src"
# why: an installed jetcron (another checkout's, in a shared venv) must not be measured instead
if (_SRC / "jetcron").is_dir() and str(_SRC) not in sys.path:
    sys.path.insert(0, str(_SRC))
