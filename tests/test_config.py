"""The node's settings file (node/config.py): parsing, every error, precedence, and real
`commune serve --config` processes that sync with each other."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import aiohttp
import pytest

from node import config
from node.cli_common import passphrase
from node.config import Config
from node.errors import ConfigError
from tests.helpers import ROOT, commune
from tests.net import close_all, commune_async, free_port, make_network
from tests.web_owner import owner_jar

ONION = "https://" + "a" * 56 + ".onion:8470"

FULL = """
[sync]
listen = "127.0.0.1:9470"
advertise = ["https://203.0.113.7:8470", "https://203.0.113.7:8470/"]
interval = 30
parallel = 2

[web]
listen = "[::1]:9471"
enabled = false
public = true

[peers]
urls = ["https://198.51.100.4:8470", "ONION"]

[network]
proxy = "socks5://tor:secret@127.0.0.1:9050"
proxy_all = true

[log]
format = "json"
level = "WARNING"

[limits]
connect_timeout = 90
read_timeout = 45.5
request_time = 1800
""".replace("ONION", ONION)


def write(tmp_path: Path, text: str, name: str = "node.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_every_key_is_read(tmp_path: Path) -> None:
    path = write(tmp_path, FULL)
    c = config.load(path)
    assert c == Config(
        source=path,
        listen="127.0.0.1:9470",
        advertise=("https://203.0.113.7:8470",),  # the same address once
        interval=30.0,
        parallel=2,
        web_listen="[::1]:9471",
        web_enabled=False,
        web_public=True,
        peers=("https://198.51.100.4:8470", ONION),
        proxy="socks5://tor:secret@127.0.0.1:9050",
        proxy_all=True,
        connect_timeout=90.0,
        read_timeout=45.5,
        request_time=1800.0,
        log_format="json",
        log_level="warning",
    )
    assert c.connect_seconds == 90.0


def test_an_empty_file_and_no_file_give_the_defaults(tmp_path: Path) -> None:
    assert config.load(write(tmp_path, "# nothing set\n")) == Config(source=tmp_path / "node.toml")
    home = tmp_path / "home"
    home.mkdir()
    assert config.find(home, None) == Config()  # no node.toml: the defaults
    c = Config()
    assert (config.listen_address(c)[0], c.web_listen, c.interval, c.parallel) == (
        "127.0.0.1:8470",  # this machine only, unless --listen or --advertise says more
        "127.0.0.1:8471",
        60.0,
        4,
    )
    assert (c.web_enabled, c.web_public, c.proxy, c.proxy_all) == (True, False, None, False)
    assert c.connect_seconds == 15.0
    assert c.replace(proxy="socks5://127.0.0.1:9050").connect_seconds == 60.0  # Tor is slow


def test_the_node_folders_file_is_used_unless_another_is_given(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    write(home, "[sync]\ninterval = 5\n")
    assert config.find(home, None).interval == 5.0
    assert config.find(home, None).source == home / "node.toml"
    other = write(tmp_path, "[sync]\ninterval = 7\n", "other.toml")
    assert config.find(home, other).interval == 7.0
    with pytest.raises(ConfigError, match=r"missing\.toml: no such settings file"):
        config.find(home, tmp_path / "missing.toml")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0.0.0.0:8470", ("0.0.0.0", 8470)),
        ("localhost", ("localhost", 1)),
        ("[::1]:9", ("::1", 9)),
        ("[::]", ("::", 1)),
        ("fe80::1", ("fe80::1", 1)),
        ("127.0.0.1:0", ("127.0.0.1", 0)),
    ],
)
def test_addresses(text: str, expected: tuple[str, int]) -> None:
    assert config.split_address(text, 1) == expected


def test_every_setting_has_a_field_a_check_and_documentation() -> None:
    fields = {f for f in Config.__dataclass_fields__ if f != "source"}
    assert {s.field for s in config.SETTINGS} == fields
    doc = (ROOT / "docs" / "CLI.md").read_text()
    serve = doc.split("### `serve", 1)[1].split("\n### ", 1)[0]
    for s in config.SETTINGS:
        assert s.help
        assert f"[{s.section}]" in serve, f"[{s.section}] is not in docs/CLI.md serve"
        assert f"`{s.key}`" in serve, f"[{s.section}] {s.key} is not in docs/CLI.md serve"


BAD = [
    ("[sync\nlisten = 1\n", r"not valid TOML: .*line 1"),
    ('listen = "0.0.0.0:8470"\n', r"listen: outside any section; put it under \[sync\] or \[web\]"),
    ("interval = 5\n[sync]\n", r"interval: outside any section; put it under \[sync\] \("),
    ("colour = 5\n", r"colour: outside any section; put it under its section"),
    ("[sink]\n", r"unknown section \[sink\] \(did you mean 'sync'\?\); the sections are \[sync\]"),
    ("[sync]\nintervall = 5\n", r"\[sync\] intervall: unknown key \(did you mean 'interval'\?\)"),
    ("[web]\nport = 1\n", r"\[web\] port: unknown key; \[web\] takes listen, enabled, public"),
    ("[sync.extra]\n", r"\[sync\] extra: unknown key"),
    ("[sync]\nlisten = 8470\n", r'\[sync\] listen: wants a string "HOST:PORT", not 8470'),
    ('[sync]\nlisten = "0.0.0.0:http"\n', r"\[sync\] listen: wants HOST:PORT .*'0.0.0.0:http'"),
    ('[sync]\nlisten = "0.0.0.0:70000"\n', r"\[sync\] listen: the port 70000 is out of range"),
    ('[sync]\nlisten = ":8470"\n', r"\[sync\] listen: wants HOST:PORT"),
    ('[sync]\nlisten = "[::1:8470"\n', r"\[sync\] listen: wants HOST:PORT"),
    ('[sync]\nlisten = "[::1]8470"\n', r"\[sync\] listen: wants HOST:PORT"),
    ('[sync]\nlisten = "my host:8470"\n', r"\[sync\] listen: wants HOST:PORT"),
    ('[sync]\nadvertise = "https://a:1"\n', r"\[sync\] advertise: wants a list of addresses"),
    ('[sync]\nadvertise = ["ftp://a"]\n', r"\[sync\] advertise: 'ftp://a' is not a peer address"),
    ("[sync]\nadvertise = [1]\n", r"\[sync\] advertise: wants addresses as strings, not 1"),
    ('[sync]\ninterval = "60"\n', r"\[sync\] interval: wants a number of seconds, not '60'"),
    ("[sync]\ninterval = 0.5\n", r"\[sync\] interval: wants between 1 and 86400 seconds, not 0.5"),
    ("[sync]\ninterval = true\n", r"\[sync\] interval: wants a number of seconds, not True"),
    ("[sync]\ninterval = nan\n", r"\[sync\] interval: wants between 1 and 86400 seconds"),
    ("[sync]\nparallel = 2.5\n", r"\[sync\] parallel: wants a whole number, not 2.5"),
    ("[sync]\nparallel = 0\n", r"\[sync\] parallel: wants a number from 1 to 64, not 0"),
    ('[web]\nlisten = "localhost:x"\n', r"\[web\] listen: wants HOST:PORT"),
    ('[web]\nenabled = "no"\n', r"\[web\] enabled: wants true or false \(no quotes\), not 'no'"),
    ("[web]\npublic = 1\n", r"\[web\] public: wants true or false"),
    ('[peers]\nurls = ["http://a:1"]\n', r"\[peers\] urls: 'http://a:1' is not a peer address"),
    ("[peers]\nurls = {}\n", r"\[peers\] urls: wants a list of addresses"),
    ('[network]\nproxy = "127.0.0.1:9050"\n', r"\[network\] proxy: wants socks5://HOST:PORT"),
    ('[network]\nproxy = "http://127.0.0.1:9050"\n', r"\[network\] proxy: wants socks5://"),
    ('[network]\nproxy = "socks5://127.0.0.1"\n', r"\[network\] proxy: wants socks5://HOST:PORT"),
    ('[network]\nproxy = "socks5://h:99999"\n', r"\[network\] proxy: wants socks5://HOST:PORT"),
    ('[network]\nproxy = "socks5://h:9050/x"\n', r"\[network\] proxy: .*nothing after the port"),
    ("[network]\nproxy = 9050\n", r'\[network\] proxy: wants a string "socks5://HOST:PORT"'),
    ('[network]\nproxy_all = "yes"\n', r"\[network\] proxy_all: wants true or false"),
    ("[network]\nproxy_all = true\n", r"\[network\] proxy_all: true needs \[network\] proxy"),
    (f'[peers]\nurls = ["{ONION}"]\n', r"\[peers\] urls: https://a+\.onion:8470 is an onion"),
    ("[limits]\nconnect_timeout = 0\n", r"\[limits\] connect_timeout: wants between 1 and 600"),
    ('[limits]\nread_timeout = "30s"\n', r"\[limits\] read_timeout: wants a number of seconds"),
    ("[limits]\nrequest_time = 5\n", r"\[limits\] request_time: wants between 10 and 86400"),
    ('[log]\nformat = "xml"\n', r'\[log\] format: wants one of "text", "json", not \'xml\''),
    ("[log]\nlevel = 3\n", r'\[log\] level: wants one of "debug", "info", "warning", "error"'),
    ("[limits]\nframe_size = 5\n", r"\[limits\] frame_size: unknown key; \[limits\] takes"),
]


@pytest.mark.parametrize(("text", "error"), BAD)
def test_each_fault_is_one_error_naming_the_file_the_key_and_what_is_wrong(
    tmp_path: Path, text: str, error: str
) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        config.load(path)
    message = caught.value.message
    assert message.startswith(f"{path}: "), message
    assert re.search(error, message), message
    assert "\n" not in message


def test_a_file_that_is_not_text_or_cannot_be_read(tmp_path: Path) -> None:
    path = tmp_path / "node.toml"
    path.write_bytes(b"[sync]\ninterval = 5 # \xff\xfe\n")
    with pytest.raises(ConfigError, match=r"node\.toml: not a TOML file \(it is not UTF-8"):
        config.load(path)
    with pytest.raises(ConfigError, match=r": cannot read it: Is a directory"):
        config.load(tmp_path)


def test_the_command_line_refuses_a_bad_file_before_asking_anything(tmp_path: Path) -> None:
    commune(tmp_path / "n", "init", "--name", "Los Angeles", "--insecure-no-passphrase")
    bad = write(tmp_path, "[sync]\nintervall = 5\n")
    for command in ("serve", "sync"):
        result = commune(tmp_path / "n", command, "--config", str(bad))
        assert result.returncode == 1
        assert result.stderr.strip().splitlines()[-1] == (
            f"error: {bad}: [sync] intervall: unknown key (did you mean 'interval'?); "
            "[sync] takes listen, advertise, interval, parallel"
        )
    # the node folder's node.toml is read by default, and $COMMUNE_CONFIG names another
    write(tmp_path / "n", "[web]\npublic = 2\n")
    result = commune(tmp_path / "n", "serve")
    assert "node.toml: [web] public: wants true or false" in result.stderr
    result = commune(tmp_path / "n", "sync", env={"COMMUNE_CONFIG": str(bad)})
    assert "[sync] intervall: unknown key" in result.stderr
    # options are checked together with the file: proxy_all needs a proxy
    (tmp_path / "n" / "node.toml").unlink()
    result = commune(tmp_path / "n", "serve", "--proxy-all")
    assert "proxy_all: true needs [network] proxy" in result.stderr
    result = commune(tmp_path / "n", "serve", "--proxy", "tor:9050")
    assert "error: --proxy wants socks5://HOST:PORT" in result.stderr
    result = commune(tmp_path / "n", "serve", "--listen", "0.0.0.0:http")
    assert "error: --listen wants HOST:PORT" in result.stderr


def test_the_passphrase_comes_from_a_systemd_credential(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("COMMUNE_PASSPHRASE", raising=False)
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(tmp_path))
    (tmp_path / "passphrase").write_bytes(b"correct horse\n")
    assert passphrase() == b"correct horse"  # one final line break is not part of it
    (tmp_path / "passphrase").write_bytes(b"  spaced  ")
    assert passphrase() == b"  spaced  "
    monkeypatch.setenv("COMMUNE_PASSPHRASE", "from the environment")
    assert passphrase() == b"from the environment"  # the environment comes first
    monkeypatch.delenv("COMMUNE_PASSPHRASE")
    (tmp_path / "passphrase").unlink()
    monkeypatch.setattr("click.prompt", lambda *a, **k: "typed")
    assert passphrase() == b"typed"  # no credential file: asked for


# --- real nodes started from settings files ----------------------------------------------


def serve(home: Path, settings: Path, *extra: str, env: dict[str, str]) -> subprocess.Popen[str]:
    """`commune serve --config FILE` in its own process, once it listens."""
    full = {k: v for k, v in os.environ.items() if k != "COMMUNE_PASSPHRASE"}
    full.update(env)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "node",
            "--home",
            str(home),
            "serve",
            "--config",
            str(settings),
            *extra,
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=full,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line.startswith("Serving on"):
        proc.kill()
        _, err = proc.communicate()
        raise AssertionError(f"serve did not start: {line!r} {err}")
    proc.first_line = line  # type: ignore[attr-defined]
    return proc


def stop(proc: subprocess.Popen[str]) -> str:
    """SIGTERM, as systemd and container runtimes stop a node; its stderr."""
    proc.send_signal(signal.SIGTERM)
    try:
        _, err = proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        _, err = proc.communicate()
        raise AssertionError(f"serve did not stop on SIGTERM: {err}") from None
    assert proc.returncode == 0, err
    return err


async def hashes(*homes: Path, env: dict[str, str]) -> list[str]:
    return [(await commune_async(h, "state-hash", env=env))[1] for h in homes]


async def test_two_nodes_started_from_settings_files_sync(tmp_path: Path) -> None:
    secret = b"una frase larga y secreta"
    la, sv = make_network(tmp_path, ["Los Angeles", "San Salvador"], passphrase=secret)
    la.post("desde Los Angeles")
    sv.post("desde San Salvador")
    for m in (la, sv):
        m.node.close()
    # the passphrase as systemd hands it over: a file in $CREDENTIALS_DIRECTORY
    credentials = tmp_path / "credentials"
    credentials.mkdir(mode=0o700)
    (credentials / "passphrase").write_bytes(secret + b"\n")
    env = {"CREDENTIALS_DIRECTORY": str(credentials)}
    la_port, sv_port = free_port(), free_port()
    la_file = write(
        tmp_path,
        f"""
[sync]
listen = "127.0.0.1:{la_port}"
interval = 3600

[web]
enabled = false
""",
        "la.toml",
    )
    sv_file = write(
        tmp_path,
        f"""
[sync]
listen = "127.0.0.1:{sv_port}"
advertise = ["https://127.0.0.1:{sv_port}"]
interval = 1
parallel = 1

[web]
listen = "127.0.0.1:{free_port()}"

[peers]
urls = ["https://127.0.0.1:{la_port}"]

[log]
format = "json"

[limits]
connect_timeout = 5
read_timeout = 10
request_time = 60
""",
        "sv.toml",
    )
    before = await hashes(la.home.path, sv.home.path, env=env)
    assert before[0] != before[1]
    # an option overrides the file: LA's interval
    la_proc = serve(la.home.path, la_file, "--interval", "7200", "--log-level", "warning", env=env)
    sv_proc = None
    try:
        assert la_proc.first_line.startswith(
            f"Serving on 127.0.0.1:{la_port}; syncing every 7200 s"
        )  # type: ignore[attr-defined]
        sv_proc = serve(sv.home.path, sv_file, env=env)
        assert sv_proc.stdout is not None
        web = sv_proc.stdout.readline()
        assert web.startswith("Web view on http://127.0.0.1:"), web
        for _ in range(300):
            now = await hashes(la.home.path, sv.home.path, env=env)
            if now[0] == now[1]:
                break
            await asyncio.sleep(0.1)
        else:
            raise AssertionError("the two nodes did not converge")
        assert now[0] not in before
        # SV's web view shows both collectives' reports
        # the printed address with its one-time token: traded for a cookie the jar keeps
        async with (
            aiohttp.ClientSession(cookie_jar=owner_jar()) as client,
            client.get(web.split()[-1]) as page,
        ):
            assert page.status == 200
            html = await page.text()
        assert "Los Angeles" in html
        # a report posted on LA while both run reaches SV: SV's live channel to LA
        post = await asyncio.create_subprocess_exec(
            *(sys.executable, "-m", "node", "--home", str(la.home.path), "post", "report"),
            *("--title", "en vivo", "--body", "…"),
            cwd=ROOT,
            env={**os.environ, **env},
            stderr=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.DEVNULL,
        )
        _, err = await asyncio.wait_for(post.communicate(), 60)
        assert post.returncode == 0, err
        for _ in range(300):
            now = await hashes(la.home.path, sv.home.path, env=env)
            if now[0] == now[1]:
                break
            await asyncio.sleep(0.1)
        else:
            raise AssertionError("the live post did not reach SV")
    finally:
        la_err = stop(la_proc)
        sv_err = stop(sv_proc) if sv_proc is not None else ""
    assert f"Settings from {la_file}." in la_err
    assert f"Settings from {sv_file}." in sv_err
    assert f"Published this node's addresses: https://127.0.0.1:{sv_port}" in sv_err
    # SV logs JSON lines ([log] format), LA only warnings and worse (--log-level)
    events = [json.loads(line) for line in sv_err.splitlines() if line.startswith("{")]
    la_id = la.keys.node_id.hex()[:12]  # a peer is named by its id; never its address
    assert any(e["event"] == "sync.ok" and e["node"] == la_id for e in events), sv_err
    assert all(e.get("peer") in (None, "[address]") for e in events), sv_err
    assert f"127.0.0.1:{la_port}" not in sv_err
    assert "level=info" not in la_err
    _, out, _ = await commune_async(sv.home.path, "peer", "list", "--json", env=env)
    assert f"https://127.0.0.1:{la_port}" in out  # [peers] urls joined the node's list


async def test_the_limits_reach_the_rounds_they_are_given_to(tmp_path: Path) -> None:
    """[limits] become the time limits of the process's sync (passed to the daemon and
    to each round, not written into module globals)."""
    from node import daemon, sync  # noqa: PLC0415
    from node.cli_sync import sync_timeouts  # noqa: PLC0415
    from node.intake import take_in  # noqa: PLC0415
    from protocol import session as sessions  # noqa: PLC0415
    from protocol.errors import SyncError  # noqa: PLC0415

    limits = sync_timeouts(
        Config(proxy="socks5://127.0.0.1:9050", read_timeout=1.0, request_time=99.0)
    )
    assert limits == sync.Timeouts(read=1.0, request=99.0, connect=60.0)
    assert sync_timeouts(Config(connect_timeout=7.0)).connect == 7.0
    assert sync_timeouts(Config()) == sync.Timeouts()  # the settings' defaults are sync's
    (la,) = members = make_network(tmp_path, ["Los Angeles"])
    try:
        given = sync.Timeouts(read=0.05, request=99.0, connect=7.0)
        runner = daemon.Daemon(la.node, la.keys, host="127.0.0.1", port=0, timeouts=given)
        assert runner.sync.timeouts is given
        async with sync.client_session(runner.sync) as session:
            assert (session.timeout.connect, session.timeout.sock_read) == (7.0, 0.05)
        assert sync.Sync(la.node, la.keys).timeouts == sync.Timeouts()  # others' are their own

        async def silent() -> bytes:
            await asyncio.sleep(10)
            return b""

        push = sessions.Server(runner.sync, "push")
        with pytest.raises(SyncError, match="the peer sent nothing for 0 s"):
            await take_in(runner.sync, push, silent, sync.Stats(), given.read)
    finally:
        close_all(members)
