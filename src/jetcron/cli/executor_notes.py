"""What `schedule add` and `update` note about the executors online for the schedule's target:
none serves it, none offers its action, one would refuse its shell string."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from jetcron.cli.common import err_console
from jetcron.domain.action_params import param_problems


def _serving(server: str, target: str) -> list[Any] | None:
    """The executors online that serve `target` (None: the heartbeats could not be read)."""
    from jetcron.cli.online import _executors
    from jetcron.log.heartbeats import serving

    try:
        infos = _executors(server)
    except Exception:  # noqa: BLE001 - a warning is best effort; the schedule is created
        return None
    return serving(infos, target)


def warn_if_shell_refused(server: str, target: str) -> None:
    """Say so when an executor of `target` would refuse a shell string; nothing when all allow it.

    why: the CLI cannot know executors it does not see: with none online the note is conditional.
    """
    from jetcron.log.heartbeats import shell_refusal

    online = _serving(server, target)
    problem = shell_refusal(online or [], target)
    if problem:
        err_console.print(f"warning: {problem}", highlight=False)
    elif not online:
        err_console.print(
            f"note: no executor of target {target!r} is online; it will run shell strings only "
            "if started with --allow-shell",
            highlight=False,
        )


def warn_if_nobody_offers(
    server: str, action: str, target: str, params: Mapping[str, Any] | None = None
) -> None:
    """Say so when no executor online for `target` offers `action`, or when a param's value is
    not of the type its advertised default has (either would fail at run time)."""
    serving = _serving(server, target)
    if serving is None:
        return
    offering = [i for i in serving if action in i.actions]
    if offering:
        _warn_params(action, offering[0], params or {})
        return
    if serving:
        problem = f"no executor of target {target!r} offers action {action!r}"
    else:
        problem = f"no executor online serves target {target!r} (its runs wait until one does)"
    err_console.print(f"warning: {problem}; see `jetcron actions`", highlight=False)


def note_if_nobody_serves(server: str, target: str) -> None:
    """Say so when no executor online serves `target`: its runs would wait (a typo'd target
    looks like an idle one until `health` says so)."""
    if _serving(server, target) == []:
        err_console.print(
            f"note: no executor online serves target {target!r} (its runs wait until one "
            "does; `jetcron executors` lists who is online)",
            highlight=False,
        )


def _warn_params(action: str, info: Any, params: Mapping[str, Any]) -> None:
    """The same kind of warning as an action nobody offers, for params of the wrong type."""
    problems = param_problems(params, info.action_params.get(action, []))
    if problems:
        err_console.print(
            f"warning: action {action!r} of executor {info.name}: {'; '.join(problems)}: its "
            "runs would fail; see `jetcron actions`",
            highlight=False,
        )
