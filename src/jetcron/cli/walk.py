"""Which files `jetcron apply -f PATH` reads: one rule, for a file and for a directory.

A directory contributes every `.toml` and `.json` file under it (the suffix in any case), in
path order. Hidden files and directories (`.git`, `.#x`, `.x.swp`) and editor backups (`x~`,
`#x#`, `x.bak`) are passed over silently, and so is any other file that holds no definition (a
README, a secret a schedule reads with `@FILE`). A file the walk does not read but that looks
like a definition (`.yaml`, `.yml`, a suffix one letter off such as `.jsn`, or a `schedules`,
`calendars` or `notifications` table under another name) refuses the whole directory, and a directory with no
definition file is refused too: applying without it would let `--prune` delete what it defines.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import msgspec

from jetcron.errors import InvalidInput

FORMATS = {".toml": "TOML", ".json": "JSON"}
"""The suffixes read (in any case) and the format each names."""
BACKUPS = (".bak", ".orig", ".rej", ".swp", ".swo", ".tmp")
"""Suffixes of editor and merge leftovers, passed over like `x~`."""
SNIFF_LIMIT = 1 << 20
"""A larger file that is not read is not looked into either: definition files are small."""
_TOP = ("schedules", "calendars", "notifications")
_YAML_TOP = re.compile(rb"^(schedules|calendars|notifications)\s*:", re.M)


def format_of(file: Path) -> str:
    """'TOML' or 'JSON': the format of a file `files_in` returned."""
    return FORMATS[file.suffix.lower()]


def files_in(path: Path) -> list[Path]:
    """The file, or the definition files under a directory, in order; InvalidInput naming the
    file for one that is not read (a directory holding one is refused whole) or an empty one."""
    if not path.exists():
        raise InvalidInput(f"{path}: no such file or directory")
    if not path.is_dir():
        if path.suffix.lower() not in FORMATS:
            raise InvalidInput(f"{path}: {_unread(path)}")
        return [path]
    read = []
    for file in _walk(path):
        if file.suffix.lower() in FORMATS:
            read.append(file)
        elif why := _looks_like_a_definition(file):
            raise InvalidInput(f"{file}: {why} (a directory is applied whole: nothing was changed)")
    if not read:
        raise InvalidInput(f"{path}: no .toml or .json file in it; nothing was changed")
    return read


def _walk(root: Path) -> list[Path]:
    """Regular files under root in path order, hidden ones, hidden folders and backups left out."""
    out = []
    for folder, dirs, names in os.walk(root):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        out += [Path(folder, n) for n in names if not _passed_over(n)]
    return sorted(p for p in out if p.is_file())


def _passed_over(name: str) -> bool:
    return (
        name.startswith(".")
        or name.endswith("~")
        or (name.startswith("#") and name.endswith("#"))
        or name.lower().endswith(BACKUPS)
    )


def _looks_like_a_definition(file: Path) -> str | None:
    """Why a file the walk does not read seems to be a definition file; None if it does not."""
    suffix = file.suffix.lower().lstrip(".")
    if suffix in ("yaml", "yml") or any(_one_edit(suffix, f.lstrip(".")) for f in FORMATS):
        return _unread(file)
    try:
        data = file.read_bytes() if file.stat().st_size <= SNIFF_LIMIT else b""
    except OSError:
        return None
    if _YAML_TOP.search(data) or _has_top_table(data):
        return "holds schedules, calendars or notifications but is not read: only .toml and .json files are"
    return None


def _has_top_table(data: bytes) -> bool:
    """True if data is TOML or JSON with a `schedules` or `calendars` table."""
    for decode in (msgspec.toml.decode, msgspec.json.decode):
        try:
            raw = decode(data)
        except (msgspec.DecodeError, UnicodeDecodeError):
            continue
        if isinstance(raw, dict) and any(key in raw for key in _TOP):
            return True
    return False


def _unread(file: Path) -> str:
    """'.yaml files are not read; use .toml or .json', with a hint for a near miss."""
    suffix = file.suffix
    near = [f for f in FORMATS if _one_edit(suffix.lower().lstrip("."), f.lstrip("."))]
    hint = f" (did you mean {near[0]}?)" if near else ""
    kind = f"{suffix} files" if suffix else "files without a .toml or .json suffix"
    return f"{kind} are not read{hint}; use .toml or .json"


def _one_edit(word: str, target: str) -> bool:
    """True if word is target with one letter wrong, missing or extra, or two swapped."""
    if len(word) == len(target):
        diff = [i for i, (a, b) in enumerate(zip(word, target, strict=True)) if a != b]
        swapped = len(diff) == 2 and diff[1] == diff[0] + 1 and sorted(word) == sorted(target)
        return len(diff) == 1 or swapped
    short, long = sorted((word, target), key=len)
    return len(long) == len(short) + 1 and any(
        long[:i] + long[i + 1 :] == short for i in range(len(long))
    )
