"""Imports point down only: node -> protocol -> crypto; protocol does no I/O."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.helpers import ROOT

OURS = {"node", "protocol", "crypto"}
ALLOWED_OURS = {"crypto": {"crypto"}, "protocol": {"crypto", "protocol"}, "node": OURS}
# What each layer must never import (docs/STYLE: the shape of the project).
FORBIDDEN = {
    "crypto": {
        "aiohttp",
        "sqlite3",
        "sqlite_utils",
        "socket",
        "asyncio",
        "ssl",
        "msgpack",
        "click",
        "os.path",
        "pathlib",
        "time",
    },
    "protocol": {
        "aiohttp",
        "sqlite3",
        "sqlite_utils",
        "socket",
        "asyncio",
        "ssl",
        "time",
        "click",
        "os",
        "pathlib",
        "subprocess",
        "threading",
        "concurrent",
    },
}
# Reading the clock in protocol/ would let validity depend on the receiving node.
CLOCK_CALLS = {"now", "utcnow", "today", "time", "monotonic"}


def modules(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


def imported(tree: ast.AST) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


@pytest.mark.parametrize("package", sorted(OURS))
def test_imports_point_down_only(package: str) -> None:
    for path in modules(package):
        for name in imported(ast.parse(path.read_text())):
            top = name.split(".")[0]
            if top in OURS:
                assert top in ALLOWED_OURS[package], f"{path} imports {name}"
            for forbidden in FORBIDDEN.get(package, ()):
                assert name.split(".")[: forbidden.count(".") + 1] != forbidden.split("."), (
                    f"{path} imports {name}"
                )


def test_protocol_never_reads_the_clock() -> None:
    for path in modules("protocol"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Attribute) and node.attr in CLOCK_CALLS:
                value = node.value
                base = value.attr if isinstance(value, ast.Attribute) else getattr(value, "id", "")
                assert base not in {"datetime", "date", "time"}, (
                    f"{path}:{node.lineno} reads a clock"
                )


def test_the_packages_exist_and_the_check_sees_them() -> None:
    assert all(modules(p) for p in OURS)
