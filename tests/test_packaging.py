"""Packaging: building the project as pip does for `pip install .` (an isolated build
with the setuptools that pyproject.toml's [build-system] asks for) gives a wheel with
the licence as an SPDX expression (PEP 639) and no deprecation warning from
setuptools."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

from tests.helpers import ROOT


def _setuptools_floor(requires: list[str]) -> tuple[int, ...]:
    for requirement in requires:
        found = re.fullmatch(r"setuptools\s*>=\s*([\d.]+)", requirement.strip())
        if found:
            return tuple(int(n) for n in found[1].split("."))
    raise AssertionError(f"no setuptools>=X in the build requirements: {requires}")


def test_the_licence_is_an_spdx_expression_that_the_build_requirements_support() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert project["project"]["license"] == "AGPL-3.0-or-later"
    # the string form and license-files are setuptools 77's (PEP 639)
    assert _setuptools_floor(project["build-system"]["requires"]) >= (77,)


def test_building_the_wheel_warns_of_nothing_deprecated(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    for name in ["pyproject.toml", "README.md"]:
        shutil.copy(ROOT / name, src / name)
    for package in ["node", "protocol", "crypto"]:
        shutil.copytree(ROOT / package, src / package, ignore=shutil.ignore_patterns("__pycache__"))
    out = tmp_path / "out"
    # -v shows what the build backend prints, its warnings included
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-v", "--no-deps", "-w", str(out), str(src)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    log = build.stdout + build.stderr
    assert build.returncode == 0, log[-3000:]
    assert "is deprecated" not in log, log
    assert "BuildBackendWarning" not in log, log
    (wheel,) = out.glob("commune_sync-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        (metadata,) = [n for n in archive.namelist() if n.endswith(".dist-info/METADATA")]
        fields = archive.read(metadata).decode()
    assert "License-Expression: AGPL-3.0-or-later" in fields.splitlines()
