"""Which jetcron a replica runs: status names mixed versions, --verify says when the answering
replica runs other code (a rolling upgrade), not a bare DIFFERENT."""

from __future__ import annotations

from jetcron import __version__
from jetcron.cli.replaying import other_version
from jetcron.cli.status import _versions
from jetcron.projections.snapshot import SNAPSHOT_VERSION


def test_status_names_one_version_once_and_each_replica_when_they_differ() -> None:
    assert _versions({}) == ""
    assert _versions({"a": "0.2.0", "b": "0.2.0"}) == ", jetcron 0.2.0"
    assert _versions({"b": "0.1.0", "a": "0.2.0"}) == ", mixed versions: a 0.2.0, b 0.1.0"


def test_verify_notes_a_replica_of_another_version() -> None:
    assert other_version({"version": __version__, "format": SNAPSHOT_VERSION}) is None

    older = other_version({"version": "0.1.0", "format": SNAPSHOT_VERSION - 1})
    assert older is not None
    assert f"runs jetcron 0.1.0 (views format {SNAPSHOT_VERSION - 1})" in older
    assert "not a fault" in older
    # a replica from before versions were told answers neither
    assert "before 0.2.0" in (other_version({}) or "")
