"""Imports point down only: node -> protocol -> crypto; protocol does no I/O."""

from __future__ import annotations

import ast
import importlib
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


#: The modules of node/ that may hold SQL: the store (its schema, and another store's
#: file read as untrusted bytes), the projector, and the web view's read queries.
SQL_HOMES = {
    "node/store.py",
    "node/schema.py",
    "node/storefile.py",
    "node/cipherdb.py",
    "node/projector.py",
    "node/web/data.py",
}


def test_sql_lives_in_the_store_the_projector_and_the_web_views_data_module() -> None:
    """Everything else asks the store by name (node/store.py), so the queries and the
    schema they rely on stay in one place (issue 15)."""
    offenders = []
    for path in sorted((ROOT / "node").rglob("*.py")):
        rel = path.relative_to(ROOT).as_posix()
        if rel in SQL_HOMES:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import | ast.ImportFrom):
                names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
                module = node.module if isinstance(node, ast.ImportFrom) else None
                if "sqlite3" in names or module == "sqlite3" or module == "sqlite_utils":
                    offenders.append(f"{rel}:{node.lineno} imports sqlite3")
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in {"execute", "executemany", "execute_many", "executescript"}
            ):
                offenders.append(f"{rel}:{node.lineno} runs SQL (.{node.func.attr})")
    assert offenders == []


#: error classes defined outside their layer's errors.py, and why: the sync modules are
#: being restructured as a sans-I/O session (issue 15) and keep their own for now
def test_every_error_class_is_defined_in_its_layers_errors_module() -> None:
    """One error hierarchy, in three files (crypto/, protocol/, node/ errors.py), each
    drawn in its module docstring (issue 15)."""
    import importlib  # noqa: PLC0415

    from crypto.errors import CommuneError  # noqa: PLC0415

    trees = ""
    for package in ("crypto", "protocol", "node"):
        trees += importlib.import_module(f"{package}.errors").__doc__ or ""
    found: dict[str, str] = {}
    for package in ("crypto", "protocol", "node"):
        for path in sorted((ROOT / package).rglob("*.py")):
            name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            if name.endswith("__main__"):
                continue  # it runs the command line when imported
            module = importlib.import_module(name.removesuffix(".__init__"))
            for value in vars(module).values():
                if isinstance(value, type) and issubclass(value, CommuneError):
                    found[value.__name__] = value.__module__
    elsewhere = [
        f"{module}: {cls}"
        for cls, module in sorted(found.items())
        if not module.endswith(".errors")
    ]
    assert elsewhere == []
    assert [cls for cls in sorted(found) if cls not in trees] == []


PACKAGES = ["crypto", "protocol", "protocol.kinds", "node", "node.web"]


def _all_order(name: str) -> tuple[int, str]:
    """The order of an ``__all__``, as ruff keeps it: CONSTANTS, Classes, functions."""
    return (0 if name.isupper() else 1 if name[0].isupper() else 2, name)


@pytest.mark.parametrize("package", PACKAGES)
def test_each_package_names_its_public_names_in_all(package: str) -> None:
    """Each package's ``__all__`` is sorted, and every name in it is there; the three
    layers' list every module they hold (issue 15)."""
    module = importlib.import_module(package)
    names = list(module.__all__)
    assert names == sorted(names, key=_all_order), f"{package}.__all__ is not sorted"
    assert len(set(names)) == len(names)
    for name in names:
        if not hasattr(module, name):
            importlib.import_module(f"{package}.{name}")  # a module, not imported there
        assert hasattr(module, name), f"{package}.__all__ names {name!r}, which it lacks"
    if package in ("crypto", "protocol", "node"):
        folder = ROOT / package
        held = {p.stem for p in folder.glob("*.py") if not p.stem.startswith("_")} | {
            p.parent.name for p in folder.glob("*/__init__.py")
        }
        assert set(names) == held, f"{package}.__all__ lacks or has too many modules"


def test_no_module_is_long_without_saying_why() -> None:
    """No module over about 400 lines without a reason written at its top (issue 15):
    past 450 lines, its docstring says "Why this module is long"."""
    long = []
    for package in ("node", "protocol", "crypto"):
        for path in sorted((ROOT / package).rglob("*.py")):
            text = path.read_text(encoding="utf-8")
            lines = text.count("\n")
            doc = ast.get_docstring(ast.parse(text)) or ""
            if lines > 450 and "Why this module is long" not in doc:
                long.append(f"{path.relative_to(ROOT)}: {lines} lines")
    assert long == []


def test_only_node_private_opens_a_sealed_event() -> None:
    """One copy of the code that opens a sealed event (issue 15): node/private.py."""
    callers = []
    for path in modules("node"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            name = getattr(node, "attr", None) or getattr(node, "name", None)
            if isinstance(node, ast.Attribute | ast.alias) and name == "open_sealed":
                callers.append(str(path.relative_to(ROOT)))
    assert set(callers) == {"node/private.py"}
