"""Structured logs (node/logs.py): one line per event, logfmt or JSON lines, and never a
secret, a key or a long id in them."""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from node import logs, records
from node.sync import Stats
from tests.net import close_all, make_network

LOGFMT_PAIR = re.compile(r'([a-z_]+)=("(?:[^"\\]|\\.)*"|[^ "]*)(?: |$)')


@pytest.fixture
def logged() -> Iterator[io.StringIO]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    commune_level = logging.getLogger("commune").level
    stream = io.StringIO()
    yield stream
    root.handlers[:] = handlers
    root.setLevel(level)
    logging.getLogger("commune").setLevel(commune_level)


def pairs(line: str) -> dict[str, str]:
    found = LOGFMT_PAIR.findall(line)
    assert " ".join(f"{k}={v}" for k, v in found) == line, line
    return {k: (json.loads(v) if v.startswith('"') else v) for k, v in found}


def test_an_event_is_one_logfmt_line_with_time_level_and_name(logged: io.StringIO) -> None:
    logs.setup_logging("text", "info", stream=logged)
    log = logging.getLogger("commune.sync")
    logs.event(
        log,
        "sync.ok",
        peer="https://203.0.113.7:8470",
        node=logs.short_id(bytes(range(32))),
        received=3,
        note='two words and a "quote"\nand a line break',
    )
    logs.event(log, "sync.quiet", logging.DEBUG, peer="x")  # below the level: not logged
    lines = logged.getvalue().splitlines()
    assert len(lines) == 1
    fields = pairs(lines[0])
    assert list(fields)[:3] == ["time", "level", "event"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", fields["time"])
    assert fields["level"] == "info"
    assert fields["event"] == "sync.ok"
    assert fields["peer"] == "[address]"  # where the peers are stays out of logs
    assert "203.0.113" not in lines[0]
    assert fields["node"] == "000102030405"
    assert fields["received"] == "3"
    assert fields["note"] == 'two words and a "quote"\nand a line break'


def test_json_lines(logged: io.StringIO) -> None:
    logs.setup_logging("json", "debug", stream=logged)
    log = logging.getLogger("commune.web")
    logs.event(log, "web.start", address="http://127.0.0.1:8471/")
    logs.event(log, "sync.ok", logging.DEBUG, peer="x", received=0)
    try:
        raise ValueError("a bad thing\nover two lines")
    except ValueError:
        log.exception("web view: %s", "it broke")
    lines = logged.getvalue().splitlines()
    assert len(lines) == 3
    first, second, third = (json.loads(line) for line in lines)
    assert first["event"] == "web.start"
    assert first["level"] == "info"
    assert first["address"] == "[address]"
    assert second["level"] == "debug"
    assert second["received"] == 0
    assert third["event"] == "web.error"
    assert third["level"] == "error"
    assert third["error"].startswith("ValueError: a bad thing")
    assert "Traceback" in third["traceback"]


def test_secrets_long_bytes_and_ids_never_reach_a_line(logged: io.StringIO) -> None:
    logs.setup_logging("text", "info", stream=logged)
    log = logging.getLogger("commune.serve")
    node_id = bytes(range(32))
    logs.event(
        log,
        "test.secrets",
        passphrase="correct horse battery staple",
        signing_key="abc",
        api_token="t",
        node=node_id,
        short=b"\x01\x02",
        text=f"the id {node_id.hex()} in a message",
    )
    log.info("plain message with %s and %s", node_id, node_id.hex())
    text = logged.getvalue()
    assert "correct horse" not in text
    assert node_id.hex() not in text
    assert node_id.hex()[:13] not in text
    first, second = (pairs(line) for line in text.splitlines())
    assert first["passphrase"] == "[withheld]"
    assert first["signing_key"] == "[withheld]"
    assert first["api_token"] == "[withheld]"
    assert first["node"] == "[32 bytes withheld]"
    assert first["short"] == "0102"
    assert first["text"] == "the id 000102030405… in a message"
    assert second["event"] == "serve"
    assert second["msg"] == "plain message with [32 bytes withheld] and 000102030405…"


def test_the_messages_of_the_scheduler_and_the_server_read_as_events(
    logged: io.StringIO,
) -> None:
    logs.setup_logging("text", "info", stream=logged)
    logging.getLogger("commune.serve").warning(
        "sync with %s failed (%d in a row): %s", "https://198.51.100.4:8470", 3, "refused"
    )
    logging.getLogger("commune.serve").info("synced with %s: %s", "https://x:1", "1 sent")
    logging.getLogger("commune.sync").warning(
        "peer %s… broke the protocol: %s", "0a1b2c3d4e5f", "an invalid event"
    )
    failed, ok, penalised = (pairs(line) for line in logged.getvalue().splitlines())
    assert failed["event"] == "sync.failed"
    assert failed["level"] == "warning"
    assert failed["failures"] == "3"
    assert failed["peer"] == "[address]"
    assert ok["event"] == "sync.ok"
    assert penalised["event"] == "peer.penalised"
    assert penalised["node"] == "0a1b2c3d4e5f"


def test_a_recorded_round_is_logged(logged: io.StringIO, tmp_path: Path) -> None:
    logs.setup_logging("text", "info", stream=logged)
    members = make_network(tmp_path, ["Los Angeles", "El Salvador"])
    la, sv = members
    try:
        stats = Stats(peer="https://127.0.0.1:9", node_id=sv.node.node_id, received=4)
        records.record_sync(la.node, "https://127.0.0.1:9", stats)
        records.record_sync(la.node, "https://127.0.0.1:9", None, "cannot sync: refused")
    finally:
        close_all(members)
    ok, failed = (pairs(line) for line in logged.getvalue().splitlines())
    assert ok["event"] == "sync.ok"
    assert ok["received"] == "4"
    assert ok["node"] == sv.node.node_id.hex()[:12]
    assert failed["event"] == "sync.failed"
    assert failed["error"] == "cannot sync: refused"


def test_setup_refuses_an_unknown_format_or_level(logged: io.StringIO) -> None:
    with pytest.raises(ValueError, match="text or json"):
        logs.setup_logging("xml", "info", stream=logged)
    with pytest.raises(ValueError, match="log level"):
        logs.setup_logging("text", "loud", stream=logged)
    logs.setup_logging("text", "WARNING", stream=logged)
    logs.setup_logging("json", "warning", stream=logged)  # replaces the first
    logging.getLogger("commune.x").warning("once")
    assert len(logged.getvalue().splitlines()) == 1
