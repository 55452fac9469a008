"""Golden test vectors for docs/PROTOCOL.md, built from fixed seeds.

No randomness and no clock: Ed25519 signatures are deterministic (RFC 8032), so running
this twice writes the same file byte for byte. From the repository root::

    .venv/bin/python tests/vectors/generate.py            # rewrites tests/vectors/events.json
    .venv/bin/python tests/vectors/generate.py OUT.json   # writes elsewhere

tests/test_vectors.py checks the code against the file, and that this script still
reproduces it exactly. When the protocol changes on purpose, rerun the script and
commit both.

Everything valid is built with the project's own functions (``create_event``,
``strip_body``, ``Card.sign``). The invalid events are put together field by field here,
each breaking one rule and otherwise valid (signed over the canonical header).
"""

from __future__ import annotations

import hashlib
import json
import struct
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import nacl.bindings

from crypto.identity import NodeKeys
from crypto.sign import SigningKey
from protocol import encoding, hlc, signed
from protocol.armor import armor
from protocol.card import PREFIX as CARD_PREFIX
from protocol.card import Card
from protocol.envelope import (
    MAX_EVENT_SIZE,
    NO_NETWORK,
    SEALED,
    VERSION,
    Event,
    create_event,
    strip_body,
)

OUT = Path(__file__).resolve().parent / "events.json"

#: The three authors: fixed seeds, so fixed keys.
SEEDS = {
    "A": bytes(range(0, 32)),
    "B": bytes(range(32, 64)),
    "C": bytes(range(64, 96)),
}
KEYS = {name: SigningKey(seed) for name, seed in SEEDS.items()}
#: The X25519 private key of the node card's node (author B).
CARD_SEALING_PRIVATE = bytes(range(96, 128))

NETWORK_LABEL = b"commune test vectors: network"
NETWORK = hashlib.sha256(NETWORK_LABEL).digest()
OTHER_NETWORK = hashlib.sha256(b"commune test vectors: another network").digest()

#: 2026-03-08 12:00:00 UTC in milliseconds (a constant, not the clock).
T0 = int(datetime(2026, 3, 8, 12, 0, tzinfo=UTC).timestamp()) * 1000
MINUTE = 60_000
HOUR = 60 * MINUTE
TS0 = hlc.pack(T0)

#: The group element of order 8 (a small-order point) from libsodium's blocklist.
ORDER_8_POINT = bytes.fromhex("26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05")
IDENTITY_POINT = bytes.fromhex("01" + "00" * 31)


# --- building events ----------------------------------------------------------------


def _event(
    author: str,
    prev: Event | None,
    *,
    network: bytes,
    ts: int,
    kind: str,
    body: bytes,
) -> Event:
    return create_event(
        KEYS[author],
        network=network,
        seq=1 if prev is None else prev.seq + 1,
        prev=None if prev is None else prev.id,
        ts=ts,
        kind=kind,
        body=body,
    )


def _field_bytes(fields: Sequence[Any]) -> list[bytes]:
    return [encoding.encode(f) for f in fields]


def _wire(parts: Sequence[bytes]) -> bytes:
    """A msgpack array (fixarray) of already encoded items."""
    assert len(parts) < 16
    return bytes([0x90 | len(parts)]) + b"".join(parts)


def _forge(
    key: SigningKey,
    *,
    version: Any = VERSION,
    network: Any = NETWORK,
    author: Any = None,
    seq: Any = 1,
    prev: Any = None,
    ts: Any = TS0,
    kind: Any = "report",
    body: Any = None,
    body_hash: Any = None,
    signature: Any = None,
    extra: Sequence[Any] = (),
    replace: dict[int, bytes] | None = None,
) -> bytes:
    """Raw bytes of an event with any field as given, signed by ``key`` over the
    canonical encoding of the header unless ``signature`` is given. ``replace`` swaps
    the encoding of field ``i`` for the bytes given, after signing."""
    if body is None:
        body = encoding.encode({"title": "x", "v": 1})
    if author is None:
        author = key.public
    if body_hash is None:
        body_hash = signed.body_hash(body)
    header = [version, network, author, seq, prev, ts, kind, body_hash]
    if signature is None:
        signature = signed.sign_event(key, encoding.encode(header))
    parts = _field_bytes([*header, signature, body, *extra])
    for i, raw in (replace or {}).items():
        parts[i] = raw
    return _wire(parts)


def _payload(**fields: Any) -> bytes:
    return encoding.encode({"v": 1, **fields})


def _nested(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = [value]
    return value


def _sized(target: int, make: Any) -> bytes:
    """The event ``make(pad_length)`` whose encoding has exactly ``target`` bytes."""
    pad = target - 300
    while True:
        raw: bytes = make(pad)
        if len(raw) == target:
            return raw
        pad += target - len(raw)


def _filler(pad: int) -> bytes:
    return encoding.encode({"pad": bytes(pad), "v": 1})


def _feeds() -> tuple[list[tuple[str, str, Event, Event | None]], dict[str, Event]]:
    """(name, description, event as stored, the unredacted event or None) per author,
    in feed order; and every event by name."""
    a1 = _event(
        "A",
        None,
        network=NETWORK,
        ts=hlc.pack(T0),
        kind="report",
        body=_payload(
            title="Tenants' assembly in Boyle Heights",
            body="Forty people came.\nNext step: a letter to the landlord.",
        ),
    )
    a2 = _event(
        "A",
        a1,
        network=NETWORK,
        ts=hlc.pack(T0, 1),  # same millisecond as a1: the counter moves on
        kind="plan",
        body=_payload(
            title="Print leaflets",
            description="Two hundred copies, in English and Spanish.",
            owner="Marisol",
            due="2026-03-20",
            status="open",
        ),
    )
    a3 = _event(
        "A",
        a2,
        network=NETWORK,
        ts=hlc.pack(T0 + MINUTE),
        kind="report",
        body=_payload(
            title="Asamblea de inquilinos: ¿qué sigue?",
            body="Llegaron cuarenta personas.\nPróximo paso: una carta al dueño del edificio.",
        ),
    )
    a4 = _event(
        "A",
        a3,
        network=NETWORK,
        ts=hlc.pack(T0 + 2 * MINUTE),
        kind="poll",
        body=_payload(question="Meet on Saturday?", options=["yes", "no"]),
    )
    a5_full = _event(
        "A",
        a4,
        network=NETWORK,
        ts=hlc.pack(T0 + 3 * MINUTE),
        kind="report",
        body=_payload(title="Who came to the meeting", body="(names that were later erased)"),
    )
    a5 = strip_body(a5_full)

    b1 = _event(
        "B",
        None,
        network=NO_NETWORK,
        ts=hlc.pack(T0 - 24 * HOUR),
        kind="report",
        body=_payload(
            title="बैठक की रिपोर्ट",
            body="बीस लोग आए।\nअगली बैठक शनिवार को होगी।",
        ),
    )
    b2 = _event(
        "B",
        b1,
        network=NETWORK,
        ts=hlc.pack(T0 + 30_000),
        kind="plan",
        body=_payload(
            title="बैठक की तैयारी",
            owner="Priya",
            due="2026-03-14",
            status="doing",
        ),
    )

    c1 = _event(
        "C",
        None,
        network=NETWORK,
        ts=hlc.pack(T0 + 2 * HOUR),
        kind="report",
        body=_payload(
            title="Umbiko womhlangano",
            body="Kufike abantu abangamashumi amabili.\nUmhlangano olandelayo uzoba ngoMgqibelo.",
        ),
    )
    c2 = _event(
        "C",
        c1,
        network=NETWORK,
        ts=hlc.pack(T0 + 2 * HOUR + 1),
        kind=SEALED,
        body=hashlib.sha512(b"commune test vectors: opaque sealed bytes").digest(),
    )
    c3 = _event(
        "C",
        c2,
        network=NETWORK,
        ts=hlc.pack(T0 + 2 * HOUR + 2),
        kind="x.nested",
        body=encoding.encode({"tree": _nested(7), "v": 1}),  # 1 map + 7 arrays: depth 8
    )
    c4_raw = _sized(
        MAX_EVENT_SIZE,
        lambda pad: (
            _event(
                "C",
                c3,
                network=NETWORK,
                ts=hlc.pack(T0 + 2 * HOUR + 3),
                kind="x.filler",
                body=_filler(pad),
            ).raw
        ),
    )
    c4 = _event(
        "C",
        c3,
        network=NETWORK,
        ts=hlc.pack(T0 + 2 * HOUR + 3),
        kind="x.filler",
        body=encoding.decode(c4_raw)[9],
    )
    assert c4.raw == c4_raw

    feeds: list[tuple[str, str, Event, Event | None]] = [
        ("a1", "seq 1: a report, in a network", a1, None),
        ("a2", "seq 2: a plan; same millisecond as seq 1, counter 1", a2, None),
        ("a3", "a report in Spanish (non-ASCII text)", a3, None),
        ("a4", "a kind this version does not know ('poll'): valid, listed as unknown", a4, None),
        ("a5", "a redacted report: body erased with strip_body; same id", a5, a5_full),
        ("b1", "seq 1 written before joining a network: network is NO_NETWORK", b1, None),
        ("b2", "seq 2: the feed enters a network; a plan in Hindi", b2, None),
        ("c1", "a report in Zulu", c1, None),
        ("c2", "a sealed event: the body is opaque bytes, not decoded", c2, None),
        ("c3", "an unknown kind whose body nests exactly 8 levels deep", c3, None),
        ("c4", f"an event of exactly {MAX_EVENT_SIZE} bytes (the largest allowed)", c4, None),
    ]
    return feeds, {name: event for name, _, event, _ in feeds}


def _author_name(public: bytes) -> str:
    return next(name for name, key in KEYS.items() if key.public == public)


def _event_doc(name: str, description: str, event: Event, full: Event | None) -> dict[str, Any]:
    body = event.body if full is None else full.body
    assert body is not None
    payload: Any = None
    if event.kind != SEALED:
        decoded = encoding.decode(body)
        if all(not isinstance(v, bytes) for v in decoded.values()):
            payload = decoded
    doc: dict[str, Any] = {
        "name": name,
        "description": description,
        "author_name": _author_name(event.author),
        "fields": {
            "version": VERSION,
            "network": event.network.hex(),
            "author": event.author.hex(),
            "seq": event.seq,
            "prev": None if event.prev is None else event.prev.hex(),
            "ts": event.ts,
            "kind": event.kind,
            "body_hash": event.body_hash.hex(),
            "signature": event.signature.hex(),
            "body": None if event.body is None else event.body.hex(),
        },
        "ts_ms": hlc.millis(event.ts),
        "ts_counter": event.ts & 0xFFFF,
        "payload": payload,
        "header": event.header.hex(),
        "signing_input": (signed.EVENT_SIGNATURE + event.header).hex(),
        "id": event.id.hex(),
        "size": len(event.raw),
        "wire": event.raw.hex(),
    }
    if full is not None:
        doc["redacted"] = True
        doc["original_body"] = body.hex()
        doc["unredacted_wire"] = full.raw.hex()
    return doc


# --- invalid events -----------------------------------------------------------------


def _mixed_order_forgery() -> bytes:
    """An event by the author key A + T (T of order 8) whose signature, made with A's
    secret scalar, passes libsodium's own verification equation: only the subgroup
    check of §3.3 refuses it. Deterministic: the nonce is a hash and ts is stepped until
    the challenge is a multiple of 8, so that [k]T vanishes."""
    seed = SEEDS["A"]
    h = bytearray(hashlib.sha512(seed).digest()[:32])
    h[0] &= 248
    h[31] &= 127
    h[31] |= 64
    scalar = nacl.bindings.crypto_core_ed25519_scalar_reduce(bytes(h) + bytes(32))
    mixed = nacl.bindings.crypto_core_ed25519_add(KEYS["A"].public, ORDER_8_POINT)
    body = _payload(title="x")
    for step in range(1000):
        header = encoding.encode(
            [VERSION, NETWORK, mixed, 1, None, hlc.pack(T0, step), "report", signed.body_hash(body)]
        )
        message = signed.EVENT_SIGNATURE + header
        nonce = nacl.bindings.crypto_core_ed25519_scalar_reduce(
            hashlib.sha512(b"commune test vectors: nonce" + message).digest()
        )
        r_point = nacl.bindings.crypto_scalarmult_ed25519_base_noclamp(nonce)
        challenge = nacl.bindings.crypto_core_ed25519_scalar_reduce(
            hashlib.sha512(r_point + mixed + message).digest()
        )
        if int.from_bytes(challenge, "little") % 8:
            continue
        s = nacl.bindings.crypto_core_ed25519_scalar_add(
            nonce, nacl.bindings.crypto_core_ed25519_scalar_mul(challenge, scalar)
        )
        signature = r_point + s
        # libsodium's verification alone accepts it (raises if that ever changes)
        nacl.bindings.crypto_sign_open(signature + message, mixed)
        return _wire(_field_bytes([*encoding.decode(header), signature, body]))
    raise AssertionError("no step gave a challenge divisible by 8")


def _strip(raw: bytes) -> bytes:
    """The same event with its body erased (the header and signature unchanged)."""
    fields = encoding.decode(raw)
    return encoding.encode([*fields[:9], None])


def _invalid(events: dict[str, Event]) -> list[dict[str, Any]]:
    a = KEYS["A"]
    a1 = events["a1"]
    good = a1.raw
    items: list[tuple[str, str, str, bytes]] = []

    def add(name: str, code: str, description: str, raw: bytes) -> None:
        items.append((name, code, description, raw))

    # §2: canonical encoding of the envelope itself
    add("truncated-empty", "truncated", "§2: no bytes at all", b"")
    add("truncated", "truncated", "§2: a valid event without its last byte", good[:-1])
    add("trailing-bytes", "trailing-bytes", "§2: a valid event followed by 0x00", good + b"\x00")
    add(
        "non-minimal-int",
        "non-minimal-int",
        "§2: seq 1 written as uint8 (cc 01) instead of a positive fixint",
        _forge(a, replace={3: b"\xcc\x01"}),
    )
    add(
        "non-minimal-int-signed-form",
        "non-minimal-int",
        "§2: a non-negative ts written as int64 (d3) instead of uint64 (cf)",
        _forge(a, replace={5: b"\xd3" + TS0.to_bytes(8, "big")}),
    )
    add(
        "non-minimal-length-str",
        "non-minimal-length",
        "§2: kind 'report' written as str8 (d9 06) instead of a fixstr",
        _forge(a, replace={6: b"\xd9\x06report"}),
    )
    add(
        "non-minimal-length-bin",
        "non-minimal-length",
        "§2: the network written as bin16 (c5 00 20) instead of bin8",
        _forge(a, replace={1: b"\xc5\x00\x20" + NETWORK}),
    )
    add(
        "non-minimal-length-array",
        "non-minimal-length",
        "§2: the envelope's 10-element array written as array16 (dc 00 0a)",
        b"\xdc\x00\x0a" + good[1:],
    )
    add(
        "forbidden-type-float",
        "forbidden-type",
        "§2: ts written as a float64",
        _forge(a, replace={5: b"\xcb" + struct.pack(">d", float(TS0))}),
    )
    add(
        "forbidden-type-reserved",
        "forbidden-type",
        "§2: the reserved marker 0xc1 in place of prev",
        _forge(a, replace={4: b"\xc1"}),
    )
    add(
        "invalid-utf8",
        "invalid-utf8",
        "§2: kind is a fixstr holding bytes that are not UTF-8",
        _forge(a, replace={6: b"\xa6repor\xff"}),
    )
    # §3.4
    big = _sized(
        MAX_EVENT_SIZE + 1,
        lambda pad: _forge(a, kind="x.filler", body=_filler(pad)),
    )
    add("too-large", "too-large", f"§3.4: {MAX_EVENT_SIZE + 1} bytes, one too many", big)
    # §3.1
    add("unknown-version", "unknown-version", "§3.1: version 2", _forge(a, version=2))
    add(
        "unknown-version-11-fields",
        "unknown-version",
        "§3.1: version 2 with 11 fields: the version is checked before the field count",
        _forge(a, version=2, extra=[None]),
    )
    add(
        "shape-not-array",
        "bad-shape",
        "§3.1: a map instead of an array",
        encoding.encode({"v": 1}),
    )
    add("shape-empty-array", "bad-shape", "§3.1: an empty array", b"\x90")
    add(
        "shape-version-bool",
        "bad-shape",
        "§3.1: version is true, not an integer",
        _forge(a, version=True),
    )
    add(
        "shape-9-fields",
        "bad-shape",
        "§3.1: version 1 with 9 fields",
        _wire(_field_bytes(encoding.decode(good)[:9])),
    )
    add("shape-11-fields", "bad-shape", "§3.1: version 1 with 11 fields", _forge(a, extra=[None]))
    add(
        "shape-network-31",
        "bad-shape",
        "§3.2: network of 31 bytes",
        _forge(a, network=NETWORK[:31]),
    )
    add(
        "shape-author-text",
        "bad-shape",
        "§3.2: author as text",
        _forge(a, author="A" * 32, signature=bytes(64)),
    )
    add("shape-seq-bool", "bad-shape", "§3.2: seq is true", _forge(a, seq=True))
    add("shape-prev-short", "bad-shape", "§3.2: prev of 5 bytes", _forge(a, seq=2, prev=bytes(5)))
    add("shape-kind-bin", "bad-shape", "§3.2: kind as bytes", _forge(a, kind=b"report"))
    add(
        "shape-signature-63",
        "bad-shape",
        "§3.2: signature of 63 bytes",
        _forge(a, signature=bytes(63)),
    )
    add(
        "shape-body-int",
        "bad-shape",
        "§3.2: body is an integer",
        _forge(a, body=12, body_hash=bytes(32)),
    )
    add("field-seq-0", "bad-field", "§3.2: seq 0", _forge(a, seq=0))
    add("field-seq-2^63", "bad-field", "§3.2: seq 2^63", _forge(a, seq=2**63, prev=a1.id))
    add("field-seq-1-with-prev", "bad-field", "§3.2: seq 1 with a prev", _forge(a, prev=a1.id))
    add("field-seq-2-no-prev", "bad-field", "§3.2: seq 2 with prev nil", _forge(a, seq=2))
    add("field-ts-negative", "bad-field", "§3.2: ts -1", _forge(a, ts=-1))
    add("field-kind-upper", "bad-field", "§3.2: kind 'Report'", _forge(a, kind="Report"))
    add("field-kind-empty", "bad-field", "§3.2: kind ''", _forge(a, kind=""))
    add("field-kind-65", "bad-field", "§3.2: kind of 65 characters", _forge(a, kind="a" * 65))
    add(
        "field-kind-digit",
        "bad-field",
        "§3.2: kind starting with a digit",
        _forge(a, kind="1report"),
    )
    add("field-kind-non-ascii", "bad-field", "§3.2: kind 'répo'", _forge(a, kind="répo"))
    # §3.3
    trivial = IDENTITY_POINT + bytes(32)
    add(
        "author-identity-point",
        "bad-author",
        "§3.3: author is the identity point (small order); signature R = identity, S = 0",
        _forge(a, author=IDENTITY_POINT, signature=trivial),
    )
    add(
        "author-order-8",
        "bad-author",
        "§3.3: author is a point of order 8",
        _forge(a, author=ORDER_8_POINT, signature=trivial),
    )
    add(
        "author-non-canonical",
        "bad-author",
        "§3.3: author encodes y = p (not reduced mod p)",
        _forge(a, author=bytes.fromhex("ed" + "ff" * 30 + "7f"), signature=trivial),
    )
    add(
        "author-off-curve",
        "bad-author",
        "§3.3: author y = 2: no x satisfies the curve equation",
        _forge(a, author=(2).to_bytes(32, "little"), signature=trivial),
    )
    mixed_raw = _mixed_order_forgery()
    add(
        "author-mixed-order",
        "bad-author",
        "§3.3: author is A + T with T of order 8 (on the curve, not in the prime-order "
        "subgroup). The signature passes libsodium's verification equation: only the "
        "subgroup check refuses it",
        mixed_raw,
    )
    # §3.5
    add(
        "bad-body-hash",
        "bad-body-hash",
        "§3.5: the body was changed after signing",
        _forge(a, body=_payload(title="changed"), body_hash=signed.body_hash(_payload(title="x"))),
    )
    add(
        "missing-body-membership",
        "missing-body",
        "§3.5: a member.revoke event whose body was erased (membership events always carry it)",
        _strip(
            _forge(
                a,
                kind="member.revoke",
                body=encoding.encode({"cutoff": 0, "node": KEYS["B"].public, "v": 1}),
            )
        ),
    )
    # §3.6
    sig = bytearray(a1.signature)
    sig[5] ^= 1
    add(
        "signature-bit-flipped",
        "bad-signature",
        "§3.6: a1 with one bit of its signature flipped",
        _wire(_field_bytes([*encoding.decode(good)[:8], bytes(sig), a1.body])),
    )
    add(
        "signature-other-key",
        "bad-signature",
        "§3.6: author A, signed by B",
        _forge(KEYS["B"], author=a.public),
    )
    s = (
        int.from_bytes(a1.signature[32:], "little")
        + 2**252
        + 27742317777372353535851937790883648493
    )
    add(
        "signature-s-not-reduced",
        "bad-signature",
        "§3.6: a1's signature with S + L in place of S (non-canonical, S >= L)",
        _wire(
            _field_bytes(
                [*encoding.decode(good)[:8], a1.signature[:32] + s.to_bytes(32, "little"), a1.body]
            )
        ),
    )
    header = encoding.encode(encoding.decode(good)[:8])
    add(
        "signature-no-context",
        "bad-signature",
        "§3.6: signed over the header without the context string",
        _wire(_field_bytes([*encoding.decode(good)[:8], a.sign(header), a1.body])),
    )
    add(
        "signature-over-id-context",
        "bad-signature",
        "§3.6: signed with the event-id context instead of the event-signature context",
        _wire(
            _field_bytes([*encoding.decode(good)[:8], a.sign(signed.EVENT_ID + header), a1.body])
        ),
    )
    return [
        {
            "name": name,
            "code": code,
            "description": description,
            "size": len(raw),
            "wire": raw.hex(),
        }
        for name, code, description, raw in items
    ]


# --- valid events whose bodies no reader can use (§3.5, §5.4) -------------------------


def _unreadable(events: dict[str, Event]) -> list[dict[str, Any]]:
    """Valid events (the body matches its hash and the signature verifies) whose body is
    not one canonical map. Validity cannot depend on the body, which a relay may erase;
    readers treat such an event as unreadable. ``code`` is what decoding the body gives."""
    a = KEYS["A"]
    items: list[tuple[str, str, str, bytes]] = []

    def add(name: str, code: str, description: str, raw: bytes) -> None:
        items.append((name, code, description, raw))

    add(
        "body-unsorted-keys",
        "unsorted-keys",
        "§3.5/§2: body map with key 'v' before 'title'",
        _forge(a, body=b"\x82\xa1v\x01\xa5title\xa1x"),
    )
    add(
        "body-duplicate-key",
        "duplicate-key",
        "§3.5/§2: body map with the key 'title' twice",
        _forge(a, body=b"\x83\xa5title\xa1x\xa5title\xa1y\xa1v\x01"),
    )
    add(
        "body-non-text-key",
        "forbidden-type",
        "§3.5/§2: body map with an integer key",
        _forge(a, body=b"\x82\x01\xa1x\xa1v\x01"),
    )
    add(
        "body-float",
        "forbidden-type",
        "§3.5/§2: body map whose 'v' is the float64 1.0",
        _forge(a, body=b"\x82\xa5title\xa1x\xa1v\xcb" + struct.pack(">d", 1.0)),
    )
    add(
        "body-ext",
        "forbidden-type",
        "§3.5/§2: body map holding an extension type (fixext1)",
        _forge(a, body=b"\x82\xa5title\xd4\x01\x00\xa1v\x01"),
    )
    add(
        "body-too-deep",
        "too-deep",
        "§3.5/§2: body nesting 9 levels (a map, then 8 arrays)",
        _forge(a, body=b"\x82\xa4tree" + b"\x91" * 8 + b"\x01\xa1v\x01"),
    )
    add(
        "shape-body-not-map",
        "not-a-map",
        "§3.5: the body of a non-sealed event is an array, not a map",
        _forge(a, body=encoding.encode([1, 2])),
    )
    return [
        {"name": name, "code": code, "description": description, "wire": raw.hex()}
        for name, code, description, raw in items
    ]


# --- chain rules (§4) ---------------------------------------------------------------


def _chain_cases(events: dict[str, Event]) -> list[dict[str, Any]]:
    """Events valid on their own that may not follow the given head."""
    a, b = KEYS["A"], KEYS["B"]
    a1, a5, b2 = events["a1"], events["a5"], events["b2"]
    cases: list[tuple[str, str | None, str, str, bytes]] = [
        ("first-not-seq-1", None, "bad-seq", "§4.1: an empty feed, then seq 2", events["a2"].raw),
        ("gap", "a1", "bad-seq", "§4.1: seq 3 right after seq 1", events["a3"].raw),
        (
            "prev-not-previous-id",
            "a1",
            "bad-prev",
            "§4.2: seq 2 whose prev is another event's id (b1)",
            _forge(a, seq=2, prev=events["b1"].id, ts=a1.ts + 1),
        ),
        (
            "ts-equal",
            "a1",
            "bad-timestamp",
            "§4.3: seq 2 with the same ts as seq 1",
            _forge(a, seq=2, prev=a1.id, ts=a1.ts),
        ),
        (
            "ts-backwards",
            "a1",
            "bad-timestamp",
            "§4.3: seq 2 with a ts before seq 1's",
            _forge(a, seq=2, prev=a1.id, ts=a1.ts - 1),
        ),
        (
            "leaves-network",
            "b2",
            "wrong-network",
            "§4.4: after entering a network, back to NO_NETWORK",
            _forge(b, network=NO_NETWORK, seq=3, prev=b2.id, ts=b2.ts + 1),
        ),
        (
            "moves-network",
            "a5",
            "wrong-network",
            "§4.4: a feed in one network, then an event in another",
            _forge(a, network=OTHER_NETWORK, seq=6, prev=a5.id, ts=a5.ts + 1),
        ),
    ]
    return [
        {"name": name, "head": head, "code": code, "description": description, "wire": raw.hex()}
        for name, head, code, description, raw in cases
    ]


def _fork(events: dict[str, Event]) -> dict[str, Any]:
    a1, a2 = events["a1"], events["a2"]
    other = create_event(
        KEYS["A"],
        network=NETWORK,
        seq=2,
        prev=a1.id,
        ts=a2.ts + 1,
        kind="plan",
        body=_payload(title="Print posters", status="open"),
    )
    return {
        "description": "§4: a second valid event at A's seq 2: with a2, evidence of a fork",
        "of": "a2",
        "id": other.id.hex(),
        "wire": other.raw.hex(),
    }


# --- the node card (§6) -------------------------------------------------------------


def _card() -> tuple[dict[str, Any], list[dict[str, Any]]]:
    keys = NodeKeys(KEYS["B"], CARD_SEALING_PRIVATE)
    card = Card(
        "Bay Area / भारत",
        keys.node_id,
        keys.sealing_public,
        ("https://bayarea.example:8443", "http://commune7xq.example.onion:8443"),
    ).sign(keys.signing)
    signed_part = encoding.encode(
        [1, card.name, card.node_id, card.sealing_key, card.tls, list(card.addresses)]
    )
    data = encoding.encode([signed_part, card.signature])
    text = card.to_text()
    assert text == armor(CARD_PREFIX, data)
    body = text.split(":", 1)[1]
    wrapped = "\n".join(body[i : i + 48] for i in range(0, len(body), 48))
    doc = {
        "description": "§6.1: the node card of author B",
        "seed": SEEDS["B"].hex(),
        "sealing_private": CARD_SEALING_PRIVATE.hex(),
        "name": card.name,
        "node_id": card.node_id.hex(),
        "sealing_key": card.sealing_key.hex(),
        "tls": card.tls.hex(),
        "addresses": list(card.addresses),
        "signed_part": signed_part.hex(),
        "signing_input": (signed.CARD_SIGNATURE + signed_part).hex(),
        "signature": card.signature.hex(),
        "data": data.hex(),
        "checksum": signed.checksum(CARD_PREFIX.encode() + data).hex(),
        "text": text,
        "equivalent_texts": [
            text.upper(),
            f"  {CARD_PREFIX}:\n{wrapped}\n",
        ],
    }
    middle = len(CARD_PREFIX) + 1 + len(body) // 2
    typo = text[:middle] + ("a" if text[middle] != "a" else "b") + text[middle + 1 :]
    altered_part = signed_part.replace(b"Bay Area", b"Bay Aria")
    invalid = [
        ("wrong-prefix", "another prefix", text.replace(CARD_PREFIX, "commune-invite", 1)),
        ("typo", "one character changed in the middle", typo),
        ("cut-short", "the last 8 characters missing", text[:-8]),
        ("padding", "base32 padding '=' is not used", text + "======"),
        (
            "stray-character",
            "'1' is not in the base32 alphabet",
            text[:middle] + "1" + text[middle + 1 :],
        ),
        (
            "altered",
            "the name changed and the checksum made again: the signature does not verify",
            armor(CARD_PREFIX, encoding.encode([altered_part, card.signature])),
        ),
    ]
    return doc, [
        {"name": name, "code": "bad-card", "description": description, "text": t}
        for name, description, t in invalid
    ]


# --- the file -----------------------------------------------------------------------


def _context(value: bytes) -> dict[str, str]:
    return {"text": value.decode("ascii").replace("\x00", "\\0"), "hex": value.hex()}


def build() -> dict[str, Any]:
    feeds, events = _feeds()
    card, invalid_cards = _card()
    return {
        "about": (
            "Golden test vectors for docs/PROTOCOL.md, written by tests/vectors/generate.py "
            "from fixed seeds. Hex is lower case. ts is a 64-bit integer and may exceed "
            "2^53: read it as ts_ms * 65536 + ts_counter if your JSON numbers are doubles."
        ),
        "contexts": {
            "event_signature": _context(signed.EVENT_SIGNATURE),
            "event_id": _context(signed.EVENT_ID),
            "event_body": _context(signed.EVENT_BODY),
            "card_signature": _context(signed.CARD_SIGNATURE),
            "checksum": _context(signed.CHECKSUM),
            "state_hash": _context(signed.STATE_HASH),
        },
        "constants": {
            "version": VERSION,
            "max_event_size": MAX_EVENT_SIZE,
            "max_depth": encoding.MAX_DEPTH,
            "no_network": NO_NETWORK.hex(),
            "sealed_kind": SEALED,
        },
        "network": {"label": NETWORK_LABEL.decode(), "id": NETWORK.hex()},
        "authors": [
            {"name": name, "seed": seed.hex(), "public": KEYS[name].public.hex()}
            for name, seed in SEEDS.items()
        ],
        "events": [_event_doc(*feed) for feed in feeds],
        "fork": _fork(events),
        "chain_invalid": _chain_cases(events),
        "invalid": _invalid(events),
        "unreadable_bodies": _unreadable(events),
        "card": card,
        "invalid_cards": invalid_cards,
    }


def render() -> bytes:
    return (json.dumps(build(), indent=1, ensure_ascii=False) + "\n").encode()


def main(argv: Sequence[str]) -> None:
    out = Path(argv[0]) if argv else OUT
    out.write_bytes(render())


if __name__ == "__main__":
    main(sys.argv[1:])
