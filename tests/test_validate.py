"""Every validation rule of docs/PROTOCOL.md §3 and §4, each with an input that breaks it."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from hypothesis import given, settings
from hypothesis import strategies as st

from protocol import encoding, signed
from protocol.chain import Head, check_next
from protocol.envelope import MAX_EVENT_SIZE, NO_NETWORK, SEALED, strip_body
from protocol.errors import (
    BadAuthor,
    BadBodyHash,
    BadField,
    BadPrev,
    BadSeq,
    BadShape,
    BadSignature,
    BadTimestamp,
    EventTooLarge,
    InvalidEvent,
    UnknownVersion,
    WrongNetwork,
)
from protocol.projections import read_payload
from protocol.validate import check_event
from tests.helpers import feed, fixed_key, forge, payload

KEY = fixed_key(7)
OTHER = fixed_key(9)
NET = bytes(range(32))

# The eight points of small order, and non-canonical encodings (libsodium's blocklist).
SMALL_ORDER = [
    "0100000000000000000000000000000000000000000000000000000000000000",
    "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    "0000000000000000000000000000000000000000000000000000000000000000",
    "0000000000000000000000000000000000000000000000000000000000000080",
    "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",
    "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",
    "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85",
    "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa",
]
NON_CANONICAL = [
    "0100000000000000000000000000000000000000000000000000000000000080",
    "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
]
TRIVIAL_SIGNATURE = bytes.fromhex(SMALL_ORDER[0]) + bytes(32)


def test_a_valid_event_passes() -> None:
    event = check_event(forge(KEY))
    assert event.author == KEY.public
    assert event.seq == 1
    assert event.id == signed.event_id(event.header)


def test_too_large() -> None:
    body = encoding.encode({"v": 1, "body": "x" * MAX_EVENT_SIZE})
    with pytest.raises(EventTooLarge):
        check_event(forge(KEY, body=body))


def test_unknown_version() -> None:
    with pytest.raises(UnknownVersion):
        check_event(forge(KEY, version=2))


@pytest.mark.parametrize(
    "fields",
    [
        {"version": "1"},
        {"network": bytes(31)},
        {"network": "net"},
        {"author": 5},
        {"seq": "1"},
        {"seq": True},
        {"prev": bytes(5), "seq": 2},
        {"ts": "now"},
        {"kind": b"report"},
        {"body_hash": bytes(31)},
        {"signature": bytes(63)},
        {"body": 12},
        {"extra": [None]},
    ],
)
def test_bad_shape(fields: dict[str, object]) -> None:
    with pytest.raises(BadShape):
        check_event(forge(KEY, **fields))  # type: ignore[arg-type]


def test_not_an_array() -> None:
    with pytest.raises(BadShape):
        check_event(encoding.encode({"v": 1}))
    with pytest.raises(BadShape):
        check_event(encoding.encode([1, NO_NETWORK]))


@pytest.mark.parametrize(
    "fields",
    [
        {"seq": 0},
        {"seq": 2**63},
        {"seq": 1, "prev": bytes(32)},
        {"seq": 2, "prev": None},
        {"ts": -1},
        {"kind": "Report"},
        {"kind": ""},
        {"kind": "a" * 65},
        {"kind": "répo"},
        {"kind": "1report"},
    ],
)
def test_bad_field(fields: dict[str, object]) -> None:
    with pytest.raises(BadField):
        check_event(forge(KEY, **fields))  # type: ignore[arg-type]


@pytest.mark.parametrize("key_hex", SMALL_ORDER + NON_CANONICAL)
def test_small_order_and_non_canonical_authors_are_refused(key_hex: str) -> None:
    raw = forge(None, author=bytes.fromhex(key_hex), signature=TRIVIAL_SIGNATURE)
    with pytest.raises(BadAuthor):
        check_event(raw)


def test_the_small_order_trap_is_real() -> None:
    """Why BadAuthor exists: pyca cryptography loads the identity point as a key, and a
    trivial signature then verifies for any message."""
    key = Ed25519PublicKey.from_public_bytes(bytes.fromhex(SMALL_ORDER[0]))
    key.verify(TRIVIAL_SIGNATURE, b"any message at all")  # raises if the library changes
    with pytest.raises(BadAuthor):
        check_event(forge(None, author=bytes.fromhex(SMALL_ORDER[0]), signature=TRIVIAL_SIGNATURE))


def test_bad_body_hash() -> None:
    raw = forge(KEY, body=payload("other"), body_hash=signed.body_hash(payload("signed")))
    with pytest.raises(BadBodyHash):
        check_event(raw)


def test_a_body_that_is_not_a_canonical_map_is_valid_but_unreadable() -> None:
    # Validity cannot depend on the body: a relay may erase it (§3.5). Readers skip it.
    for body in (encoding.encode([1, 2]), b"\x82\xa1b\x01\xa1a\x02", b"\xc1"):
        event = check_event(forge(KEY, body=body))
        assert read_payload(event) is None
        assert check_event(strip_body(event).raw).id == event.id


def test_sealed_body_is_opaque() -> None:
    event = check_event(forge(KEY, kind=SEALED, body=b"\x00\xffnot msgpack"))
    assert event.kind == SEALED


def test_bad_signature() -> None:
    with pytest.raises(BadSignature):
        check_event(forge(OTHER, author=KEY.public))
    raw = bytearray(forge(KEY))
    sig_at = raw.index(signed.sign_event(KEY, check_event(bytes(raw)).header))
    raw[sig_at + 5] ^= 1
    with pytest.raises(BadSignature):
        check_event(bytes(raw))


def test_redacted_event_still_verifies() -> None:
    event = feed(KEY, 1)[0]
    stripped = strip_body(event)
    assert stripped.body is None
    assert check_event(stripped.raw).id == event.id


# --- chain rules (§4) --------------------------------------------------------------


def test_seq_must_start_at_one_and_rise_by_one() -> None:
    a1, a2, a3 = feed(KEY, 3)
    check_next(None, a1)
    with pytest.raises(BadSeq):
        check_next(None, a2)
    with pytest.raises(BadSeq):
        check_next(Head.of(a1), a3)
    check_next(Head.of(a1), a2)


def test_prev_must_be_the_previous_id() -> None:
    a1 = feed(KEY, 1)[0]
    raw = forge(KEY, seq=2, prev=bytes(32), ts=a1.ts + 1)
    with pytest.raises(BadPrev):
        check_next(Head.of(a1), check_event(raw))


def test_ts_must_rise_along_a_feed() -> None:
    a1 = feed(KEY, 1)[0]
    raw = forge(KEY, seq=2, prev=a1.id, ts=a1.ts)
    with pytest.raises(BadTimestamp):
        check_next(Head.of(a1), check_event(raw))


def test_a_feed_enters_one_network_and_stays() -> None:
    a1 = feed(KEY, 1)[0]  # written before joining any network
    joined = check_event(forge(KEY, seq=2, prev=a1.id, ts=a1.ts + 1, network=NET))
    check_next(Head.of(a1), joined)
    for network in (NO_NETWORK, bytes(reversed(NET))):
        moved = check_event(forge(KEY, seq=3, prev=joined.id, ts=joined.ts + 1, network=network))
        with pytest.raises(WrongNetwork):
            check_next(Head.of(joined), moved)


# --- property: no single-byte change goes unnoticed ---------------------------------

EVENTS = feed(KEY, 2, network=NET)


@settings(max_examples=400)
@given(st.data())
def test_any_single_byte_change_is_refused_or_changes_the_id(data: st.DataObject) -> None:
    event = data.draw(st.sampled_from(EVENTS))
    position = data.draw(st.integers(0, len(event.raw) - 1))
    value = data.draw(st.integers(0, 255).filter(lambda v: v != event.raw[position]))
    mutated = bytearray(event.raw)
    mutated[position] = value
    try:
        changed = check_event(bytes(mutated))
    except InvalidEvent as e:
        assert e.code  # noqa: PT017 - any refusal is a right answer here
        return
    assert changed.id != event.id
