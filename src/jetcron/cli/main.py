"""The `jetcron` command's entry point (the command tree is in `jetcron.cli.tree`)."""

from __future__ import annotations

import sys
from typing import Any


def main() -> None:
    """Console script entry point."""
    if sys.argv[1:] == ["--version"]:
        # why: the one answer that needs no command tree, and typer alone costs ~100 ms
        from jetcron.cli.version import version_line

        sys.stdout.write(version_line() + "\n")
        return
    from jetcron.cli import common
    from jetcron.cli.tree import app

    common.WHOLE_PROCESS = True
    app()


def __getattr__(name: str) -> Any:
    """`app` (the typer application) for `from jetcron.cli.main import app`, built on first use."""
    if name == "app":
        from jetcron.cli.tree import app

        return app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
