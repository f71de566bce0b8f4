"""A job command's argv, working directory and environment, after the executor's policy."""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping, Sequence

from jetcron.executors.errors import (
    ExecutableNotAllowed,
    InvalidCommand,
    InvalidWorkingDir,
    ShellNotAllowed,
)

DEFAULT_PATH = "/usr/local/bin:/usr/bin:/bin"
_PASSTHROUGH_ENV = ("HOME", "LANG", "LC_ALL", "TZ", "USER", "LOGNAME")


def build_env(
    job_env: Mapping[str, str],
    run_vars: Mapping[str, str],
    *,
    inherit: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """A minimal environment: a safe base from `inherit`, then the job's vars, then run vars."""
    source: Mapping[str, str] = os.environ if inherit is None else inherit
    # why: nothing else is inherited, so the executor's own secrets never reach a job.
    env = {"PATH": source.get("PATH") or DEFAULT_PATH}
    env.update({name: source[name] for name in _PASSTHROUGH_ENV if name in source})
    for name, value in job_env.items():
        if not name or "=" in name or "\0" in name or "\0" in value:
            raise InvalidCommand(f"invalid environment variable {name!r}")
        env[name] = value
    env.update(run_vars)  # why: run vars win, so a job cannot forge its own run id
    return env


def resolve_command(
    argv: list[str] | None,
    shell: str | None,
    *,
    allow: Sequence[str],
    allow_shell: bool,
    path: str,
) -> list[str]:
    """The argv to execute for a job, after the executor's allowlist and shell policy."""
    if (argv is None) == (shell is None):
        raise InvalidCommand("a command needs exactly one of argv or shell")
    if shell is not None:
        if not allow_shell:
            raise ShellNotAllowed()
        if not shell.strip():
            raise InvalidCommand("the shell command is empty")
        # why: --allow-shell is the operator's explicit opt-in to arbitrary commands,
        # so the allowlist does not apply to shell commands.
        return ["/bin/sh", "-c", shell]
    if not argv or not argv[0]:
        raise InvalidCommand("the command is empty")
    if not allow:
        return list(argv)
    return [_allowed_executable(argv[0], allow, path), *argv[1:]]


def _allowed_executable(name: str, allow: Sequence[str], path: str) -> str:
    """The absolute path to run for `name`, if the allowlist holds it."""
    # why: a relative path would be checked here against our cwd but run in the job's.
    if os.sep in name and not os.path.isabs(name):
        raise ExecutableNotAllowed(name)
    found = shutil.which(name, path=path)
    if found is None:
        raise ExecutableNotAllowed(name)
    candidate = _identity(found)
    for entry in allow:
        entry_path = entry if os.path.isabs(entry) else shutil.which(entry, path=path)
        if entry_path is not None and _identity(entry_path) == candidate:
            # why: run exactly what we checked; the job's env PATH must not pick another binary.
            return os.path.abspath(found)
    raise ExecutableNotAllowed(name)


def _identity(executable: str) -> tuple[str, str]:
    """The resolved file plus the name it is called by."""
    # why: busybox-style multi-call binaries dispatch on argv[0]; with the realpath alone,
    # allowing `ls` (-> busybox) would allow `rm` (-> busybox) too.
    return os.path.realpath(executable), os.path.basename(executable)


def resolve_cwd(cwd: str | None, work_dir: str | None) -> str | None:
    """The job's working directory, confined to `work_dir` when the executor has one."""
    if work_dir is None:
        if cwd is None:
            return None
        if not os.path.isdir(cwd):
            raise InvalidWorkingDir(cwd, "no such directory")
        return os.path.abspath(cwd)
    root = os.path.realpath(work_dir)
    # why: realpath before the containment check, so `..` and symlinks cannot escape.
    target = os.path.realpath(os.path.join(root, cwd or "."))
    if os.path.commonpath([root, target]) != root:
        raise InvalidWorkingDir(cwd or ".", f"outside the executor's --work-dir {root}")
    if not os.path.isdir(target):
        # why: name the real directory: the job's cwd is often '.', i.e. the --work-dir itself
        raise InvalidWorkingDir(target, "no such directory")
    return target
