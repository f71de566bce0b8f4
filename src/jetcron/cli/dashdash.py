"""Commands that tell whether their trailing words came after `--` (click forgets it)."""

from __future__ import annotations

from typing import Any

# why: typer vendors click (typer._click); the real click's context stack is not this one
from typer._click.core import Context
from typer._click.globals import get_current_context
from typer.core import TyperCommand

from jetcron.errors import InvalidInput

_AFTER = "jetcron.after_dashdash"


class DashDashCommand(TyperCommand):
    """A typer command that remembers the words given after `--` (None: no `--` given)."""

    def parse_args(self, ctx: Context, args: list[str]) -> list[str]:
        ctx.meta[_AFTER] = args[args.index("--") + 1 :] if "--" in args else None
        return super().parse_args(ctx, args)


def refuse_stray(words: list[str] | None, hint: str = "") -> None:
    """InvalidInput naming the first of the trailing `words` that was not given after `--`.

    why: `update NAME --reset retries conditions` would otherwise replace the job's command
    with the word `conditions`; a new command must be asked for, by a `--`.
    """
    after: list[str] | None = _meta().get(_AFTER)
    stray = len(words or []) - len(after or [])
    if words and stray > 0:
        raise InvalidInput(f"unexpected argument {words[0]!r}: a new command goes after `--`{hint}")


def _meta() -> dict[str, Any]:
    ctx = get_current_context(silent=True)
    return ctx.meta if ctx is not None else {}
