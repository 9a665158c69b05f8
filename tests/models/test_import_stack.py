"""blurkit.models is a one-way import stack: modules import their siblings at module level,
and only from lower layers, so no import has to hide inside a function to break a cycle."""

from __future__ import annotations

import ast
from pathlib import Path

import blurkit.models

ROOT = Path(blurkit.models.__file__).parent

#: the modules of blurkit.models, bottom first: each may import only those before it
STACK = [
    "features",
    "wrappers",
    "cifar",
    "architectures",
    "label_space",
    "_names",
    "_weights",
    "imagenet",
    "_named",
    "loading",
    "registry",
    "trained",
    "zoo",
    "__init__",
]


def _tree(module: str) -> ast.Module:
    return ast.parse((ROOT / f"{module}.py").read_text(encoding="utf-8"))


def _siblings(node: ast.ImportFrom) -> list[str]:
    """The blurkit.models modules a relative import names (``from .x import`` / ``from . import x``)."""
    if node.level != 1:
        return []
    return [node.module.split(".")[0]] if node.module else [a.name for a in node.names]


def test_the_stack_lists_every_module():
    assert sorted(STACK) == sorted(p.stem for p in ROOT.glob("*.py"))


def test_no_relative_import_inside_a_function():
    found = set()
    for module in sorted(p.stem for p in ROOT.glob("*.py")):
        for fn in ast.walk(_tree(module)):
            if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
                found |= {
                    f"{module}.py:{n.lineno}"
                    for n in ast.walk(fn)
                    if isinstance(n, ast.ImportFrom) and n.level > 0
                }
    assert not found, f"function-level relative imports: {sorted(found)}"


def test_modules_import_only_lower_layers():
    upward = []
    for i, module in enumerate(STACK):
        for node in _tree(module).body:
            if isinstance(node, ast.ImportFrom):
                upward += [f"{module} imports {s}" for s in _siblings(node) if STACK.index(s) >= i]
    assert not upward, upward
