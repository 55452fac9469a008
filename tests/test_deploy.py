"""deploy/: what can be checked here without systemd running or a container engine.
Every settings file loads with node/config.py, the compose file parses and wires four
nodes as the README says, the systemd unit passes `systemd-analyze verify`, the
Containerfile copies what exists, and commune-forward carries a connection."""

from __future__ import annotations

import json
import re
import shutil
import socket
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from node import config
from tests.helpers import ROOT

DEPLOY = ROOT / "deploy"
NODES = ["la", "sv", "in", "za"]


def test_every_settings_file_under_deploy_loads() -> None:
    files = sorted(DEPLOY.rglob("*.toml"))
    assert {f.relative_to(DEPLOY).as_posix() for f in files} == {
        "node.toml",
        *(f"compose/{n}.toml" for n in NODES),
    }
    for path in files:
        config.load(path)  # raises ConfigError naming the file and the key


def test_the_example_settings_are_the_defaults() -> None:
    example = config.load(DEPLOY / "node.toml")
    assert example.replace(source=None) == config.Config()


def _compose() -> dict[str, Any]:
    """compose.yaml, parsed by PyYAML (or by the system Python's, as JSON)."""
    text = (DEPLOY / "compose.yaml").read_text()
    try:
        import yaml  # noqa: PLC0415
    except ImportError:
        python = shutil.which("python3", path="/usr/bin")
        probe = (
            subprocess.run(
                [python, "-c", "import yaml"], capture_output=True, check=False, timeout=30
            )
            if python
            else None
        )
        if probe is None or probe.returncode != 0:
            pytest.skip("no YAML parser: PyYAML is neither in the venv nor in the system Python")
        out = subprocess.run(
            [python, "-c", "import json, sys, yaml; print(json.dumps(yaml.safe_load(sys.stdin)))"],
            input=text,
            capture_output=True,
            text=True,
            check=True,
            timeout=30,
        )
        return dict(json.loads(out.stdout))
    return dict(yaml.safe_load(text))


def test_the_containers_have_room_for_the_connections_the_settings_allow() -> None:
    limit = config.Config().max_connections + 128
    for name, service in _compose()["services"].items():
        nofile = service["ulimits"]["nofile"]
        assert nofile["soft"] >= limit, name


def test_compose_runs_four_nodes_each_with_its_settings_volume_and_secret() -> None:
    compose = _compose()
    services = compose["services"]
    assert sorted(services) == sorted(NODES)
    networks: dict[str, set[str]] = {}
    for name, service in services.items():
        assert service["image"] == "commune:latest"
        assert service["build"] == {
            "context": "..",
            "dockerfile": "deploy/Containerfile",
            # required: compose stops when it is not set (tests/test_deploy_pinned.py)
            "args": {"BASE_DIGEST": service["build"]["args"]["BASE_DIGEST"]},
        }
        assert service["build"]["args"]["BASE_DIGEST"].startswith("${BASE_DIGEST:?")
        assert (DEPLOY / service["build"]["context"] / service["build"]["dockerfile"]).exists()
        assert service["read_only"] is True
        assert service["cap_drop"] == ["ALL"]
        assert service["environment"]["CREDENTIALS_DIRECTORY"] == "/run/secrets"
        settings_in = service["environment"]["COMMUNE_CONFIG"]
        mounts = dict(v.split(":", 1) for v in service["volumes"])
        assert mounts[name] == "/data"
        assert name in compose["volumes"]
        assert mounts[f"./compose/{name}.toml"] == f"{settings_in}:ro"
        assert service["secrets"] == [{"source": name, "target": "passphrase"}]
        assert compose["secrets"][name] == {"file": f"./secrets/{name}.passphrase"}
        assert set(service["networks"]) <= set(compose["networks"])
        networks[name] = set(service["networks"])
        # the web view is never published: only the sync port
        for port in service.get("ports", []):
            assert port.endswith(":8470"), port
    # each node advertises its own name and calls peers on a network it shares
    for name in NODES:
        settings = config.load(DEPLOY / "compose" / f"{name}.toml")
        assert settings.advertise == (f"https://{name}:8470",)
        assert settings.listen == "0.0.0.0:8470"
        assert settings.web_listen.startswith("127.0.0.1:")
        for url in settings.peers:
            peer = re.fullmatch(r"https://(\w+):8470", url)
            assert peer is not None
            assert peer[1] in services
            assert networks[name] & networks[peer[1]], f"{name} cannot reach {peer[1]}"
    # South Africa reaches the others only through El Salvador (relaying)
    reachable = {n for n in NODES if networks[n] & networks["za"]}
    assert reachable == {"za", "sv"}


def _unit() -> dict[str, list[str]]:
    values: dict[str, list[str]] = {}
    for line in (DEPLOY / "commune.service").read_text().splitlines():
        if "=" in line and not line.startswith(("#", ";")):
            key, _, value = line.partition("=")
            values.setdefault(key, []).append(value)
    return values


def test_the_unit_is_hardened_and_holds_no_secret() -> None:
    unit = _unit()
    for key, value in {
        "ProtectSystem": "strict",
        "ProtectHome": "yes",
        "PrivateTmp": "yes",
        "PrivateDevices": "yes",
        "NoNewPrivileges": "yes",
        "CapabilityBoundingSet": "",
        "RestrictAddressFamilies": "AF_UNIX AF_INET AF_INET6",
        "StateDirectory": "commune",
        "MemoryDenyWriteExecute": "yes",
        "User": "commune",
        # room for [limits] max_connections (768) and the store (docs/CLI.md)
        "LimitNOFILE": "4096",
    }.items():
        assert unit.get(key) == [value], key
    assert "@system-service" in unit["SystemCallFilter"]
    assert unit["LoadCredentialEncrypted"] == [
        "passphrase:/etc/credstore.encrypted/commune.passphrase"
    ]
    settings = [v for values in unit.values() for v in values]
    assert not any("PASSPHRASE" in v.upper() and "credstore" not in v for v in settings)
    assert "EnvironmentFile" not in unit
    assert unit["Environment"] == [
        "COMMUNE_HOME=/var/lib/commune",
        "COMMUNE_CONFIG=/etc/commune/node.toml",
        "PYTHONUNBUFFERED=1",
    ]


ANALYZE = shutil.which("systemd-analyze")


@pytest.mark.skipif(ANALYZE is None, reason="systemd-analyze is not installed")
def test_systemd_analyze_verify_finds_nothing_wrong(tmp_path: Path) -> None:
    # ExecStart must name an existing program: this project's, installed in .venv
    program = Path(sys.executable).with_name("commune")
    if not program.exists():
        pytest.skip(f"{program} is not installed (pip install -e .)")
    unit = tmp_path / "commune.service"
    text = (DEPLOY / "commune.service").read_text()
    unit.write_text(text.replace("/opt/commune/venv/bin/commune", str(program)))
    assert ANALYZE is not None
    result = subprocess.run(
        [ANALYZE, "verify", str(unit)], capture_output=True, text=True, check=False, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip() == "", result.stderr  # unknown keys are only warned about
    security = subprocess.run(
        [ANALYZE, "security", "--offline=yes", str(unit)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    level = re.search(r"Overall exposure level for \S+: ([\d.]+)", security.stdout)
    if security.returncode != 0 or level is None:
        return  # an older systemd-analyze without --offline
    assert float(level[1]) <= 2.0, security.stdout


def test_the_containerfile_copies_what_exists_and_runs_unprivileged() -> None:
    lines = [
        line.strip()
        for line in (DEPLOY / "Containerfile").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert lines[0] == "ARG BASE_DIGEST"  # tests/test_deploy_pinned.py: the base, pinned
    assert lines[1] == "FROM docker.io/library/python:3.11-slim@${BASE_DIGEST}"
    for line in lines:
        if line.startswith("COPY "):
            *sources, _ = line.split()[1:]
            for source in sources:
                assert (ROOT / source).exists(), line
    users = [line.split()[1] for line in lines if line.startswith("USER ")]
    assert users == ["commune"]
    assert "EXPOSE 8470" in lines
    assert not any(line.startswith("EXPOSE") and "8471" in line for line in lines)
    assert 'VOLUME ["/data"]' in lines
    assert "COMMUNE_HOME=/data" in " ".join(lines)


def test_the_torrc_lines_match_the_settings_the_readme_gives() -> None:
    torrc = (DEPLOY / "torrc.example").read_text()
    active = [line for line in torrc.splitlines() if line and not line.startswith("#")]
    assert "SocksPort 127.0.0.1:9050" in active
    assert "HiddenServicePort 8470 127.0.0.1:8470" in active
    assert any(line.startswith("HiddenServiceDir ") for line in active)
    readme = (DEPLOY / "README.md").read_text()
    for needed in (
        'proxy = "socks5://127.0.0.1:9050"',
        'listen = "127.0.0.1:8470"',
        "systemd-creds encrypt",
        "journalctl -u commune",
        "docker compose",
        "commune-forward",
        "ssh -L 8471:127.0.0.1:8471",
    ):
        assert needed in readme, needed


def test_commune_forward_carries_a_connection_to_a_loopback_port() -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]

        def answer() -> None:
            conn, _ = server.accept()
            with conn:
                data = b""
                while not data.endswith(b"\n"):
                    data += conn.recv(100)
                conn.sendall(b"echo: " + data)

        thread = threading.Thread(target=answer)
        thread.start()
        result = subprocess.run(
            [sys.executable, str(DEPLOY / "forward.py"), str(port)],
            input=b"hola\n",
            capture_output=True,
            check=False,
            timeout=30,
        )
        thread.join(10)
    assert result.returncode == 0, result.stderr
    assert result.stdout == b"echo: hola\n"
    refused = subprocess.run(
        [sys.executable, str(DEPLOY / "forward.py"), "1"],
        capture_output=True,
        text=True,
        check=False,
        timeout=30,
    )
    assert refused.returncode == 1
    assert "cannot connect to 127.0.0.1:1" in refused.stderr
