from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from crypto.identity import NodeKeys
from node.home import Home
from node.service import Node


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
