"""The house rules of docs/architecture.md, kept by an ast walk over every import in src/.

- leaves (`errors`, `ids`, `subjects`, `clock`, `memory`) import no other jetcron module;
- `domain` imports only leaves, the stdlib, msgspec, pytz and croniter; never nats;
- `log` imports `domain` and leaves; never a component;
- `scheduler`, `executors`, `projections`, `notify` import `domain`, `log` and leaves, never each other;
- `auth` (roles, identity files, the server's auth config) imports leaves, `domain` and `log`;
- only `service.py` and `cli/` sit on top (with the helpers `client`, `connect`, `server`,
  `serverproc`);
- `web` (the HTTP gateway) sits beside `cli/`: domain, log, projections' queries, the helpers,
  `auth`; never `cli`, `service` or another component (only `cli` may start it).
Imports inside functions count too. JetStream wire details live under `log/` only.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "jetcron"

LEAVES = {"errors", "ids", "subjects", "clock", "memory"}
COMPONENTS = {"scheduler", "executors", "projections", "notify"}
HELPERS = {"client", "connect", "server", "serverproc"}
TOP = {"service", "cli", "__main__", "web"} | HELPERS
WEB_USES = LEAVES | {"domain", "log", "projections", "auth", "web"} | HELPERS
DOMAIN_THIRD_PARTY = {"msgspec", "pytz", "croniter"}


def area(module: str) -> str:
    """The layer a jetcron module belongs to: its first name under `jetcron`."""
    parts = module.split(".")
    if len(parts) < 2 or parts[1] in {"__init__", "__version__"}:
        return "jetcron"  # why: the package root (its version) is everyone's
    return parts[1]


def allowed(src: str, dst: str) -> bool:
    """May a module of layer `src` import a module of layer `dst` (both jetcron layers)?"""
    if src == dst:
        return True
    if src in LEAVES:
        return False
    if src == "domain":
        return dst in LEAVES
    if src == "log":
        return dst in LEAVES | {"domain"}
    if src in COMPONENTS:
        return dst in LEAVES | {"domain", "log"}
    if src == "auth":
        return dst in LEAVES | {"domain", "log"}
    if src == "web":
        return dst in WEB_USES
    if src in HELPERS:
        return dst in LEAVES | {"domain", "log", "auth"} | HELPERS
    return dst != "cli" or src in {"cli", "__main__"}


def parse(path: Path) -> ast.Module:
    """The file's syntax tree, parsed on a fresh thread.

    why: CPython 3.11.7's AST builder checks its recursion depth against the calling thread's
    counter, which an earlier TLS test can leave skewed ("AST constructor recursion depth
    mismatch", python/cpython#106905, fixed in 3.11.8); a new thread starts with a clean one.
    """
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(ast.parse, path.read_text(), str(path)).result()


def imports(path: Path, module: str) -> list[tuple[int, str]]:
    """(line, imported module) for every import in a file, function-level ones included."""
    tree = parse(path)
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            names = [f"{base}.{a.name}" for a in node.names] if base == "jetcron" else [base]
            found += [(node.lineno, name) for name in names]
    return found


def violations(root: Path) -> list[str]:
    """Every import in the tree under `root` (a `jetcron` package dir) that breaks a rule."""
    problems: list[str] = []
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root.parent).with_suffix("")
        module = ".".join(rel.parts[:-1] if rel.name == "__init__" else rel.parts)
        src = area(module)
        for line, name in imports(path, module):
            where = f"{path.relative_to(root.parent)}:{line} imports {name}"
            top = name.split(".")[0]
            if top == "jetcron":
                dst = area(name)
                if dst != "jetcron" and not allowed(src, dst):
                    problems.append(f"{where}: {src} may not import {dst}")
            elif src == "domain" and top not in sys.stdlib_module_names | DOMAIN_THIRD_PARTY:
                problems.append(f"{where}: the domain is pure (stdlib, msgspec, pytz, croniter)")
            elif src in LEAVES and top not in sys.stdlib_module_names:
                problems.append(f"{where}: a leaf imports only the stdlib")
    return problems


def test_the_tree_keeps_the_import_rules() -> None:
    assert violations(SRC) == []


@pytest.mark.parametrize(
    ("module", "source", "problem"),
    [
        ("domain/bad.py", "import nats\n", "the domain is pure"),
        ("domain/bad.py", "from jetcron.log.stream import EventLog\n", "domain may not import log"),
        (
            "log/bad.py",
            "def f():\n    from jetcron.scheduler import ticker\n",
            "log may not import",
        ),
        ("scheduler/bad.py", "from jetcron.projections import state\n", "scheduler may not"),
        ("executors/bad.py", "from jetcron import service\n", "executors may not import service"),
        ("projections/bad.py", "from ..executors import agent\n", "projections may not import"),
        ("subjects.py", "from jetcron.domain import events\n", "subjects may not import domain"),
        ("web/bad.py", "from jetcron.cli.common import ask_view\n", "web may not import cli"),
        ("web/bad.py", "from jetcron.scheduler import decider\n", "web may not import scheduler"),
        ("projections/bad.py", "from jetcron.web import app\n", "projections may not import web"),
    ],
)
def test_a_broken_rule_is_reported(tmp_path: Path, module: str, source: str, problem: str) -> None:
    root = tmp_path / "jetcron"
    target = root / module
    target.parent.mkdir(parents=True, exist_ok=True)
    (root / "__init__.py").write_text("")
    target.write_text(source)
    found = violations(root)
    assert len(found) == 1
    assert problem in found[0]


# JetStream's wire: API subjects, Nats-* headers, KV operation headers, error codes, nats-py's
# private hooks. subjects.py may name KV and micro subjects; everything else goes through log/.
WIRE_STRINGS = ("$JS.", "Nats-", "KV-Operation")
WIRE_ATTRIBUTES = {"err_code", "_process_msg"}


def wire_details(path: Path) -> list[str]:
    """Places in a file that spell out a JetStream wire detail (docstrings and comments aside)."""
    tree = parse(path)
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            if id(node) not in docstrings and any(w in node.value for w in WIRE_STRINGS):
                found.append(f"{path.name}:{node.lineno} {node.value!r}")
        elif isinstance(node, ast.Attribute) and node.attr in WIRE_ATTRIBUTES:
            found.append(f"{path.name}:{node.lineno} .{node.attr}")
    return found


def test_jetstream_wire_details_live_under_log() -> None:
    outside = [p for p in SRC.rglob("*.py") if "log" not in p.relative_to(SRC).parts[:1]]
    assert [hit for p in sorted(outside) for hit in wire_details(p)] == []


def test_the_wire_check_finds_a_header(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text('"""Nats-Msg-Id in a docstring is fine."""\nH = {"Nats-Msg-Id": "x"}\n')
    assert wire_details(bad) == ["bad.py:2 'Nats-Msg-Id'"]
