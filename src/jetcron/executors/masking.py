"""Secret values out of a result's captured output and error: whole values, and the start of
one the output cap cut off."""

from __future__ import annotations

from collections.abc import Iterable

import msgspec

from jetcron.executors.results import RunResult

MASK = "***"
_REPLACEMENT = "\ufffd"
"""What decoding leaves of a character the cap cut in the middle of its bytes."""


def masked(result: RunResult, secrets: Iterable[str]) -> RunResult:
    """The result with every secret value in its output and error replaced by `***`; a stream
    the executor cut also loses a secret's first characters at its end."""
    values = sorted((v for v in secrets if v), key=len, reverse=True)
    if not values:
        return result
    out = result.output
    output = msgspec.structs.replace(
        out,
        stdout=hide(out.stdout, values, cut=out.stdout_truncated),
        stderr=hide(out.stderr, values, cut=out.stderr_truncated),
    )
    return msgspec.structs.replace(result, output=output, error=hide(result.error, values))


def hide(text: str, values: list[str], *, cut: bool = False) -> str:
    """`text` with each of `values` (longest first) replaced by `***`; with `cut`, also the
    longest start of a value that `text` ends with."""
    for value in values:  # why: longest first, so a secret inside another is not half-shown
        text = text.replace(value, MASK)
    # why: the cap keeps the first bytes; a secret it cuts in two is no longer a whole value,
    # and its first half would be shown in clear (newcomer16c #7)
    return _hide_cut_tail(text, values) if cut else text


def _hide_cut_tail(text: str, values: list[str]) -> str:
    """Mask the longest proper prefix of a value that ends `text` (a character cut in the
    middle of its bytes, decoded as U+FFFD, goes with it)."""
    body = text.rstrip(_REPLACEMENT)
    longest = 0
    for value in values:
        for k in range(min(len(body), len(value) - 1), longest, -1):
            if body.endswith(value[:k]):
                longest = k
                break
    return body[: len(body) - longest] + MASK if longest else text
