"""What `jetcron --version` says: the release, and the commit when it runs from a git checkout."""

from __future__ import annotations

from pathlib import Path

from jetcron import __version__


def version_line() -> str:
    """`jetcron 0.2.0`, or `jetcron 0.2.0 (checkout 56922e1)` from a checkout.

    why: two replicas on different commits of 0.2.0 could not be told apart (newcomer20b F9);
    read from .git's files, not `git` (no process: --version answers in milliseconds)."""
    commit = checkout_commit(Path(__file__).resolve().parents[3])
    return f"jetcron {__version__}" + (f" (checkout {commit})" if commit else "")


def checkout_commit(root: Path) -> str | None:
    """The short commit `root` has checked out, if it is a git checkout of jetcron; else None."""
    try:
        git = root / ".git"
        if not (root / "pyproject.toml").is_file() or not git.exists():
            return None
        if git.is_file():  # why: a worktree: `.git` names its git dir
            git = (root / git.read_text().split("gitdir:", 1)[1].strip()).resolve()
        head = (git / "HEAD").read_text().strip()
        if not head.startswith("ref: "):
            return head[:7]  # why: a detached HEAD is the commit itself
        return _ref(git, head[5:])
    except (OSError, IndexError):
        return None


def _ref(git: Path, ref: str) -> str | None:
    """A ref's short commit, loose or packed (in a worktree's common git dir too)."""
    common = git
    if (git / "commondir").is_file():
        common = (git / (git / "commondir").read_text().strip()).resolve()
    for d in (git, common):
        if (d / ref).is_file():
            return (d / ref).read_text().strip()[:7]
    packed = common / "packed-refs"
    if packed.is_file():
        for line in packed.read_text().splitlines():
            commit, _, name = line.partition(" ")
            if name == ref:
                return commit[:7]
    return None
