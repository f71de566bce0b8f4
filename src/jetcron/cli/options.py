"""Schedule options of `schedule add` and `schedule update`, generated from the fields table.

Every field of `jetcron.domain.fields` is an option named like its key (`retry_backoff` is
`--retry-backoff`), with the same units as in files; `update` adds the clears.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, Literal, TypeVar, get_args, get_origin

import typer

from jetcron.domain.definition import DefinitionPatch, ScheduleDefinition
from jetcron.domain.errors import InvalidField
from jetcron.domain.field_values import check, definition_of, patch_of
from jetcron.domain.fields import FIELDS, JOB_KINDS, UNRESETTABLE, Field, ScheduleFields, default_of
from jetcron.errors import InvalidInput

POSITIONAL = ("spec", "command")
_RESETS = ", ".join([*(k for k in FIELDS if k not in UNRESETTABLE), "conditions"])
"""What `--reset` takes, for its error."""
"""Fields given as arguments, not options (`update` takes `--spec`)."""
OPTIONS = [key for key in FIELDS if key not in POSITIONAL]
FLAG_NAMES = {"tags": "--tag", "params": "--param", "metadata": "--meta"}
"""Repeatable options read better singular: `--tag a --tag b`."""
SHORT = {"target": "-t", "params": "-p", "env": "-e", "description": "-d"}
CONDITIONS = tuple(k for k, f in FIELDS.items() if f.at[0] == "conditions")
CLEARS: dict[str, tuple[tuple[str, ...], str]] = {
    "no_conditions": (CONDITIONS, "Remove every host condition."),
    "clear_env": (("env",), "Remove every environment variable."),
    "no_start": (("start",), "Remove the start bound."),
    "no_end": (("end",), "Remove the end bound."),
}
"""`update` flags that put fields back to their defaults: parameter -> (fields, help)."""


def flag(key: str) -> str:
    """The option of a field: `retry_backoff` -> `--retry-backoff`."""
    return FLAG_NAMES.get(key, "--" + key.replace("_", "-"))


def pairs(items: list[str] | None, what: str, *, json_values: bool = False) -> dict[str, Any]:
    """KEY=VALUE options as a dict (values parsed as JSON when json_values and possible)."""
    out: dict[str, Any] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise InvalidInput(f"{what} expects KEY=VALUE, got {item!r}")
        out[key] = _json_or_text(value) if json_values else value
    return out


def _json_or_text(value: str) -> Any:
    try:
        return json.loads(value)
    except ValueError:
        return value


def given(options: Mapping[str, Any]) -> dict[str, Any]:
    """The fields the operator gave, checked; InvalidInput naming the option otherwise."""
    values: dict[str, Any] = {}
    for key in OPTIONS:
        raw = options.get(key)
        if raw is None or raw == [] or raw == ():
            continue
        if FIELDS[key].base is dict:
            raw = pairs(list(raw), flag(key), json_values=key == "params")
        values[key] = _checked(key, raw)
    return values


def _checked(key: str, value: Any) -> Any:
    try:
        return check(key, value)
    except InvalidField as err:
        raise InvalidInput(f"{flag(key) if key != 'spec' else 'spec'}: {err.problem}") from None


def _argv(command: list[str] | None) -> list[str] | None:
    if command and command[0] == "--":
        command = command[1:]  # why: click keeps the `--` separator when args are not interspersed
    return command or None


def definition_for_add(
    spec: str, command: list[str] | None, options: Mapping[str, Any]
) -> ScheduleDefinition:
    """The full definition of `schedule add`: what was given, defaults for the rest."""
    values = given(options)
    if (argv := _argv(command)) is not None:
        values["command"] = _checked("command", argv)
    if not any(values.get(k) is not None for k in JOB_KINDS):
        raise InvalidInput("nothing to run: give a command after `--`, or --shell, or --action")
    return definition_of(ScheduleFields(spec=_checked("spec", spec), **values))


def patch_for_update(
    spec: str | None, command: list[str] | None, options: Mapping[str, Any]
) -> DefinitionPatch:
    """The patch of `schedule update`: exactly the given fields, and the cleared ones."""
    resets, values = _resets(options), given(options)
    if both := [k for k in _named_resets(options) if k in values]:
        # why: one field both reset and given is a slip: which was meant cannot be told
        # (--no-conditions with one condition given is not: it clears the others)
        raise InvalidInput(f"{flag(both[0])} given with its reset; give one of them")
    values = {key: FIELDS[key].default for key in resets} | values
    if spec is not None:
        values["spec"] = _checked("spec", spec)
    if (argv := _argv(command)) is not None:
        values["command"] = _checked("command", argv)
    return patch_of(values)


def _named_resets(options: Mapping[str, Any]) -> list[str]:
    """The fields reset one by one: `--reset NAME`, --no-start, --no-end, --clear-env."""
    named = [
        fields[0] for name, (fields, _) in CLEARS.items() if options.get(name) and len(fields) == 1
    ]
    return [*named, *(k.replace("-", "_") for k in _reset_names(options))]


def _reset_names(options: Mapping[str, Any]) -> list[str]:
    """The fields `--reset` names: repeated, or several in one, comma-separated."""
    return [k.strip() for given in options.get("reset") or [] for k in given.split(",")]


def _resets(options: Mapping[str, Any]) -> list[str]:
    keys = [k for name, (fields, _) in CLEARS.items() if options.get(name) for k in fields]
    for key in _reset_names(options):
        name = key.replace("-", "_")
        if name == "conditions":
            keys += CONDITIONS
            continue
        try:
            default_of(name)
        except InvalidField as err:
            # why: as calendar update's --reset, name what can be reset (unless a near name did)
            known = (
                "" if "did you mean" in err.problem or name in FIELDS else f"; use one of {_RESETS}"
            )
            raise InvalidInput(f"--reset {key}: {err.problem}{known}") from None
        keys.append(name)
    return keys


F = TypeVar("F", bound=Callable[..., Any])


def with_definition_options(*, clears: bool = False) -> Callable[[F], F]:
    """Add every field's option (and with `clears`, the reset flags) to a typer command."""

    def decorate(fn: F) -> F:
        sig = inspect.signature(fn)
        own = [p for p in sig.parameters.values() if p.kind is not inspect.Parameter.VAR_KEYWORD]
        extra = [_parameter(FIELDS[key]) for key in OPTIONS]
        if clears:
            extra += _clear_parameters()
        fn.__signature__ = sig.replace(parameters=own + extra)  # type: ignore[attr-defined]
        return fn

    return decorate


def _parameter(field: Field) -> inspect.Parameter:
    names = [flag(field.key), *([SHORT[field.key]] if field.key in SHORT else [])]
    shown = field.default not in (None, "", [], {})
    option = typer.Option(
        None,
        *names,
        help=f"{field.help} Default: {field.default}." if shown else field.help,
        metavar=_metavar(field),
        show_default=False,
    )
    return inspect.Parameter(
        field.key, inspect.Parameter.KEYWORD_ONLY, default=option, annotation=_cli_type(field)
    )


def _cli_type(field: Field) -> Any:
    if field.base in (int, float):
        return field.base | None
    if field.base in (list, dict):
        return list[str] | None
    return str | None


def _metavar(field: Field) -> str:
    if get_origin(field.base) is Literal:
        return "|".join(map(str, get_args(field.base)))
    if field.unit.startswith("duration"):
        return "DURATION" + ("|none" if field.unit == "duration_or_none" else "")
    names = {int: "N", float: "NUMBER", datetime: "ISO-TIME", dict: "KEY=VALUE", list: "TEXT"}
    return names.get(field.base, "TEXT")


def _clear_parameters() -> list[inspect.Parameter]:
    kw = inspect.Parameter.KEYWORD_ONLY
    params = [
        inspect.Parameter(
            name,
            kw,
            default=typer.Option(False, "--" + name.replace("_", "-"), help=help),
            annotation=bool,
        )
        for name, (_, help) in CLEARS.items()
    ]
    reset = typer.Option(
        None,
        "--reset",
        metavar="FIELD[,FIELD…]",
        help="Put fields back to their defaults, e.g. --reset tags or --reset tags,retries "
        "(repeatable; 'conditions': all of them).",
    )
    return [*params, inspect.Parameter("reset", kw, default=reset, annotation=list[str] | None)]
