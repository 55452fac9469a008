"""The golden vectors of docs/PROTOCOL.md (tests/vectors/events.json) against the code.

The file is written by tests/vectors/generate.py from fixed seeds; the last test checks
that the generator still writes exactly the committed file, so the two cannot drift.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from crypto.identity import NodeKeys
from crypto.sign import SigningKey
from protocol import encoding, signed
from protocol.card import Card
from protocol.chain import Head, check_next
from protocol.envelope import (
    MAX_EVENT_SIZE,
    NO_NETWORK,
    SEALED,
    VERSION,
    create_event,
    decode_event,
    strip_body,
)
from protocol.errors import BadCard, EncodingError, InvalidEvent
from protocol.projections import read_payload
from protocol.validate import check_event

VECTORS = Path(__file__).resolve().parent / "vectors"
DATA: dict[str, Any] = json.loads((VECTORS / "events.json").read_text(encoding="utf-8"))
EVENTS: list[dict[str, Any]] = DATA["events"]
BY_NAME = {e["name"]: e for e in EVENTS}
SEEDS = {a["public"]: bytes.fromhex(a["seed"]) for a in DATA["authors"]}


def _hex(value: str | None) -> bytes | None:
    return None if value is None else bytes.fromhex(value)


def _names(items: list[dict[str, Any]]) -> list[str]:
    return [item["name"] for item in items]


def test_contexts_and_constants_are_the_codes() -> None:
    contexts = DATA["contexts"]
    assert bytes.fromhex(contexts["event_signature"]["hex"]) == signed.EVENT_SIGNATURE
    assert bytes.fromhex(contexts["event_id"]["hex"]) == signed.EVENT_ID
    assert bytes.fromhex(contexts["event_body"]["hex"]) == signed.EVENT_BODY
    assert bytes.fromhex(contexts["card_signature"]["hex"]) == signed.CARD_SIGNATURE
    assert bytes.fromhex(contexts["checksum"]["hex"]) == signed.CHECKSUM
    assert bytes.fromhex(contexts["state_hash"]["hex"]) == signed.STATE_HASH
    constants = DATA["constants"]
    assert constants["version"] == VERSION
    assert constants["max_event_size"] == MAX_EVENT_SIZE
    assert constants["max_depth"] == encoding.MAX_DEPTH
    assert bytes.fromhex(constants["no_network"]) == NO_NETWORK
    assert constants["sealed_kind"] == SEALED


def test_public_keys_come_from_the_seeds() -> None:
    for author in DATA["authors"]:
        assert SigningKey(bytes.fromhex(author["seed"])).public.hex() == author["public"]
    label = DATA["network"]["label"].encode()
    assert hashlib.sha256(label).hexdigest() == DATA["network"]["id"]


def test_the_vectors_cover_what_the_spec_asks() -> None:
    kinds = [e["fields"]["kind"] for e in EVENTS]
    assert "report" in kinds
    assert "plan" in kinds
    assert SEALED in kinds
    assert any(e.get("redacted") for e in EVENTS)
    assert any(e["fields"]["network"] == NO_NETWORK.hex() for e in EVENTS)
    assert any(e["size"] == MAX_EVENT_SIZE for e in EVENTS)
    assert any(
        p is not None and any(not str(v).isascii() for v in p.values())
        for p in (e["payload"] for e in EVENTS)
    )
    codes = {item["code"] for item in DATA["invalid"]}
    for code in (
        "truncated",
        "trailing-bytes",
        "non-minimal-int",
        "non-minimal-length",
        "forbidden-type",
        "invalid-utf8",
        "too-large",
        "unknown-version",
        "bad-shape",
        "bad-field",
        "bad-author",
        "bad-body-hash",
        "missing-body",
        "bad-signature",
    ):
        assert code in codes, code


@pytest.mark.parametrize("vector", EVENTS, ids=_names(EVENTS))
def test_decoding_gives_the_listed_fields(vector: dict[str, Any]) -> None:
    event = decode_event(bytes.fromhex(vector["wire"]))
    fields = vector["fields"]
    assert fields["version"] == VERSION
    assert event.network == bytes.fromhex(fields["network"])
    assert event.author == bytes.fromhex(fields["author"])
    assert event.seq == fields["seq"]
    assert event.prev == _hex(fields["prev"])
    assert event.ts == fields["ts"]
    assert event.ts == vector["ts_ms"] * 65536 + vector["ts_counter"]
    assert event.kind == fields["kind"]
    assert event.body_hash == bytes.fromhex(fields["body_hash"])
    assert event.signature == bytes.fromhex(fields["signature"])
    assert event.body == _hex(fields["body"])
    assert event.header.hex() == vector["header"]
    assert event.id.hex() == vector["id"]
    assert len(event.raw) == vector["size"]


@pytest.mark.parametrize("vector", EVENTS, ids=_names(EVENTS))
def test_each_valid_event_is_accepted(vector: dict[str, Any]) -> None:
    event = check_event(bytes.fromhex(vector["wire"]))
    assert event.id.hex() == vector["id"]


@pytest.mark.parametrize("vector", EVENTS, ids=_names(EVENTS))
def test_header_signature_id_and_body_hash(vector: dict[str, Any]) -> None:
    fields = vector["fields"]
    header = bytes.fromhex(vector["header"])
    assert header[0] == 0x98
    assert header == encoding.encode(
        [
            VERSION,
            bytes.fromhex(fields["network"]),
            bytes.fromhex(fields["author"]),
            fields["seq"],
            _hex(fields["prev"]),
            fields["ts"],
            fields["kind"],
            bytes.fromhex(fields["body_hash"]),
        ]
    )
    assert bytes.fromhex(vector["signing_input"]) == signed.EVENT_SIGNATURE + header
    assert signed.verify_event(
        bytes.fromhex(fields["author"]), header, bytes.fromhex(fields["signature"])
    )
    assert hashlib.sha256(signed.EVENT_ID + header).hexdigest() == vector["id"]
    body = bytes.fromhex(vector.get("original_body") or fields["body"])
    assert hashlib.sha256(signed.EVENT_BODY + body).hexdigest() == fields["body_hash"]
    if vector["payload"] is not None:
        assert encoding.encode(vector["payload"]) == body


@pytest.mark.parametrize("vector", EVENTS, ids=_names(EVENTS))
def test_each_event_is_recreated_from_its_fields_and_seed(vector: dict[str, Any]) -> None:
    fields = vector["fields"]
    body = bytes.fromhex(vector.get("original_body") or fields["body"])
    event = create_event(
        SigningKey(SEEDS[fields["author"]]),
        network=bytes.fromhex(fields["network"]),
        seq=fields["seq"],
        prev=_hex(fields["prev"]),
        ts=fields["ts"],
        kind=fields["kind"],
        body=body,
    )
    if vector.get("redacted"):
        assert event.raw.hex() == vector["unredacted_wire"]
        event = strip_body(event)
        assert event.body is None
    assert event.raw.hex() == vector["wire"]
    assert event.id.hex() == vector["id"]


def test_a_redacted_event_keeps_its_id() -> None:
    for vector in EVENTS:
        if vector.get("redacted"):
            full = check_event(bytes.fromhex(vector["unredacted_wire"]))
            stripped = check_event(bytes.fromhex(vector["wire"]))
            assert full.id == stripped.id
            assert full.header == stripped.header
            assert strip_body(full).raw == stripped.raw


def test_each_feed_follows_the_chain_rules() -> None:
    heads: dict[bytes, Head] = {}
    for vector in EVENTS:
        event = check_event(bytes.fromhex(vector["wire"]))
        check_next(heads.get(event.author), event)
        heads[event.author] = Head.of(event)
    assert len(heads) == len(DATA["authors"])


def test_the_fork_is_valid_and_at_a_taken_place() -> None:
    fork = DATA["fork"]
    event = check_event(bytes.fromhex(fork["wire"]))
    original = check_event(bytes.fromhex(BY_NAME[fork["of"]]["wire"]))
    assert (event.author, event.seq) == (original.author, original.seq)
    assert event.id != original.id
    assert event.id.hex() == fork["id"]


@pytest.mark.parametrize("case", DATA["chain_invalid"], ids=_names(DATA["chain_invalid"]))
def test_chain_violations_are_refused_with_their_code(case: dict[str, Any]) -> None:
    event = check_event(bytes.fromhex(case["wire"]))  # valid on its own
    head = None
    if case["head"] is not None:
        head = Head.of(check_event(bytes.fromhex(BY_NAME[case["head"]]["wire"])))
    with pytest.raises(InvalidEvent) as caught:
        check_next(head, event)
    assert caught.value.code == case["code"]


@pytest.mark.parametrize("case", DATA["invalid"], ids=_names(DATA["invalid"]))
def test_invalid_encodings_are_refused_with_their_code(case: dict[str, Any]) -> None:
    raw = bytes.fromhex(case["wire"])
    assert len(raw) == case["size"]
    with pytest.raises(InvalidEvent) as caught:
        check_event(raw)
    assert caught.value.code == case["code"], caught.value.message


@pytest.mark.parametrize("case", DATA["unreadable_bodies"], ids=_names(DATA["unreadable_bodies"]))
def test_unreadable_bodies_are_valid_but_unread(case: dict[str, Any]) -> None:
    event = check_event(bytes.fromhex(case["wire"]))  # validity does not read the body
    assert event.body is not None
    if case["code"] == "not-a-map":
        assert not isinstance(encoding.decode(event.body), dict)
    else:
        with pytest.raises(EncodingError) as caught:
            encoding.decode(event.body)
        assert caught.value.code == case["code"]
    assert read_payload(event) is None
    # the same event with its body erased is just as valid, with the same id
    assert check_event(strip_body(event).raw).id == event.id


def test_unreadable_bodies_cover_every_body_rule() -> None:
    codes = {case["code"] for case in DATA["unreadable_bodies"]}
    assert codes >= {"unsorted-keys", "duplicate-key", "forbidden-type", "too-deep", "not-a-map"}


def test_the_card_parses_to_its_fields() -> None:
    vector = DATA["card"]
    texts = [vector["text"], *vector["equivalent_texts"]]
    for text in texts:
        card = Card.from_text(text)
        assert card.name == vector["name"]
        assert card.node_id.hex() == vector["node_id"]
        assert card.sealing_key.hex() == vector["sealing_key"]
        assert list(card.addresses) == vector["addresses"]
        assert card.signature.hex() == vector["signature"]


def test_the_card_is_rebuilt_from_its_seed() -> None:
    vector = DATA["card"]
    keys = NodeKeys(
        SigningKey(bytes.fromhex(vector["seed"])), bytes.fromhex(vector["sealing_private"])
    )
    assert keys.node_id.hex() == vector["node_id"]
    assert keys.sealing_public.hex() == vector["sealing_key"]
    card = Card(vector["name"], keys.node_id, keys.sealing_public, tuple(vector["addresses"]))
    card = card.sign(keys.signing)
    assert card.to_text() == vector["text"]
    signed_part = bytes.fromhex(vector["signed_part"])
    assert bytes.fromhex(vector["signing_input"]) == signed.CARD_SIGNATURE + signed_part
    assert signed.verify_card(keys.node_id, signed_part, card.signature)
    data = bytes.fromhex(vector["data"])
    assert data == encoding.encode([signed_part, card.signature])
    assert signed.checksum(b"commune-card" + data).hex() == vector["checksum"]


@pytest.mark.parametrize("case", DATA["invalid_cards"], ids=_names(DATA["invalid_cards"]))
def test_invalid_cards_are_refused(case: dict[str, Any]) -> None:
    with pytest.raises(BadCard) as caught:
        Card.from_text(case["text"])
    assert caught.value.code == case["code"]


def test_the_generator_reproduces_the_committed_file(tmp_path: Path) -> None:
    out = tmp_path / "events.json"
    root = str(VECTORS.parent.parent)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([root, os.environ.get("PYTHONPATH", "")])}
    subprocess.run(
        [sys.executable, str(VECTORS / "generate.py"), str(out)],
        check=True,
        timeout=120,
        env=env,
        cwd=tmp_path,
    )
    assert out.read_bytes() == (VECTORS / "events.json").read_bytes()
