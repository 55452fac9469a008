from __future__ import annotations

import compileall
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from crypto.identity import NodeKeys
from node.home import Home
from node.service import Node

ROOT = Path(__file__).resolve().parent.parent


def pytest_configure() -> None:
    """The project's modules compiled once, before the first test: the suite starts
    about a thousand ``commune`` processes, and where PYTHONDONTWRITEBYTECODE is set
    each of them would compile every module it imports from source again (0.15 s of a
    process's 0.3 to 0.6 s; docs/BENCHMARKS.md, "The test suite's time"). Python still
    reads the compiled files then, and checks them against the sources. Once, in the
    main process (not in each pytest-xdist worker)."""
    if os.environ.get("PYTEST_XDIST_WORKER") is None:
        for package in ("node", "protocol", "crypto"):
            compileall.compile_dir(ROOT / package, quiet=1)


@pytest.fixture
def home(tmp_path: Path) -> Home:
    return Home(tmp_path / "node")


@pytest.fixture
def node_and_keys(home: Home) -> Iterator[tuple[Node, NodeKeys]]:
    _, keys = home.init("Los Angeles", None)
    node = Node.open(home)
    yield node, keys
    node.close()


@pytest.fixture
def node(node_and_keys: tuple[Node, NodeKeys]) -> Node:
    return node_and_keys[0]
