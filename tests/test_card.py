"""Node cards and invites (docs/PROTOCOL.md §6): round trip, typos, truncation, forgery,
and crafted contents of the wrong type."""

from __future__ import annotations

import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crypto.identity import NodeKeys
from crypto.tls import certificate_signature
from protocol import encoding, signed
from protocol.armor import armor
from protocol.card import PREFIX, Card
from protocol.envelope import NO_NETWORK, Event, create_event
from protocol.errors import BadCard, EncodingError
from protocol.invite import PREFIX as INVITE_PREFIX
from protocol.invite import Invite
from protocol.kinds import member


def make_card(name: str = "El Salvador") -> tuple[Card, NodeKeys]:
    keys = NodeKeys.generate()
    card = Card(name, keys.node_id, keys.sealing_public, ("https://sv.example:8443",))
    return card.sign(keys.signing), keys


def test_round_trip() -> None:
    card, keys = make_card("Bay Area / भारत")
    text = card.to_text()
    assert text.startswith("commune-card:")
    again = Card.from_text(text)
    assert again == card
    assert again.node_id == keys.node_id


def test_whitespace_and_case_from_chat_programs_are_ignored() -> None:
    card, _ = make_card()
    text = card.to_text()
    wrapped = "\n".join(text[i : i + 40] for i in range(0, len(text), 40)).upper()
    assert Card.from_text("  " + wrapped + "\n") == card


@pytest.mark.parametrize("name", ["El Salvador", "LA", "Bay Area / India", "Soweto collective"])
def test_every_single_typo_is_caught(name: str) -> None:
    card, _ = make_card(name)
    text = card.to_text()
    prefix = len("commune-card:")
    for position in range(prefix, len(text)):
        replacement = "a" if text[position] != "a" else "b"
        typo = text[:position] + replacement + text[position + 1 :]
        with pytest.raises(BadCard):
            Card.from_text(typo)


def test_cut_short_and_wrong_prefix() -> None:
    card, _ = make_card()
    text = card.to_text()
    with pytest.raises(BadCard, match="mistyped or cut short"):
        Card.from_text(text[:-7])
    with pytest.raises(BadCard, match="should start with"):
        Card.from_text(text.replace("commune-card", "commune-invite"))
    with pytest.raises(BadCard, match="base32"):
        Card.from_text(text + "!")


def test_a_card_signed_by_another_key_is_refused() -> None:
    card, _ = make_card()
    other = NodeKeys.generate()
    with pytest.raises(BadCard):
        card.sign(other.signing)
    forged = Card("Mallory", card.node_id, other.sealing_public, (), card.signature)
    with pytest.raises(BadCard, match="signature"):
        Card.from_text(forged.to_text())


# --- crafted cards: checksum right, contents wrong -----------------------------------
# Whatever the armored bytes decode to, reading a card or an invite raises BadCard with a
# message saying what is wrong, never a TypeError or an AttributeError.

KEYS = NodeKeys.generate()


def crafted(*, outer: Any = None, inner: Any = None, sign: bool = True) -> str:
    """An armored card with a valid checksum around any value; ``inner`` is the signed
    part (encoded and signed with KEYS), ``outer`` the whole data."""
    if outer is None:
        inner_raw = encoding.encode(inner)
        signature = signed.sign_card(KEYS.signing, inner_raw) if sign else bytes(64)
        outer = [inner_raw, signature]
    data = outer if isinstance(outer, bytes) else encoding.encode(outer)
    return armor(PREFIX, data)


def fields(**changed: Any) -> list[Any]:
    """A card's signed part, with some elements replaced."""
    base = {
        "version": 1,
        "name": "El Salvador",
        "node_id": KEYS.node_id,
        "sealing_key": KEYS.sealing_public,
        "tls": certificate_signature(KEYS.signing),
        "addresses": ["https://sv.example:8443"],
    }
    base.update(changed)
    return list(base.values())


def test_a_crafted_valid_card_reads() -> None:
    card = Card.from_text(crafted(inner=fields()))
    assert card.addresses == ("https://sv.example:8443",)
    assert card.name == "El Salvador"


@pytest.mark.parametrize(
    ("outer", "message"),
    [
        ({"a": b"x", "b": b"y"}, "not a signed part and a signature"),
        ("ab", "not a signed part and a signature"),
        (7, "not a signed part and a signature"),
        ([b"x"], "not a signed part and a signature"),
        (["text", bytes(64)], "must be bytes"),
        ([b"\x95\x01", 5], "must be bytes"),
        ([b"\xcc\x01", bytes(64)], "too long"),  # a non-canonical signed part
        ([encoding.encode({"a": 1, "b": 2, "c": 3, "d": 4, "e": 5, "f": 6}), bytes(64)], "six"),
        ([encoding.encode("abcdef"), bytes(64)], "six"),
        ([encoding.encode([1, "n", b"", b"", b""]), bytes(64)], "six"),
        (b"\xc0", "not a signed part"),
    ],
)
def test_a_card_of_the_wrong_shape_is_refused(outer: Any, message: str) -> None:
    with pytest.raises(BadCard, match=message) as caught:
        Card.from_text(crafted(outer=outer))
    assert caught.value.code == "bad-card"


@pytest.mark.parametrize(
    ("changed", "message"),
    [
        ({"version": True}, "version must be an integer, not bool"),
        ({"version": "1"}, "version must be an integer"),
        ({"version": [1]}, "version must be an integer"),
        ({"version": 2}, "of version 2"),
        ({"name": 5}, "name must be text, not int"),
        ({"name": b"El Salvador"}, "name must be text, not bytes"),
        ({"name": ["El", "Salvador"]}, "name must be text, not list"),
        ({"name": {"first": "El"}}, "name must be text, not dict"),
        ({"name": None}, "name must be text, not nothing"),
        ({"name": ""}, "1 to 100 characters"),
        ({"name": "x" * 101}, "1 to 100 characters"),
        ({"node_id": "k" * 32}, "node id must be 32 bytes, not text"),
        ({"node_id": [1] * 32}, "node id must be 32 bytes, not list"),
        ({"node_id": bytes(31)}, "node id must be 32 bytes, not bytes of length 31"),
        ({"node_id": bytes(32)}, "node id is refused"),  # a small-order point
        ({"sealing_key": "k" * 32}, "sealing key must be 32 bytes"),
        ({"sealing_key": True}, "sealing key must be 32 bytes, not bool"),
        ({"tls": bytes(63)}, "certificate signature must be 64 bytes"),
        ({"tls": "s" * 64}, "certificate signature must be 64 bytes, not text"),
        ({"addresses": "https://sv.example:8443"}, "addresses must be a list, not text"),
        ({"addresses": {"home": "https://sv.example"}}, "addresses must be a list, not dict"),
        ({"addresses": 7}, "addresses must be a list, not int"),
        ({"addresses": None}, "addresses must be a list, not nothing"),
        ({"addresses": [7]}, "text of 1 to 200 characters, not int"),
        ({"addresses": [["https://sv.example"]]}, "not list"),
        ({"addresses": [b"https://sv.example"]}, "not bytes"),
        ({"addresses": [""]}, "1 to 200"),
        ({"addresses": ["a" * 201]}, "1 to 200"),
        ({"addresses": ["https://x.example"] * 9}, "at most 8 addresses"),
    ],
)
def test_a_card_with_a_field_of_the_wrong_type_is_refused(
    changed: dict[str, Any], message: str
) -> None:
    with pytest.raises(BadCard, match=message) as caught:
        Card.from_text(crafted(inner=fields(**changed)))
    assert caught.value.code == "bad-card"


@pytest.mark.parametrize(
    ("name", "char"),
    [
        ("El\x1b[31mSalvador", "U+001B"),  # a terminal escape sequence
        ("El Salvador\x00", "U+0000"),
        ("El\nSalvador", "U+000A"),
        ("El\tSalvador", "U+0009"),
        ("El\x85Salvador", "U+0085"),  # a C1 control
        ("El\u2028Salvador", "U+2028 LINE SEPARATOR"),
        ("admin\u202egpj.exe", "U+202E RIGHT-TO-LEFT OVERRIDE"),
        ("El\u2066Salvador\u2069", "U+2066 LEFT-TO-RIGHT ISOLATE"),
    ],
)
def test_control_characters_in_a_card_are_refused(name: str, char: str) -> None:
    problem = re.escape(f"contains a control character ({char}")
    with pytest.raises(BadCard, match=f"name {problem}"):
        Card.from_text(crafted(inner=fields(name=name)))
    with pytest.raises(BadCard, match=f"address .* {problem}"):
        Card.from_text(crafted(inner=fields(addresses=["https://sv.example", f"https://{name}"])))
    with pytest.raises(BadCard, match=problem):
        Card(name, KEYS.node_id, KEYS.sealing_public).sign(KEYS.signing)


def test_joiners_are_not_control_characters() -> None:
    # U+200D (ZERO WIDTH JOINER) is a format character that scripts and emoji need
    for name in ("क्\u200dष collective", "👩\u200d👩\u200d👧 families", "نیم\u200cفاصله"):
        assert Card.from_text(crafted(inner=fields(name=name))).name == name


def test_a_card_object_of_the_wrong_types_is_refused_by_check() -> None:
    with pytest.raises(BadCard, match="addresses must be a list"):
        Card("SV", KEYS.node_id, KEYS.sealing_public, "https://sv.example").check()  # type: ignore[arg-type]
    with pytest.raises(BadCard, match="name must be text"):
        Card(None, KEYS.node_id, KEYS.sealing_public).check()  # type: ignore[arg-type]
    with pytest.raises(BadCard, match="addresses must be a list, not int"):
        Card("SV", KEYS.node_id, KEYS.sealing_public, 7).sign(KEYS.signing)  # type: ignore[arg-type]


@given(
    st.recursive(
        st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | st.text() | st.binary(),
        lambda children: (
            st.lists(children, max_size=6)
            | st.dictionaries(st.text(max_size=4), children, max_size=4)
        ),
        max_leaves=12,
    ),
    st.integers(0, 4),
)
@settings(max_examples=300, deadline=None)
def test_any_value_in_a_card_gives_bad_card_or_a_card(value: Any, position: int) -> None:
    inner = fields()
    inner[position] = value
    refusals = []
    for make in (
        lambda: crafted(inner=inner),
        lambda: crafted(outer=value),
        lambda: crafted(outer=[value, bytes(64)]),
    ):
        try:
            text = make()
        except EncodingError:  # nested too deep to encode: not a card anyone can send
            continue
        try:
            Card.from_text(text)
        except BadCard as e:
            refusals.append(e)
    assert all(e.code == "bad-card" for e in refusals)
    assert all(e.message for e in refusals)


# --- crafted invites ---------------------------------------------------------------


def genesis_event(**changed: Any) -> Event:
    payload = {
        "v": 1,
        "name": "Red",
        "founder_name": "Los Angeles",
        "sealing_key": KEYS.sealing_public,
        "tls": bytes(64),
        **changed,
    }
    return create_event(
        KEYS.signing,
        network=NO_NETWORK,
        seq=1,
        prev=None,
        ts=1_000 << 16,
        kind=member.GENESIS,
        body=encoding.encode(payload),
    )


def admit_event(genesis: Event, node: bytes, *, key: Any = None, seq: int = 2) -> Event:
    """An admission of ``node`` written by the founder (or by ``key``)."""
    other = NodeKeys.generate()
    action = member.Admit(node, "SV", other.sealing_public, False, bytes(64))
    return create_event(
        key or KEYS.signing,
        network=genesis.id,
        seq=seq,
        prev=genesis.id if seq == 2 else bytes(32),
        ts=2_000 << 16,
        kind=member.ADMIT,
        body=encoding.encode(member.action_payload(action)),
    )


INVITEE = bytes.fromhex("3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c")


def test_a_crafted_valid_invite_reads() -> None:
    card = Card("LA", KEYS.node_id, KEYS.sealing_public).sign(KEYS.signing)
    genesis = genesis_event()
    proof = (admit_event(genesis, INVITEE),)
    invite = Invite(genesis, INVITEE, card, proof, ("https://203.0.113.7:8470",))
    again = Invite.from_text(invite.to_text())
    assert again == invite
    assert again.network_name == "Red"


def test_an_invite_whose_proof_does_not_admit_its_node_is_refused() -> None:
    card = Card("LA", KEYS.node_id, KEYS.sealing_public).sign(KEYS.signing)
    genesis = genesis_event()
    # no proof at all, a proof for another node, a proof signed by a non-member
    stranger = NodeKeys.generate()
    for proof, message in [
        ((), "does not show this node admitted"),
        ((admit_event(genesis, NodeKeys.generate().node_id),), "does not show this node"),
        ((admit_event(genesis, INVITEE, key=stranger.signing),), "does not show this node"),
        ((genesis,), "another network"),
        (
            (
                create_event(
                    KEYS.signing,
                    network=genesis.id,
                    seq=2,
                    prev=genesis.id,
                    ts=2_000 << 16,
                    kind="report",
                    body=encoding.encode({"v": 1, "title": "x", "body": "y"}),
                ),
            ),
            "admin actions only",
        ),
    ]:
        text = Invite(genesis, INVITEE, card, proof).to_text()
        with pytest.raises(BadCard, match=message):
            Invite.from_text(text)
    # an admitter that is no member the proof names
    outsider = Card("X", stranger.node_id, stranger.sealing_public).sign(stranger.signing)
    text = Invite(genesis, INVITEE, outsider, (admit_event(genesis, INVITEE),)).to_text()
    with pytest.raises(BadCard, match="admitter is not a member"):
        Invite.from_text(text)
    # an event of the proof altered after signing
    event = admit_event(genesis, INVITEE)
    altered = bytearray(event.raw)
    altered[-5] ^= 1
    value = [2, genesis.raw, INVITEE, card.to_text(), [bytes(altered)], []]
    with pytest.raises(BadCard, match="proof of admission is refused"):
        Invite.from_text(armor(INVITE_PREFIX, encoding.encode(value)))


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({"a": 1, "b": 2, "c": 3, "d": 4}, "not a list"),
        ("abcd", "not a list"),
        (5, "not a list"),
        ([2, b"", b""], "not a list of six"),
        ([True, b"genesis", bytes(32), "commune-card:x"], "version is not an integer"),
        ([1, b"genesis", bytes(32), "commune-card:x"], "made by an older Commune"),
        ([3, b"genesis", bytes(32), "commune-card:x", [], []], "of version 3"),
        ([2, "genesis", bytes(32), "commune-card:x", [], []], "genesis event is not bytes"),
        ([2, b"genesis", bytes(32), b"commune-card:x", [], []], "card is not text"),
        ([2, b"genesis", "x" * 32, "commune-card:x", [], []], "does not name a node"),
        ([2, b"genesis", bytes(32), "commune-card:x", {}, []], "proof of admission is not"),
        ([2, b"genesis", bytes(32), "commune-card:x", [], []], "genesis event is refused"),
    ],
)
def test_an_invite_of_the_wrong_shape_is_refused(value: Any, message: str) -> None:
    with pytest.raises(BadCard, match=message):
        Invite.from_text(armor(INVITE_PREFIX, encoding.encode(value)))


@pytest.mark.parametrize(
    "changed",
    [
        {"founder_name": "Los\x1b[2JAngeles"},
        {"name": "Red\u202e"},
        {"founder_name": 5},
        {"v": True},
    ],
)
def test_an_invite_with_a_malformed_genesis_is_refused(changed: dict[str, Any]) -> None:
    card = Card("SV", KEYS.node_id, KEYS.sealing_public).sign(KEYS.signing)
    genesis = genesis_event(**changed)
    text = armor(
        INVITE_PREFIX, encoding.encode([2, genesis.raw, bytes(32), card.to_text(), [], []])
    )
    # a name with a control character breaks §3.8 (the event is invalid); a name of the
    # wrong type, or a version of the wrong type, a kind's schema (it is malformed)
    with pytest.raises(BadCard, match=r"founding event is malformed|genesis event is refused"):
        Invite.from_text(text)
