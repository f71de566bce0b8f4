"""Usage errors as one line (`error: no such option --tiemout (did you mean --timeout?)`).

click prints a usage error as four lines (usage, a hint, a blank, the error); jetcron prints
every error as one `error:` line on stderr, so scripts and people read them the same way.
"""

from __future__ import annotations

import difflib
import re
from typing import Any

_NO_SUCH_COMMAND = re.compile(r"No such command '(?P<name>[^']*)'")
_ELSEWHERE = {
    "run": "jetcron schedule trigger NAME",
    "trigger": "jetcron schedule trigger NAME",
    "now": "jetcron schedule trigger NAME",
    "history": "jetcron runs list --schedule NAME",
    "logs": "jetcron runs logs RUN",
    "output": "jetcron runs logs RUN",
    "rm": "jetcron schedule delete NAME",
    "remove": "jetcron schedule delete NAME",
    "edit": "jetcron schedule update NAME",
}
"""Words an operator guesses under the wrong group, and where that command lives."""


def one_line(err: Any) -> str:
    """The message of a click exception as one line, with a suggestion where one fits."""
    ctx = getattr(err, "ctx", None)
    option = getattr(err, "option_name", None)
    if option is not None and hasattr(err, "possibilities"):
        known = _options(ctx)
        return f"no such option {option}" + _suggest(option, err.possibilities, known, ctx)
    found = _NO_SUCH_COMMAND.match(err.message)
    if found and ctx is not None:
        name = found["name"]
        known = ctx.command.list_commands(ctx)
        elsewhere = _ELSEWHERE.get(name)
        if elsewhere is not None:
            close = [repr(m) for m in difflib.get_close_matches(name, known, n=1, cutoff=0.8)]
            return f"no such command {name!r} (did you mean {', or '.join([*close, f'`{elsewhere}`'])}?)"
        return f"no such command {name!r}" + _suggest(name, None, known, ctx, quote=True)
    message = " ".join(err.format_message().split()).rstrip(".")
    message = message[:1].lower() + message[1:]
    return message + (f" (see `{ctx.command_path} --help`)" if ctx is not None else "")


def _suggest(typo: str, given: Any, known: list[str], ctx: Any, *, quote: bool = False) -> str:
    """` (did you mean X?)` from click's guesses, else difflib's; else where help is."""
    matches = list(given or ()) or difflib.get_close_matches(typo, known, n=3, cutoff=0.6)
    if matches:
        shown = [repr(m) if quote else m for m in matches]
        return f" (did you mean {' or '.join(shown)}?)"
    return f" (see `{ctx.command_path} --help`)" if ctx is not None else ""


def _options(ctx: Any) -> list[str]:
    """The long and short option names of the command being parsed."""
    if ctx is None:
        return []
    return [name for p in ctx.command.params for name in getattr(p, "opts", ())]
