"""Notification sinks in `jetcron apply` / `export` files: a `notifications` table of name -> fields.

    [notifications.ops]
    webhook = "https://hooks.example/x"
    secret = "@ops-hook.secret"   # a file holding the signing key, relative to this file
    on = ["failure", "timeout"]
    schedules = ["nightly-backup"]

The fields are `notify add`'s options by their long names (`schedules`, `tags` plural,
durations as text, `command` as text or an argv list), as POST /api/v1/notifications takes
them, and `allow_missing` (let `schedules` name a schedule neither the files nor the live ones
have). A signing key is never in a file: `secret` is `@FILE` (apply puts its content into the
webhook secrets bucket under `<name>.file`) or `kv:KEY`, a key already there (what `export`
writes). `apply` creates and updates sinks after the schedules; `--prune` removes the sinks the
files do not define only when some file holds a `notifications` table.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any

import msgspec

from jetcron.cli.files import decode_file, table_entry
from jetcron.cli.reconcile import show
from jetcron.cli.secrets import read_secret
from jetcron.cli.walk import files_in
from jetcron.domain.commands import AddNotification, RemoveNotification, UpdateNotification
from jetcron.domain.definition import SECRET_REF
from jetcron.domain.durations import format_duration
from jetcron.domain.errors import CommandRejected
from jetcron.domain.notifications import (
    DEFAULT_KINDS,
    TIMEOUT,
    WINDOW,
    Notification,
    SinkOptions,
    missing_schedule,
)
from jetcron.errors import InvalidInput
from jetcron.scheduler import notifications as aggregate

TABLE = "notifications"
_OPTION = re.compile(r"--([a-z]+)")


KEYS = tuple(SinkOptions.__struct_fields__)


class WantedSink(msgspec.Struct, frozen=True, kw_only=True):
    """A sink as the files want it."""

    notification: Notification
    secret_value: str = ""
    """The content of its `@FILE` secret: put under `<name>.file` by apply, never sent."""
    allow_missing: bool = False
    where: str = ""


class SinkStep(msgspec.Struct, frozen=True, kw_only=True):
    """One notification command of an apply."""

    action: str
    """create, update or delete."""
    name: str
    notification: Notification | None = None
    detail: str = ""

    def command(self, meta: Mapping[str, Any]) -> AddNotification | UpdateNotification | Any:
        """The command that carries it out."""
        if self.action == "delete":
            return RemoveNotification(**meta)
        assert self.notification is not None
        kind = AddNotification if self.action == "create" else UpdateNotification
        return kind(**meta, notification=self.notification)


def file_key(name: str) -> str:
    """The webhook secrets bucket key of a sink whose file gives its secret as `@FILE`."""
    return f"{name}.file"


def load_sinks(path: Path) -> dict[str, WantedSink] | None:
    """Every sink in a file or a directory of them; None if no file has a `notifications`
    table (then apply leaves the live sinks alone, `--prune` too)."""
    out: dict[str, WantedSink] = {}
    found_in: dict[str, Path] = {}
    tables = 0
    for file in files_in(path):
        table = decode_file(file).get(TABLE)
        if table is None:
            continue
        tables += 1
        if not isinstance(table, dict):
            raise InvalidInput(f"{file}: '{TABLE}' must be a table/object of name -> fields")
        for name, body in table.items():
            if name in out:
                raise InvalidInput(
                    f"{file}: notification {name!r} is defined twice (first in {found_in[name]})"
                )
            out[name] = _sink(f"{file}: {TABLE}.{name}", name, body, file.parent)
            found_in[name] = file
    return out if tables else None


def _sink(where: str, name: str, body: Any, base: Path) -> WantedSink:
    entry = table_entry(where, body, KEYS, SinkOptions)
    ref, value = _secret(f"{where}.secret", name, entry.secret, base)
    try:
        notification = msgspec.structs.replace(entry, secret=ref).notification(name)
    except (InvalidInput, CommandRejected) as err:
        # why: the domain names `notify add`'s options; a file has keys of the same names
        said = _OPTION.sub(r"\1", str(err))
        raise InvalidInput(f"{where}: {said}") from None
    return WantedSink(
        notification=notification,
        secret_value=value,
        allow_missing=entry.allow_missing,
        where=where,
    )


def _secret(where: str, name: str, secret: str, base: Path) -> tuple[str, str]:
    """(what the sink carries: '' or `kv:KEY`, the value read from an @FILE or '')."""
    if not secret or secret.startswith(SECRET_REF):
        return secret, ""
    if not secret.startswith("@"):
        raise InvalidInput(
            f'{where}: a signing key is never written in a file: give "@FILE" (a file holding '
            f'it, relative to this one) or "{SECRET_REF}KEY" (a key in the webhook secrets bucket)'
        )
    path = Path(secret[1:]).expanduser()
    value = read_secret(str(path if path.is_absolute() else base / path), where)
    return f"{SECRET_REF}{file_key(name)}", value


def entry_of(n: Notification, live_schedules: Iterable[str] = ()) -> SinkOptions:
    """A live sink as a file writes it: defaults left out, the signing key as its reference;
    `allow_missing` when its rule names a schedule that does not exist now."""
    return SinkOptions(
        webhook=n.sink.webhook,
        secret=n.sink.secret if n.sink.secret.startswith(SECRET_REF) else "",
        command=n.sink.command,
        subject=n.sink.subject,
        on=None if tuple(n.on) == DEFAULT_KINDS else list(n.on),
        schedules=list(n.schedules) or None,
        tags=list(n.tags) or None,
        window=_text(n.window_s, WINDOW, 60.0),
        timeout=_text(n.sink.timeout_s, TIMEOUT, 10.0),
        allow_missing=missing_schedule(n, live_schedules) is not None,
    )


def _text(seconds: float, default: str, default_s: float) -> str:
    """A duration as text; the default itself when equal (msgspec omits a default by identity)."""
    if seconds == default_s:
        return default
    return format_duration(timedelta(seconds=seconds)) if seconds else "0s"


def steps(
    wanted: Mapping[str, WantedSink] | None,
    live: Mapping[str, Notification],
    *,
    prune: bool,
) -> list[SinkStep]:
    """The creates and updates that make the live sinks what the files say, then prune's
    removals (only when the files have a notifications table at all)."""
    if wanted is None:
        return []
    out = []
    for name, want in sorted(wanted.items()):
        have = live.get(name)
        if have is None:
            out.append(SinkStep(action="create", name=name, notification=want.notification))
        elif have != want.notification:
            detail = _diff(have, want.notification)
            out.append(
                SinkStep(action="update", name=name, notification=want.notification, detail=detail)
            )
    if prune:
        gone = sorted(set(live) - set(wanted))
        out += [SinkStep(action="delete", name=n, detail="not in the files") for n in gone]
    return out


def _diff(have: Notification, want: Notification) -> str:
    a = msgspec.structs.asdict(entry_of(have))
    b = msgspec.structs.asdict(entry_of(want))
    changed = [
        f"{k}: {_shown(a[k])} → {_shown(b[k])}" for k in KEYS if a[k] != b[k] and k != "secret"
    ]
    if have.sink.secret != want.sink.secret:
        changed.append("secret: " + ("replaced" if want.sink.secret else "removed"))
    return "; ".join(changed)


def _shown(value: Any) -> str:
    """A sink field for the plan: a rule's list as `audit` writes it (`failure,
    expectation_missed`), anything else as schedule plans show it."""
    if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        return ", ".join(value)
    return show(value)


def unknown_schedule(wanted: Mapping[str, WantedSink] | None, schedules: set[str]) -> str | None:
    """'a.toml: notifications.x.schedules: no schedule 'y' (did you mean ...)' for the first
    sink (without allow_missing) naming a schedule that will not exist after the apply."""
    for _, want in sorted((wanted or {}).items()):
        if not want.allow_missing and (problem := missing_schedule(want.notification, schedules)):
            return f"{want.where}.schedules: {problem} (allow_missing = true for one still to come)"
    return None


def rejections(
    sink_steps: Iterable[SinkStep], live: Mapping[str, Notification], meta: Mapping[str, Any]
) -> list[str]:
    """What the scheduler would refuse, by its own `decide` over the live sinks."""
    problems = []
    for step in sink_steps:
        try:
            aggregate.decide(live.get(step.name), step.command({**meta, "name": step.name}))
        except CommandRejected as err:
            problems.append(f"{step.action} notification {step.name}: {err}")
    return problems


async def live_sinks(nc: Any) -> dict[str, Notification]:
    """The live sinks as their aggregate holds them (the view leaves out the signing key's
    reference, which a file names): each folded from its own subject of the log."""
    from jetcron import subjects
    from jetcron.client import query
    from jetcron.log.stream import EventLog

    rows = await query(nc, "notifications", {})
    log = await EventLog(nc).open(create=False)
    out = {}
    for row in rows:
        history, _ = await log.load(subjects.notification(row["name"]))
        if (state := aggregate.fold(e.event for e in history)) is not None:
            out[row["name"]] = state
    return out


async def absent_keys(nc: Any, wanted: Mapping[str, WantedSink] | None) -> str | None:
    """'a.toml: notifications.x.secret: kv:K is not in this cluster's webhook secrets bucket
    ...' for the first `kv:` reference the bucket has never held (a file exported from
    another cluster); None when all are there, or the bucket cannot be asked."""
    from jetcron.log.secrets import hook_secret_keys

    refs = {
        w.where: w.notification.sink.secret
        for _, w in sorted((wanted or {}).items())
        if w.notification.sink.secret.startswith(SECRET_REF) and not w.secret_value
    }
    if not refs or (held := await hook_secret_keys(nc)) is None:
        return None
    for where, ref in refs.items():
        if ref.removeprefix(SECRET_REF) not in held:
            return (
                f"{where}.secret: {ref} is not in this cluster's webhook secrets "
                '(a file exported from another cluster?): give the signing key as "@FILE"'
            )
    return None
