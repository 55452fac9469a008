"""Sealed events (docs/PROTOCOL.md §11): only the recipients read the kind, the payload
and who the recipients are; everyone else sees the author, the time, a padded size, the
number of recipients and the suite."""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crypto import seal as sealing
from crypto.errors import BadPublicKey, CryptoError
from crypto.identity import NodeKeys
from crypto.seal import MLKEM768_X25519, X25519, SealingSecret
from crypto.sign import SigningKey
from protocol import encoding, sealed, signed
from protocol.envelope import MAX_EVENT_SIZE, SEALED, create_event, decode_event
from protocol.errors import BadPayload, EventTooLarge
from protocol.sealed import (
    MAX_RECIPIENTS,
    MAX_SEALED_BODY,
    AuthorNotRecipient,
    BadSealed,
    CannotSeal,
    NoRecipients,
    SealedTooLarge,
    TooManyRecipients,
    UnsupportedSealed,
    open_sealed,
    read_header,
    recipients_count,
    seal,
)

NETWORK = hashlib.sha256(b"test network").digest()
OTHER_NETWORK = hashlib.sha256(b"another network").digest()
CONTACT = {"v": 1, "name": "Nomvula Dlamini", "phone": "+27 82 555 0199", "notes": "prefers Zulu"}
# The most recipients whose keys fit in one event with the post-quantum suite (§11.7).
PQ_MOST = 53


class Member:
    """A node as sealing sees it: node id, sealing secret, public keys."""

    def __init__(self, n: int) -> None:
        self.keys = NodeKeys(SigningKey(n.to_bytes(2, "big") * 16), bytes([n % 251 + 1]) * 32)
        self.node_id = self.keys.node_id
        self.secret = self.keys.sealing_secret()

    def public(self, suite: str) -> bytes:
        return self.secret.public(suite)


_MEMBERS: dict[int, Member] = {}


def member(n: int) -> Member:
    if n not in _MEMBERS:
        _MEMBERS[n] = Member(n)
    return _MEMBERS[n]


def members(count: int) -> list[Member]:
    return [member(n) for n in range(1, count + 1)]


def to(group: list[Member], suite: str) -> dict[bytes, bytes]:
    return {m.node_id: m.public(suite) for m in group}


def seal_to(group: list[Member], suite: str = X25519, payload: Any = None, **kw: Any) -> bytes:
    args: dict[str, Any] = {
        "suite": suite,
        "kind": "contact",
        "payload": CONTACT if payload is None else payload,
        "recipients": to(group, suite),
        "author": group[0].node_id,
        "network": NETWORK,
    }
    return seal(**{**args, **kw})


def open_as(
    body: bytes, reader: Member, author: Member, network: bytes = NETWORK
) -> sealed.Opened | None:
    return open_sealed(
        body, author=author.node_id, network=network, node_id=reader.node_id, private=reader.secret
    )


def craft(
    inner: Any,
    recipients: list[Member],
    *,
    suite: str = X25519,
    author: Member | None = None,
    network: bytes = NETWORK,
    key_author: Member | None = None,
    key_network: bytes | None = None,
    raw_inner: bytes | None = None,
) -> bytes:
    """A body made by hand, to break one rule of what only recipients can check."""
    author = author or recipients[0]
    key, nonce = bytes(range(32)), bytes(12)
    plain = raw_inner if raw_inner is not None else encoding.encode(inner)
    box = sealing.box(key, nonce, plain, signed.seal_box_aad(network, author.node_id))
    info = signed.seal_key_info(key_network or network, (key_author or author).node_id)
    keys = sorted(sealing.seal_key(suite, key, m.public(suite), info) for m in recipients)
    return encoding.encode({"v": 1, "suite": suite, "keys": keys, "nonce": nonce, "box": box})


def padded(kind: str, payload: dict[str, Any], ids: list[bytes]) -> list[Any]:
    size = len(encoding.encode([kind, payload, ids, b""]))
    return [kind, payload, ids, bytes(-size % 256)]


# --- round trips ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("suite", "count"),
    [
        (X25519, 1),
        (X25519, 3),
        (X25519, 64),
        (MLKEM768_X25519, 1),
        (MLKEM768_X25519, 3),
        (MLKEM768_X25519, PQ_MOST),
    ],
)
def test_every_recipient_opens_what_was_sealed(suite: str, count: int) -> None:
    group = members(count)
    body = seal_to(group, suite)
    ids = tuple(sorted(m.node_id for m in group))
    for reader in group:
        opened = open_as(body, reader, group[0])
        assert opened == sealed.Opened("contact", CONTACT, ids)
    assert recipients_count(body) == count
    assert read_header(body).suite == suite


@pytest.mark.parametrize("suite", sealed.SUITES)
def test_a_non_recipient_gets_none(suite: str) -> None:
    group = members(3)
    body = seal_to(group, suite)
    assert open_as(body, member(99), group[0]) is None


def test_the_post_quantum_suite_fits_fewer_recipients_in_an_event() -> None:
    """Each hybrid key is 1168 bytes: 64 of them do not fit in 64 KiB (§11.7)."""
    with pytest.raises(SealedTooLarge, match="fewer recipients") as e:
        seal_to(members(64), MLKEM768_X25519, payload={})
    assert e.value.code == "sealed-too-large"
    with pytest.raises(SealedTooLarge):
        seal_to(members(PQ_MOST + 1), MLKEM768_X25519, payload={})
    assert len(seal_to(members(PQ_MOST), MLKEM768_X25519, payload={})) <= MAX_SEALED_BODY


def test_a_long_payload_is_refused_before_the_event_would_be() -> None:
    with pytest.raises(SealedTooLarge):
        seal_to(members(1), payload={"v": 1, "notes": "x" * MAX_SEALED_BODY})


def test_the_largest_sealed_body_fits_in_the_largest_envelope() -> None:
    key = SigningKey(bytes(32))
    top = {"network": NETWORK, "seq": 2**63 - 1, "prev": bytes(32), "ts": 2**64 - 1}
    event = create_event(key, kind=SEALED, body=bytes(MAX_SEALED_BODY), **top)
    assert len(event.raw) == MAX_EVENT_SIZE
    with pytest.raises(EventTooLarge):
        create_event(key, kind=SEALED, body=bytes(MAX_SEALED_BODY + 1), **top)


def test_a_sealed_event_travels_and_opens() -> None:
    group = members(2)
    body = seal_to(group, kind="contact.update", payload={"v": 1, "phone": "+27 11"})
    event = create_event(
        group[0].keys.signing,
        network=NETWORK,
        seq=1,
        prev=None,
        ts=1 << 16,
        kind=SEALED,
        body=body,
    )
    received = decode_event(event.raw)
    assert received.body is not None
    opened = open_sealed(
        received.body,
        author=received.author,
        network=received.network,
        node_id=group[1].node_id,
        private=group[1].secret,
    )
    assert opened is not None
    assert (opened.kind, opened.payload) == ("contact.update", {"v": 1, "phone": "+27 11"})


@settings(max_examples=60, deadline=None)
@given(
    payload=st.dictionaries(
        st.text(max_size=8),
        st.one_of(st.text(max_size=300), st.integers(0, 2**64 - 1)),
        max_size=5,
    ),
    kind=st.from_regex(r"[a-z][a-z0-9._-]{0,20}", fullmatch=True).filter(
        lambda k: k not in sealed.NEVER_SEALED
    ),
)
def test_any_payload_round_trips_in_steps_of_256(payload: dict[str, Any], kind: str) -> None:
    group = members(2)
    body = seal_to(group, payload=payload, kind=kind)
    header = read_header(body)
    assert header.padded_size % 256 == 0
    assert open_as(body, group[1], group[0]) == sealed.Opened(
        kind, payload, tuple(sorted(m.node_id for m in group))
    )


# --- what outsiders learn -------------------------------------------------------------


@pytest.mark.parametrize("suite", sealed.SUITES)
def test_the_body_holds_no_plaintext(suite: str) -> None:
    group = members(3)
    body = seal_to(group, suite)
    secrets = [b"contact", b"Nomvula", b"Dlamini", b"555 0199", b"Zulu", b"name", b"phone"]
    for text in secrets:
        assert text not in body
    for m in group:
        assert m.node_id not in body
        assert m.public(X25519) not in body
        assert m.public(suite)[:64] not in body


def test_padding_hides_small_differences_in_size() -> None:
    group = members(2)
    short = seal_to(group, payload={"v": 1, "name": "Al"})
    longer = seal_to(group, payload={"v": 1, "name": "Alexandra Nkosi-Mthembu", "place": "Durban"})
    assert len(short) == len(longer)
    assert read_header(short).padded_size == read_header(longer).padded_size == 256
    a_lot_longer = seal_to(group, payload={"v": 1, "notes": "x" * 300})
    assert read_header(a_lot_longer).padded_size == 512


@pytest.mark.parametrize("suite", sealed.SUITES)
def test_the_keys_are_sorted_so_their_order_says_nothing(suite: str) -> None:
    body = seal_to(members(5), suite)
    keys = encoding.decode(body)["keys"]
    assert keys == sorted(keys)
    assert len(set(keys)) == 5


def test_every_body_is_different_even_for_the_same_event() -> None:
    group = members(2)
    fixed = {"content_key": bytes(32), "nonce": bytes(12)}
    assert seal_to(group, **fixed) != seal_to(group, **fixed)  # HPKE's ephemeral keys


# --- tampering --------------------------------------------------------------------------


def _flip(body: bytes, at: int) -> bytes:
    return body[:at] + bytes([body[at] ^ 0x01]) + body[at + 1 :]


@pytest.mark.parametrize("suite", sealed.SUITES)
def test_any_changed_byte_fails_to_open(suite: str) -> None:
    group = members(1)
    body = seal_to(group, suite, payload={"v": 1, "name": "Ana"})
    for at in range(len(body)):
        try:
            opened = open_as(_flip(body, at), group[0], group[0])
        except BadSealed:
            continue
        assert opened is None, f"byte {at} changed and the body still opened"


def test_a_changed_box_fails_for_every_recipient() -> None:
    group = members(3)
    body = seal_to(group)
    box = read_header(body).box
    start = body.index(box)
    for at in range(start, start + len(box), 7):
        for reader in group:
            with pytest.raises(BadSealed, match="does not open"):
                open_as(_flip(body, at), reader, group[0])


def test_a_changed_key_fails_for_its_recipient_only() -> None:
    group = members(3)
    body = seal_to(group)
    keys = read_header(body).keys
    mine = next(k for k in keys if sealing.open_key(X25519, k, group[1].secret, _info()))
    start = body.index(mine)
    for at in range(start, start + len(mine)):
        changed = _flip(body, at)
        if not _sorted_keys(changed):  # the change moved the key out of order
            with pytest.raises(BadSealed, match="not sorted"):
                open_as(changed, group[1], group[0])
            continue
        assert open_as(changed, group[1], group[0]) is None
        assert open_as(changed, group[2], group[0]) is not None


def _sorted_keys(body: bytes) -> bool:
    keys = encoding.decode(body)["keys"]
    return bool(keys == sorted(keys))


def _info(author: Member | None = None) -> bytes:
    return signed.seal_key_info(NETWORK, (author or member(1)).node_id)


@pytest.mark.parametrize("suite", sealed.SUITES)
def test_another_author_or_network_does_not_open(suite: str) -> None:
    group = members(2)
    body = seal_to(group, suite)
    assert open_as(body, group[1], group[1]) is None
    assert open_as(body, group[1], group[0], network=OTHER_NETWORK) is None


def test_the_box_is_bound_to_author_and_network() -> None:
    """Keys rewrapped for another author or network open, and the box then does not."""
    group = members(2)
    inner = padded("contact", CONTACT, sorted(m.node_id for m in group))
    moved = craft(inner, group, key_author=group[1])
    with pytest.raises(BadSealed, match="another author or network"):
        open_as(moved, group[1], group[1])
    moved = craft(inner, group, key_network=OTHER_NETWORK)
    with pytest.raises(BadSealed, match="another author or network"):
        open_as(moved, group[1], group[0], network=OTHER_NETWORK)
    assert open_as(craft(inner, group), group[1], group[0]) is not None


# --- refusals when sealing --------------------------------------------------------------


def test_refusals() -> None:
    group = members(3)
    with pytest.raises(NoRecipients) as no:
        seal_to(group, recipients={})
    assert no.value.code == "no-recipients"
    with pytest.raises(TooManyRecipients, match="at most 64") as many:
        seal_to(members(MAX_RECIPIENTS + 1))
    assert many.value.code == "too-many-recipients"
    with pytest.raises(AuthorNotRecipient) as absent:
        seal_to(group, author=member(99).node_id)
    assert absent.value.code == "author-not-recipient"
    for payload in (["a", "list"], "text", 5):
        with pytest.raises(BadPayload, match="is a map"):
            seal_to(group, payload=payload)


@pytest.mark.parametrize("kind", [SEALED, "member.admit", "network", "redact", "Contact", ""])
def test_some_kinds_are_never_sealed(kind: str) -> None:
    with pytest.raises(CannotSeal) as e:
        seal_to(members(1), kind=kind)
    assert e.value.code == "cannot-seal"


def test_bad_recipients_and_suites_are_refused() -> None:
    group = members(2)
    with pytest.raises(sealing.UnknownSuite, match="mlkem1024"):
        seal_to(group, suite="mlkem1024")
    with pytest.raises(CannotSeal, match="32 bytes"):
        seal_to(group, recipients={b"short": group[0].public(X25519)}, author=b"short")
    with pytest.raises(BadPublicKey, match="32 bytes"):
        seal_to(group, recipients={group[0].node_id: bytes(31)})
    with pytest.raises(BadPublicKey, match="not usable"):  # a small-order X25519 point
        seal_to(group, recipients={group[0].node_id: bytes(32)})
    with pytest.raises(BadPublicKey, match="1216 bytes"):  # a classic key for the PQ suite
        seal_to(group, MLKEM768_X25519, recipients={group[0].node_id: group[0].public(X25519)})


# --- malformed bodies -------------------------------------------------------------------


def _body(**fields: Any) -> bytes:
    good = encoding.decode(seal_to(members(1)))
    return encoding.encode({**good, **fields})


def test_a_later_version_is_refused_clearly() -> None:
    with pytest.raises(UnsupportedSealed, match="version 2; this program reads version 1") as e:
        read_header(encoding.encode({"v": 2, "anything": b"new"}))
    assert e.value.code == "unsupported-sealed"
    assert isinstance(e.value, BadSealed)
    with pytest.raises(UnsupportedSealed):
        open_as(_body(v=2), member(1), member(1))


def test_an_unknown_suite_is_refused_clearly() -> None:
    with pytest.raises(UnsupportedSealed, match="'kyber512', which this program does not know"):
        open_as(_body(suite="kyber512"), member(1), member(1))


@pytest.mark.parametrize(
    ("body", "why"),
    [
        (b"", "not canonical"),
        (b"\xc1", "not canonical"),
        (encoding.encode([1]), "not a map"),
        (encoding.encode({"v": True}), "'v' is not an integer"),
        (encoding.encode({"v": 1}), "not exactly"),
    ],
)
def test_a_broken_outer_form_is_bad_sealed(body: bytes, why: str) -> None:
    with pytest.raises(BadSealed, match=why) as e:
        read_header(body)
    assert e.value.code == "bad-sealed"


@pytest.mark.parametrize(
    ("fields", "why"),
    [
        ({"extra": 1}, "not exactly"),
        ({"suite": b"x25519"}, "'suite' is not text"),
        ({"keys": []}, "1 to 64"),
        ({"keys": b"k"}, "1 to 64"),
        ({"keys": [bytes(80)] * 65}, "1 to 64"),
        ({"keys": [bytes(79)]}, "not 80 bytes"),
        ({"keys": [bytes([1]) * 80, bytes(80)]}, "not sorted"),
        ({"keys": [bytes(80), bytes(80)]}, "not sorted"),
        ({"nonce": bytes(24)}, "'nonce'"),
        ({"box": bytes(256)}, "'box'"),
        ({"box": bytes(16)}, "'box'"),
        ({"box": "text"}, "'box'"),
    ],
)
def test_a_broken_field_is_bad_sealed(fields: dict[str, Any], why: str) -> None:
    with pytest.raises(BadSealed, match=why):
        open_as(_body(**fields), member(1), member(1))


def test_trailing_bytes_are_not_canonical() -> None:
    body = seal_to(members(1))
    with pytest.raises(BadSealed, match="not canonical"):
        read_header(body + b"\x00")


def test_what_a_key_reveals_is_checked() -> None:
    """Once its key opens, a recipient checks the content; a bad one is bad-sealed."""
    group = members(2)
    ids = sorted(m.node_id for m in group)
    five: list[Any] = ["contact", {}, ids, b"", b""]
    five[4] = bytes(-len(encoding.encode(five)) % 256)
    a_map = {"kind": "contact", "pad": b""}
    a_map["pad"] = bytes(-len(encoding.encode(a_map)) % 256)
    cases: list[tuple[Any, str]] = [
        (padded(SEALED, {}, ids), "never sealed"),
        (padded("member.revoke", {}, ids), "never sealed"),
        (padded("Bad Kind", {}, ids), "is not 1 to 64"),
        (padded("contact", [], ids), "payload is not a map"),
        (padded("contact", {}, ids[:1]), "one 32-byte node id per key"),
        (padded("contact", {}, [*ids, bytes(32)]), "one 32-byte node id per key"),
        (padded("contact", {}, ids[::-1]), "recipients are not sorted"),
        (padded("contact", {}, [ids[0], ids[0]]), "recipients are not sorted"),
        (five, "not an array of 4"),
        (a_map, "not an array of 4"),
    ]
    for inner, why in cases:
        for reader in group:
            with pytest.raises(BadSealed, match=why):
                open_as(craft(inner, group), reader, group[0])


def test_the_author_and_reader_must_be_listed() -> None:
    group = members(3)
    listed = sorted([group[1].node_id, group[2].node_id])
    with pytest.raises(BadSealed, match="author is not among"):
        open_as(
            craft(padded("contact", {}, listed), group[1:], author=group[0]), group[1], group[0]
        )
    hidden = sorted([group[0].node_id, group[1].node_id, member(99).node_id])
    with pytest.raises(BadSealed, match="not a recipient"):
        open_as(craft(padded("contact", {}, hidden), group), group[2], group[0])


def test_the_padding_is_zero_bytes() -> None:
    group = members(1)
    inner = padded("contact", {}, [group[0].node_id])
    inner[3] = b"\x01" + inner[3][1:]
    with pytest.raises(BadSealed, match="padding"):
        open_as(craft(inner, group), group[0], group[0])


def test_inner_that_is_not_canonical_is_bad_sealed() -> None:
    group = members(1)
    with pytest.raises(BadSealed, match="content is not canonical"):
        open_as(craft(None, group, raw_inner=b"\xc1" * 256), group[0], group[0])


# --- the crypto layer -------------------------------------------------------------------


def test_the_hybrid_key_is_derived_from_the_sealing_secret() -> None:
    secret = bytes(range(32))
    one, two = SealingSecret.from_secret(secret), SealingSecret.from_secret(secret)
    public = one.public(MLKEM768_X25519)
    assert public == two.public(MLKEM768_X25519)
    assert len(public) == 1216 == sealing.public_key_size(MLKEM768_X25519)
    # its X25519 half is its own key, not the classic sealing key
    assert public[1184:] != one.public(X25519)
    # fixed: changing the derivation (docs/PROTOCOL.md §11.2) changes every node's key
    assert hashlib.sha256(public).hexdigest() == PQ_PUBLIC_SHA256
    keys = NodeKeys(SigningKey(bytes(32)), secret)
    assert keys.pq_sealing_public == public
    assert repr(one) == "SealingSecret(<secret>)"


PQ_PUBLIC_SHA256 = "180fdd69e2747817f79b51176f3cad7e269d54b9842d67c160c503de20e57e1e"


def test_the_derivation_is_hkdf_then_x_wing() -> None:
    """§11.2 written out with the standard library's HMAC (RFC 5869)."""
    secret = bytes(range(32))
    prk = hmac.new(bytes(32), secret, hashlib.sha256).digest()
    seed = hmac.new(prk, sealing.PQ_SEALING_KEY + b"\x01", hashlib.sha256).digest()
    _, public = sealing.hybrid_key_from_seed(seed)
    assert public == SealingSecret.from_secret(secret).public(MLKEM768_X25519)


def test_the_expansion_is_x_wings() -> None:
    """draft-connolly-cfrg-xwing-kem-08, Appendix C, first vector: its private key gives
    its 1216-byte public key (here its SHA-256)."""
    seed = bytes.fromhex("7f9c2ba4e88f827d616045507605853ed73b8093f6efbc88eb1a6eacfa66ef26")
    _, public = sealing.hybrid_key_from_seed(seed)
    assert public.hex().startswith("e2236b35a8c24b39b10aa1323a96a919")
    assert public.hex().endswith("ba32d9abac8cd049040ef6534")
    digest = "2e816deebcd76c5c80d0cd2d174478871658e8e2ff42bc9d4a6e486372e856bb"
    assert hashlib.sha256(public).hexdigest() == digest
    with pytest.raises(CryptoError, match="32 bytes"):
        sealing.hybrid_key_from_seed(seed[:31])


def test_hybrid_public_keys_are_checked() -> None:
    good = member(1).public(MLKEM768_X25519)
    assert sealing.hybrid_public_key(good) is not None
    with pytest.raises(BadPublicKey, match=r"1216 bytes .* not 1215"):
        sealing.hybrid_public_key(good[:-1])
    with pytest.raises(BadPublicKey, match="ML-KEM-768 half"):
        sealing.hybrid_public_key(b"\xff" * 1184 + good[1184:])


@pytest.mark.parametrize("suite", sealing.SUITES)
def test_open_key_never_raises_for_a_key_that_is_not_ours(suite: str) -> None:
    size = sealing.sealed_key_size(suite)
    mine = sealing.seal_key(suite, bytes(32), member(1).public(suite), b"info")
    assert sealing.open_key(suite, mine, member(1).secret, b"info") == bytes(32)
    assert sealing.open_key(suite, mine, member(2).secret, b"info") is None
    assert sealing.open_key(suite, mine, member(1).secret, b"other") is None
    for blob in (b"", bytes(size), b"\xff" * size, mine[:-1], mine + b"\x00"):
        assert sealing.open_key(suite, blob, member(1).secret, b"info") is None


def test_box_and_unbox() -> None:
    key, nonce = sealing.random_key(), sealing.random_nonce()
    assert (len(key), len(nonce)) == (32, 12)
    boxed = sealing.box(key, nonce, b"inner", b"aad")
    assert sealing.unbox(key, nonce, boxed, b"aad") == b"inner"
    for wrong in [
        (key, nonce, boxed, b"other"),
        (bytes(32), nonce, boxed, b"aad"),
        (key, bytes(12), boxed, b"aad"),
        (key, nonce, boxed[1:], b"aad"),
        (key[:16], nonce, boxed, b"aad"),
    ]:
        with pytest.raises(sealing.BoxFailed) as e:
            sealing.unbox(*wrong)
        assert e.value.code == "box-failed"
        assert isinstance(e.value, CryptoError)


def test_a_sealing_secret_has_32_bytes() -> None:
    with pytest.raises(CryptoError, match="32 bytes"):
        SealingSecret.from_secret(bytes(31))
