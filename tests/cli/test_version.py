"""`jetcron --version` names the commit of a checkout (newcomer20b F9: two replicas on different
commits of 0.2.0 could not be told apart), read from .git's files with real git repositories."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from jetcron import __version__
from jetcron.cli.version import checkout_commit

ROOT = Path(__file__).resolve().parents[2]


def git(cwd: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True)
    return done.stdout.strip()


def test_version_names_the_commit_of_this_checkout() -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    for argv in (["--version"], ["--version", "-s", "nats://127.0.0.1:1"]):  # fast path, typer
        done = subprocess.run(
            [sys.executable, "-m", "jetcron", *argv], capture_output=True, text=True, env=env
        )
        commit = git(ROOT, "rev-parse", "--short=7", "HEAD")
        assert done.stdout == f"jetcron {__version__} (checkout {commit})\n", done.stderr


def test_loose_packed_detached_worktree_and_no_checkout(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "pyproject.toml").write_text("")
    git(repo, "init", "-q", "-b", "main")
    git(
        repo,
        "-c",
        "user.name=t",
        "-c",
        "user.email=t@t",
        "commit",
        "-q",
        "--allow-empty",
        "-m",
        "x",
    )
    head = git(repo, "rev-parse", "--short=7", "HEAD")
    assert checkout_commit(repo) == head  # a loose ref
    git(repo, "pack-refs", "--all")
    assert checkout_commit(repo) == head  # packed
    git(repo, "worktree", "add", "-q", str(tmp_path / "wt"), "-b", "other")
    (tmp_path / "wt" / "pyproject.toml").write_text("")
    assert checkout_commit(tmp_path / "wt") == head  # a worktree's .git file
    git(repo, "checkout", "-q", "--detach")
    assert checkout_commit(repo) == head  # detached
    assert checkout_commit(tmp_path) is None  # no checkout (an installed wheel)
