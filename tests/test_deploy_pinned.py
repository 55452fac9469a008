"""deploy/, what a node is built and installed from: the container image from a base
image pinned by its digest (a required build argument, as no digest can be checked from
here) and Python packages pinned with their hashes (deploy/requirements.lock, which
must hold pyproject.toml's dependencies); and the settings folder and file that
deploy/README.md's install steps make, readable by the node's user alone (a proxy's
password may be in them), run as written into a temporary root."""

from __future__ import annotations

import os
import re
import shlex
import stat
import subprocess
import tomllib
from pathlib import Path

from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.helpers import ROOT

DEPLOY = ROOT / "deploy"
LOCK = DEPLOY / "requirements.lock"


def instructions(path: Path) -> list[str]:
    """A Containerfile's instructions, each on one line (continuations joined)."""
    joined = re.sub(r"\\\n", " ", path.read_text())
    return [
        " ".join(line.split())
        for line in joined.splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]


def test_the_base_image_is_pinned_by_a_digest_given_at_build_time() -> None:
    lines = instructions(DEPLOY / "Containerfile")
    froms = [i for i, line in enumerate(lines) if line.startswith("FROM ")]
    assert froms, lines
    # a build argument with no default: a build without it stops at FROM
    assert "ARG BASE_DIGEST" in lines[: froms[0]]
    assert not any(line.startswith("ARG BASE_DIGEST=") for line in lines)
    for i in froms:
        image = lines[i].split()[1]
        name, at, digest = image.partition("@")
        assert at, f"not pinned by a digest: {lines[i]}"
        assert name == "docker.io/library/python:3.11-slim", image
        assert digest == "${BASE_DIGEST}" or re.fullmatch(r"sha256:[0-9a-f]{64}", digest), image
    # where to find the digest is written down
    readme = (DEPLOY / "README.md").read_text()
    assert "--build-arg BASE_DIGEST=sha256:" in readme
    assert "skopeo inspect --format '{{.Digest}}' docker://docker.io/library/python:3.11-slim" in (
        readme
    )


def test_every_python_package_of_the_image_is_installed_by_its_hash() -> None:
    lines = instructions(DEPLOY / "Containerfile")
    assert "COPY deploy/requirements.lock ./" in lines
    installs = [
        part.strip()
        for line in lines
        if line.startswith("RUN ")
        for part in line[4:].split("&&")
        if part.split()[:2] == ["pip", "install"]
    ]
    assert len(installs) == 2, installs
    packages, project = installs
    # the packages: each one at its version and hashes, wheels only
    for flag in ("--require-hashes", "--only-binary :all:", "-r requirements.lock"):
        assert flag in packages, packages
    # the project itself, from the packages above: nothing fetched
    for flag in ("--no-deps", "--no-build-isolation", "--no-index"):
        assert flag in project, project


def _locked() -> dict[str, tuple[str, list[str]]]:
    """name → (version, hashes) of deploy/requirements.lock."""
    text = re.sub(r"\\\n", " ", LOCK.read_text())
    pins: dict[str, tuple[str, list[str]]] = {}
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        requirement, *options = line.split()
        name, equals, version = requirement.partition("==")
        assert equals, f"not pinned to one version: {line}"
        hashes = [o.removeprefix("--hash=sha256:") for o in options]
        assert hashes, f"no hash: {line}"
        assert all(re.fullmatch(r"[0-9a-f]{64}", h) for h in hashes), line
        assert all(o.startswith("--hash=sha256:") for o in options), line
        pins[canonicalize_name(name)] = (version, hashes)
    return pins


def test_the_lock_holds_every_dependency_and_the_build_requirements() -> None:
    pins = _locked()
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    # the image's platform: Python 3.11 on Linux, x86_64
    image = {
        **default_environment(),
        "python_version": "3.11",
        "python_full_version": "3.11.0",
        "sys_platform": "linux",
        "platform_system": "Linux",
        "platform_machine": "x86_64",
        "implementation_name": "cpython",
        "platform_python_implementation": "CPython",
    }
    wanted = [*project["project"]["dependencies"], *project["build-system"]["requires"]]
    for text in wanted:
        requirement = Requirement(text)
        if requirement.marker is not None and not requirement.marker.evaluate(image):
            continue
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{text} is not in deploy/requirements.lock: make it again"
        version = pins[name][0]
        assert requirement.specifier.contains(version, prereleases=True), (
            f"deploy/requirements.lock has {name}=={version}, pyproject.toml asks for {text}"
        )


def test_the_settings_folder_and_file_are_the_node_users_alone(tmp_path: Path) -> None:
    """deploy/README.md's systemd steps that make /etc/commune and its node.toml, run
    as written into a temporary root (owned by this test's user instead of the node's
    user `commune`, which this machine has not)."""
    readme = (DEPLOY / "README.md").read_text()
    steps = [
        line.split("  #", 1)[0].strip()
        for block in re.findall(r"```sh\n(.*?)```", readme, re.S)
        for line in block.splitlines()
        if line.startswith("install ") and "/etc/commune" in line
    ]
    assert len(steps) == 2, steps  # the folder, then the file in it
    owner = f"-o {os.getuid()} -g {os.getgid()}"
    for step in steps:
        line = step.replace("-o commune -g commune", owner).replace(" /etc/", f" {tmp_path}/etc/")
        line = line.replace("deploy/node.toml", str(DEPLOY / "node.toml"))
        assert owner in line, f"not made for the node's user: {step}"
        done = subprocess.run(
            shlex.split(line), capture_output=True, text=True, check=False, timeout=30
        )
        assert done.returncode == 0, f"{step}: {done.stderr}"
    folder = tmp_path / "etc" / "commune"
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    settings = folder / "node.toml"
    assert stat.S_IMODE(settings.stat().st_mode) == 0o600
    assert settings.read_text() == (DEPLOY / "node.toml").read_text()
    # and systemd keeps the folder so (the service's umask covers what it writes)
    unit = (DEPLOY / "commune.service").read_text()
    assert "\nConfigurationDirectoryMode=0700\n" in unit
    assert "\nUMask=0077\n" in unit
