"""`--secret-env KEY=@FILE`: the file's content goes to the secrets bucket, the command carries
only `KEY=kv:<schedule>.<KEY>`; `KEY=kv:NAME` refers to a secret already in the bucket."""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping
from pathlib import Path
from typing import Any

from jetcron.domain.definition import SECRET_REF
from jetcron.errors import InvalidInput

OPTION = "secret_env"


def referred(options: Mapping[str, Any]) -> list[str]:
    """The --secret-env values given as `KEY=kv:NAME` (before take_files turns @FILE into one)."""
    return [
        str(i) for i in options.get(OPTION) or [] if str(i).partition("=")[2].startswith(SECRET_REF)
    ]


def note_unchecked(refs: list[str]) -> None:
    """Say that a `kv:NAME` reference was not looked up: a missing secret fails the run."""
    from jetcron.cli.common import err_console

    for ref in refs:
        var, _, name = ref.partition("=")
        err_console.print(
            f"note: secret {var}: {name} is not checked now (the secrets bucket is the "
            "executors'); a run fails if it is not there for the target",
            highlight=False,
            markup=False,
        )


def take_files(schedule: str, options: MutableMapping[str, Any]) -> dict[str, str]:
    """Read the @FILE values of --secret-env; the options keep only references.

    Returns secret name -> value, to `store` once the command is known to be valid.
    """
    items = options.get(OPTION)
    if not items:
        return {}
    refs, values = [], {}
    for item in items:
        var, sep, value = str(item).partition("=")
        if not sep or not value.startswith("@"):
            refs.append(item)
            continue
        name = f"{schedule}.{var}"
        values[name] = read_secret(value[1:], f"--secret-env {var}")
        refs.append(f"{var}={SECRET_REF}{name}")
    options[OPTION] = refs
    return values


def file_refs(
    schedule: str, secret_env: Mapping[str, str], base: Path
) -> tuple[dict[str, str], dict[str, str]]:
    """A schedule file's `secret_env`: (references, secret name -> value read from @FILEs).

    A relative @FILE is read relative to the schedule file's folder.
    """
    refs, values = {}, {}
    for var, value in secret_env.items():
        if not str(value).startswith("@"):
            refs[var] = value
            continue
        name = f"{schedule}.{var}"
        path = Path(value[1:]).expanduser()
        values[name] = read_secret(
            str(path if path.is_absolute() else base / path), f"secret_env {var}"
        )
        refs[var] = f"{SECRET_REF}{name}"
    return refs, values


def read_secret(path: str, where: str) -> str:
    """A secret file's content, without its final newline; InvalidInput naming it otherwise."""
    try:
        return Path(path).expanduser().read_text().removesuffix("\n")
    except (OSError, UnicodeDecodeError) as err:
        raise InvalidInput(
            f"{where}: cannot read {path}: {getattr(err, 'strerror', err)}"
        ) from None


async def store(nc: Any, target: str, values: Mapping[str, str]) -> None:
    """Put the secrets into the bucket for the executors of `target`."""
    from jetcron.log import secrets

    for name, value in values.items():
        await secrets.put(nc, target, name, value)
