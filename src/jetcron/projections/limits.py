"""Limits of query answers that the CLI checks before asking (a leaf: imports nothing)."""

DUE_LIMIT = 100
"""Fires per `due` answer unless asked otherwise."""
DUE_MAX = 1000
"""At most this many fires per `due` answer: with job text capped, ~0.5 MB, well under max_payload."""
FIRES_MAX = 10_000
"""Nominal fires one `fires`/`why` answer looks at, from the start of its window."""
