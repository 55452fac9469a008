"""A command imports what it needs and no more, so that it starts fast: each of the
suite's thousand ``commune`` processes, and each command a user or a script runs, pays
for its imports first (docs/BENCHMARKS.md, "The test suite's time"). The network, the
web view, the passphrase estimator, the calendar and the store's table builder are
imported by the commands that use them only."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import PASSPHRASE, ROOT, commune

#: what no command below imports, and who needs it
HEAVY = {
    "aiohttp": "sync, serve, doctor and the web view",
    "jinja2": "the web view's templates",
    "babel": "the web view's languages",
    "zxcvbn": "a new passphrase's check (init, passwd, restore)",
    "icalendar": "the calendar file",
    "dateutil.tz": "the calendar file",
    "asyncio": "sync, serve and doctor",
    "sqlite_utils": "a new store's tables (init)",
    "playwright": "the browser tests",
}


def imported(home: Path, *args: str, env: dict[str, str] | None = None) -> set[str]:
    """The modules ``commune --home HOME ARGS`` imports, as Python's -X importtime
    lists them."""
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "node", "--home", str(home), *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        cwd=ROOT,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("import time:")]
    assert lines, result.stderr
    return {line.rpartition("|")[2].strip() for line in lines[1:]}


@pytest.fixture(scope="module")
def homes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("startup")
    plain, locked = base / "plain", base / "locked"
    made = commune(plain, "init", "--name", "Los Angeles", "--insecure-no-passphrase")
    assert made.returncode == 0, made.stderr
    made = commune(locked, "init", "--name", "El Salvador", env={"COMMUNE_PASSPHRASE": PASSPHRASE})
    assert made.returncode == 0, made.stderr
    return {"plain": plain, "locked": locked}


@pytest.mark.parametrize(
    "args",
    [
        ("post", "report", "--title", "Asamblea", "--body", "Vinieron doce."),
        ("show", "reports"),
        ("show", "reports", "--json"),
        ("state-hash",),
        ("log",),
        ("card",),
    ],
)
def test_everyday_commands_import_nothing_heavy(homes: dict[str, Path], args: tuple[str]) -> None:
    modules = imported(homes["plain"], *args)
    assert "node.cli" in modules
    assert sorted(name for name in HEAVY if name in modules) == []


def test_a_command_under_a_passphrase_imports_nothing_heavy(homes: dict[str, Path]) -> None:
    modules = imported(homes["locked"], "show", "reports", env={"COMMUNE_PASSPHRASE": PASSPHRASE})
    assert sorted(name for name in HEAVY if name in modules) == []


def test_help_imports_no_certificates_either(homes: dict[str, Path]) -> None:
    modules = imported(homes["plain"], "--help")
    assert sorted(name for name in [*HEAVY, "cryptography.x509"] if name in modules) == []
