"""The README's first command: the four-node demo comes up, syncs, and stops cleanly."""

from __future__ import annotations

import re
import subprocess
import sys

from tests.helpers import ROOT


def test_the_four_node_demo_comes_up_synced_with_four_web_views() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "node", "demo", "--once"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "[6/6] Synced." in result.stdout
    urls = re.findall(r"http://127\.0\.0\.1:\d+/", result.stdout)
    assert len(set(urls)) == 4
    for name in ("Los Angeles", "El Salvador", "India", "South Africa"):
        assert name in result.stdout
    assert "Traceback" not in result.stderr
