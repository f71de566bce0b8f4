"""Masking secrets in a result: whole values, and the start of one the output cap cut off."""

from __future__ import annotations

import pytest

from jetcron.domain.events import RunOutput
from jetcron.executors.masking import hide, masked
from jetcron.executors.results import RunResult


def test_secrets_are_masked_in_output_and_error() -> None:
    result = RunResult(
        outcome="failed",
        error="bad token abc123",
        output=RunOutput(stdout="tok=abc123 and abc123xyz", stderr="abc"),
    )
    out = masked(result, ["abc123", "abc123xyz", ""])
    assert (out.output.stdout, out.output.stderr, out.error) == (
        "tok=*** and ***",
        "abc",
        "bad token ***",
    )


@pytest.mark.parametrize(
    ("text", "cut", "want"),
    [
        pytest.param("xxS3cr3tV4", True, "xx***", id="cut-in-the-middle"),
        pytest.param("xxS", True, "xx***", id="cut-after-one-char"),
        pytest.param("xxS3cr3tV4", False, "xxS3cr3tV4", id="not-cut-nothing-to-hide"),
        pytest.param("S3cr3tV4lue-xyz then xS3", True, "*** then x***", id="whole-and-cut"),
        pytest.param("xxabc", True, "xxabc", id="no-secret-start"),
        pytest.param("xxp\ufffd", True, "xx***", id="cut-inside-a-character"),
        pytest.param("xx\ufffd", True, "xx\ufffd", id="cut-character-not-a-secret"),
    ],
)
def test_a_secret_the_cap_cut_in_two_is_masked_too(text: str, cut: bool, want: str) -> None:
    assert hide(text, ["S3cr3tV4lue-xyz", "pässwört"], cut=cut) == want


def test_only_a_cut_stream_loses_its_tail() -> None:
    output = RunOutput(stdout="out S3c", stderr="err S3c", stdout_truncated=True)
    result = RunResult(outcome="succeeded", output=output, error="S3c")
    out = masked(result, ["S3cr3t"])
    assert (out.output.stdout, out.output.stderr, out.error) == ("out ***", "err S3c", "S3c")
