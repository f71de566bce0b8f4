"""One object per distinct string in what a snapshot decodes (as a fold has them, and more).

why: a decoder makes a new object for every string it reads, while a fold shares what one event
gives: a run's id is one object in its row, its view's indexes and windows and its ledger entry.
Restored views took 1.8 times the memory of the same views folded (2,000 schedules x 100 runs
kept, 1M events: 586 vs 321 MiB); shared, they take 281 MiB, less than folded, as the names,
ids and executors that repeat across runs become one object too. Datetimes are left alone:
hashing them cost as much time as all strings together for ~15 % of the memory.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from itertools import repeat
from operator import attrgetter
from typing import Any, TypeVar

from msgspec import inspect
from msgspec.structs import force_setattr

T = TypeVar("T")
Share = Callable[[Any], Any]
"""Returns its argument, or an equal one, with what it holds shared."""
Plan = tuple[tuple[str, ...], tuple[str, ...], tuple[tuple[str, Share], ...]]
"""A Struct class's fields to share: plain values and Structs (a column at a time over many
objects, in C loops), then containers (one object at a time)."""


class Sharing:
    """Replaces equal strings by the first one seen, in place where it can.

    Driven by the declared types (msgspec.inspect), so a field added to a view is shared too;
    anything it does not know (ints, floats, Any, unions of Structs) is left as decoded.
    """

    def __init__(self, defaults_of: Any = None) -> None:
        self._seen: dict[str, str] = {}
        # why: dict.setdefault(x, x) is the whole pool in one C call, mapped over whole columns
        self._one = self._seen.setdefault
        self._sharers: dict[Any, Share | None] = {}
        self._plans: dict[type, Plan] = {}
        self._infos: dict[Any, inspect.Type] = {}
        if defaults_of is not None:
            self._seed(self._info(defaults_of), set())

    def _seed(self, t: inspect.Type, done: set[type]) -> None:
        """Put the string defaults of every Struct in `t` into the pool first.

        why: msgspec's omit_defaults drops a string field only when it *is* the default object;
        an equal string from a decoder is written out. Shared onto the default, a restored
        "default" target encodes as the folded one whose event left it out, so two views that
        are equal also encode equal (`replay --verify` compares them byte for byte).
        """
        if isinstance(t, inspect.StructType):
            if t.cls in done:
                return
            done.add(t.cls)
            for f in t.fields:
                if isinstance(f.default, str):
                    self._one(f.default, f.default)
                self._seed(f.type, done)
        elif isinstance(t, inspect.UnionType):
            for member in t.types:
                self._seed(member, done)
        elif isinstance(t, inspect.ListType | inspect.SetType | inspect.FrozenSetType):
            self._seed(t.item_type, done)
        elif isinstance(t, inspect.DictType):
            self._seed(t.value_type, done)

    def share(self, value: T, typ: Any = None) -> T:
        """`value` (of type `typ`, by default its own class) with what it holds shared."""
        sharer = self._sharer(self._info(type(value) if typ is None else typ))
        return value if sharer is None else sharer(value)

    def _info(self, typ: Any) -> inspect.Type:
        # why: type_info walks the whole type graph each time (~10 ms for the views)
        info = self._infos.get(typ)
        if info is None:
            info = self._infos[typ] = inspect.type_info(typ)
        return info

    def structs(self, objs: list[Any]) -> list[Any]:
        """Share the fields of Structs of one class in place, a field at a time over all."""
        if not objs:
            return objs
        values, nested, containers = self._plan(type(objs[0]))
        one = self._one
        for name in values:
            column = list(map(attrgetter(name), objs))
            if any(column):  # why: most optional fields are empty in every row of a part
                deque(map(force_setattr, objs, repeat(name), map(one, column, column)), maxlen=0)
        for name in nested:
            self.structs([x for x in map(attrgetter(name), objs) if x is not None])
        for name, sharer in containers:
            for obj in objs:
                force_setattr(obj, name, sharer(getattr(obj, name)))
        return objs

    def _plan(self, cls: type) -> Plan:
        plan = self._plans.get(cls)
        if plan is None:
            values, nested, containers = [], [], []
            for f in self._info(cls).fields:  # type: ignore[attr-defined]
                if _shared_value(f.type):
                    values.append(f.name)
                elif (struct := _struct(f.type)) is not None:
                    self._infos.setdefault(struct.cls, struct)
                    nested.append(f.name)
                elif (sharer := self._sharer(f.type)) is not None:
                    containers.append((f.name, sharer))
            plan = self._plans[cls] = (tuple(values), tuple(nested), tuple(containers))
        return plan

    def _sharer(self, t: inspect.Type) -> Share | None:
        key = _key(t)
        if key not in self._sharers:
            self._sharers[key] = None  # why: a recursive type stops here instead of looping
            self._sharers[key] = self._make(t)
        return self._sharers[key]

    def _make(self, t: inspect.Type) -> Share | None:
        one = self._one
        if _shared_value(t):
            return lambda value: one(value, value)
        if isinstance(t, inspect.StructType):
            self._infos.setdefault(t.cls, t)
            return lambda obj: self.structs([obj])[0]
        if isinstance(t, inspect.UnionType):
            return self._optional(t)
        if isinstance(t, inspect.ListType):
            return self._list(t.item_type)
        if isinstance(t, inspect.DictType):
            return self._dict(t.key_type, t.value_type)
        return None

    def _optional(self, t: inspect.UnionType) -> Share | None:
        """`X | None` of a Struct or container X (other unions are left alone)."""
        others = [m for m in t.types if not isinstance(m, inspect.NoneType)]
        inner = self._sharer(others[0]) if len(others) == 1 else None
        if inner is None:
            return None
        return lambda value: None if value is None else inner(value)

    def _list(self, item: inspect.Type) -> Share | None:
        one = self._one
        if _shared_value(item):
            return lambda items: list(map(one, items, items))
        if isinstance(item, inspect.StructType):
            self._infos.setdefault(item.cls, item)
            return self.structs
        inner = self._sharer(item)
        return None if inner is None else (lambda items: list(map(inner, items)))

    def _dict(self, key: inspect.Type, value: inspect.Type) -> Share | None:
        one = self._one
        keys = _shared_value(key)
        if isinstance(value, inspect.StructType):
            self._infos.setdefault(value.cls, value)
            values: Share | None = self.structs
        else:
            inner = self._sharer(value)
            values = None if inner is None else (lambda vs: list(map(inner, vs)))
        if not keys and values is None:
            return None

        def share_dict(d: dict[Any, Any]) -> dict[Any, Any]:
            if not d:
                return d  # why: nothing to share; most optional maps of a row are empty
            ks = list(map(one, d, d)) if keys else list(d)
            vs = list(d.values()) if values is None else values(list(d.values()))
            return dict(zip(ks, vs, strict=True))

        return share_dict


def _key(t: inspect.Type) -> Any:
    """A hashable name of a type (a Struct's info holds its fields' and may be cyclic)."""
    if isinstance(t, inspect.StructType):
        return t.cls
    if isinstance(t, inspect.ListType):
        return ("list", _key(t.item_type))
    if isinstance(t, inspect.DictType):
        return ("dict", _key(t.key_type), _key(t.value_type))
    if isinstance(t, inspect.UnionType):
        return ("union", *map(_key, t.types))
    return repr(t)


def _struct(t: inspect.Type) -> inspect.StructType | None:
    """The Struct type of a field holding a Struct of one class (or None)."""
    members = t.types if isinstance(t, inspect.UnionType) else (t,)
    plain = [m for m in members if not isinstance(m, inspect.NoneType)]
    one = plain[0] if len(plain) == 1 else None
    return one if isinstance(one, inspect.StructType) else None


def _shared_value(t: inspect.Type) -> bool:
    """A string (maybe None): what the pool shares.

    why not Literal strings: msgspec already decodes them to the one declared object.
    """
    members = t.types if isinstance(t, inspect.UnionType) else (t,)
    plain = [m for m in members if not isinstance(m, inspect.NoneType)]
    return bool(plain) and all(isinstance(m, inspect.StrType) for m in plain)
