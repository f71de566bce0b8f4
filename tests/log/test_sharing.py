"""Sharing: equal strings of decoded Structs become one object, every value unchanged."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

import msgspec

from jetcron.log.sharing import Sharing

T0 = datetime(2026, 3, 3, 12, 0, tzinfo=UTC)


class Inner(msgspec.Struct, frozen=True):
    tag: str
    at: datetime | None = None


class Row(msgspec.Struct, kw_only=True):
    key: str
    name: str
    at: datetime
    done: datetime | None = None
    status: Literal["ok", "failed"] = "ok"
    count: int = 0
    flag: bool = False
    ratio: float = 0.0
    inner: Inner | None = None
    tags: list[str] = []
    extra: dict[str, int] = {}
    anything: Any = None


class View(msgspec.Struct, kw_only=True):
    rows: dict[str, Row] = {}
    index: dict[str, list[str]] = {}
    counts: dict[str, int] = {}
    numbers: list[int] = []


def decoded(view: View) -> View:
    """The view through msgpack: every string and datetime a new object."""
    return msgspec.msgpack.decode(msgspec.msgpack.encode(view), type=View)


def sample() -> View:
    rows = {
        f"run-{i}": Row(
            key=f"run-{i}",
            name="nightly-backup",
            at=T0,
            done=T0 if i % 2 else None,
            status="failed" if i % 3 else "ok",
            count=i,
            flag=bool(i % 2),
            ratio=float(i),
            inner=Inner(tag="host-1", at=T0) if i % 2 else None,
            tags=["a", "nightly-backup"],
            extra={"nightly-backup": i},
            anything=["nightly-backup", 1],
        )
        for i in range(5)
    }
    return View(
        rows=rows,
        index={"nightly-backup": list(rows)},
        counts={"nightly-backup": 1, "other": 1},
        numbers=[1, 1, 2],
    )


def test_sharing_keeps_every_value() -> None:
    view = decoded(sample())

    shared = Sharing().share(view)

    assert msgspec.msgpack.encode(shared) == msgspec.msgpack.encode(sample())


def test_equal_strings_become_one_object() -> None:
    view = Sharing().share(decoded(sample()))

    rows = list(view.rows.values())
    name = rows[0].name
    assert all(r.name is name for r in rows)
    assert all(r.tags[1] is name and next(iter(r.extra)) is name for r in rows)
    assert next(iter(view.index)) is name and next(iter(view.counts)) is name
    # a row's key, its dict key and its entry in an index: one object
    keys = list(view.rows)
    assert all(k is r.key for k, r in zip(keys, rows, strict=True))
    assert all(a is b for a, b in zip(view.index[name], keys, strict=True))
    # nested and frozen Structs too
    inners = [r.inner for r in rows if r.inner is not None]
    assert inners[0].tag is inners[1].tag


def test_what_it_does_not_know_is_left_alone() -> None:
    view = Sharing().share(decoded(sample()))

    rows = list(view.rows.values())
    # why: 1 == True == 1.0, so a pool of numbers would turn one into another
    assert [type(r.flag) for r in rows] == [bool] * 5
    assert [type(r.ratio) for r in rows] == [float] * 5
    assert rows[0].anything == ["nightly-backup", 1]
    assert rows[0].anything[0] is not rows[0].name  # Any: not typed, not touched
