"""Event kinds (protocol/kinds, docs/PROTOCOL.md §5): payloads built from what users type,
read back from the log (never raising there), upcast from older versions; membership
payloads; and what the encoder refuses in a payload."""

from __future__ import annotations

import re
import unicodedata
from typing import Any

import pytest

from crypto.identity import NodeKeys
from protocol import encoding
from protocol.envelope import NO_NETWORK, create_event
from protocol.errors import BadPayload, EncodingError, IntegerOutOfRange, InvalidUtf8
from protocol.kinds import POSTABLE, Field, KindSpec, member, plan
from protocol.kinds.base import BIDI_CONTROLS, control_char, has_version, is_int
from protocol.kinds.edits import target_of
from protocol.projections import change_of
from tests.helpers import fixed_key

KEYS = NodeKeys.generate()
NODE = fixed_key(7).public  # a valid Ed25519 key

# --- integers and versions: true is not 1 ------------------------------------------


def test_is_int_and_has_version_refuse_bools() -> None:
    assert all(is_int(n) for n in (0, -5, 2**64 - 1))
    assert not any(is_int(x) for x in (True, False, "1", None, 1.0))
    assert has_version({"v": 1}, 1)
    assert not has_version({"v": True}, 1)
    assert not has_version({"v": False}, 0)
    assert not has_version({"v": "1"}, 1)
    assert not has_version({}, 1)


def genesis_payload(**changed: Any) -> dict[str, Any]:
    return {
        "v": 1,
        "name": "Red",
        "founder_name": "Los Angeles",
        "sealing_key": KEYS.sealing_public,
        "tls": bytes(64),
        **changed,
    }


def admit_payload(**changed: Any) -> dict[str, Any]:
    return {
        "v": 1,
        "node": NODE,
        "name": "SV",
        "sealing_key": bytes(32),
        "admin": False,
        "tls": bytes(64),
        **changed,
    }


def test_member_payloads_of_version_true_are_refused() -> None:
    assert member.parse_genesis(genesis_payload()).name == "Red"
    with pytest.raises(BadPayload, match="version must be 1"):
        member.parse_genesis(genesis_payload(v=True))
    actions: list[tuple[str, dict[str, Any]]] = [
        (member.ADMIT, admit_payload()),
        (member.REVOKE, {"v": 1, "node": NODE, "cutoff": 3}),
        (member.ROLE, {"v": 1, "node": NODE, "admin": True, "seq": 3}),
    ]
    for kind, payload in actions:
        member.parse_action(kind, payload)
        with pytest.raises(BadPayload, match="version must be 1"):
            member.parse_action(kind, {**payload, "v": True})
    assert member.parse_addresses({"v": 1, "addresses": ["https://a"]}) == ("https://a",)
    with pytest.raises(BadPayload, match="version must be 1"):
        member.parse_addresses({"v": True, "addresses": ["https://a"]})


@pytest.mark.parametrize("value", [True, False, "3", None, -1, 2**63])
def test_a_seq_or_cutoff_that_is_not_an_integer_is_refused(value: Any) -> None:
    with pytest.raises(BadPayload, match="'cutoff' must be a seq"):
        member.parse_action(member.REVOKE, {"v": 1, "node": NODE, "cutoff": value})
    with pytest.raises(BadPayload, match="'seq' must be a seq"):
        member.parse_action(member.ROLE, {"v": 1, "node": NODE, "admin": True, "seq": value})


def test_an_edit_of_version_true_is_unreadable() -> None:
    item = bytes(range(32))
    assert target_of({"v": 1, "of": item}) == item
    assert target_of({"v": True, "of": item}) is None
    assert target_of({"v": 2, "of": item}) is None
    key = fixed_key(3)
    for v, readable in ((1, True), (True, False)):
        event = create_event(
            key,
            network=NO_NETWORK,
            seq=1,
            prev=None,
            ts=1_000 << 16,
            kind="plan.update",
            body=encoding.encode({"v": v, "of": item, "status": "done"}),
        )
        assert (change_of(event) is not None) is readable


# --- names without control characters ----------------------------------------------

CONTROLS = ["\x1b[2J", "\x00", "\n", "\t", "\x7f", "\x9b", "\u2028", "\u202e", "\u2067"]


@pytest.mark.parametrize("bad", CONTROLS)
def test_member_names_with_control_characters_are_refused(bad: str) -> None:
    char = re.escape(f"contains a control character (U+{ord(bad[0]):04X}")
    with pytest.raises(BadPayload, match=f"'founder_name' {char}"):
        member.parse_genesis(genesis_payload(founder_name=f"Los{bad}Angeles"))
    with pytest.raises(BadPayload, match=f"'name' {char}"):
        member.parse_genesis(genesis_payload(name=f"Red{bad}"))
    with pytest.raises(BadPayload, match=f"'name' {char}"):
        member.parse_action(member.ADMIT, admit_payload(name=f"{bad}SV"))
    with pytest.raises(BadPayload, match=f"address .* {char}"):
        member.parse_addresses({"v": 1, "addresses": [f"https://sv{bad}.example"]})
    # and they are refused when written, not only when read
    with pytest.raises(BadPayload, match=char):
        member.genesis_payload(member.Genesis("Red", f"Los{bad}Angeles", KEYS.sealing_public))
    with pytest.raises(BadPayload, match=char):
        member.action_payload(member.Admit(NODE, f"S{bad}V", bytes(32), admin=False))


def test_member_names_of_the_wrong_type_are_refused() -> None:
    for name in (5, b"SV", ["SV"], {"n": "SV"}, None, "", "x" * 101):
        with pytest.raises(BadPayload, match="'founder_name' must be text"):
            member.parse_genesis(genesis_payload(founder_name=name))
        with pytest.raises(BadPayload, match="'name' must be text"):
            member.parse_action(member.ADMIT, admit_payload(name=name))


def test_joiners_and_scripts_are_not_control_characters() -> None:
    for name in (
        "Bay Area / भारत",
        "क्\u200dष",
        "👩\u200d👩\u200d👧",
        "نیم\u200cفاصله",
        "São Paulo",
    ):
        assert control_char(name) is None
        assert member.parse_action(member.ADMIT, admit_payload(name=name)).name == name  # type: ignore[union-attr]
    assert control_char("a\nb", allowed="\n") is None


def test_post_fields_refuse_bidi_overrides_and_keep_line_breaks_where_allowed() -> None:
    report = POSTABLE["report"]
    with pytest.raises(BadPayload, match=re.escape("'title' contains a control character (U+202E")):
        report.build({"title": "invoice\u202etxt.exe"})
    with pytest.raises(BadPayload, match="'body' contains a control character"):
        report.build({"title": "t", "body": "a\x1b[31mb"})
    assert report.build({"title": "t", "body": "one\n\ttwo"})["body"] == "one\n\ttwo"


# --- plans: the due date -------------------------------------------------------------

BAD_DATES = [
    "2026-02-30",  # not a day
    "2026-13-01",
    "2025-02-29",  # not a leap year
    "2026-1-5",
    "20261231",  # the basic ISO form: fromisoformat takes it, the field does not
    "2026-W01-1",  # an ISO week date, also ten characters
    "２０２６-01-01",  # full-width digits
    "2026/12/31",
    "31-12-2026",
    "tomorrow",
    "2026-12-31T00:00",
]


@pytest.mark.parametrize("due", BAD_DATES)
def test_a_plan_with_a_bad_due_date_is_refused_when_built(due: str) -> None:
    problem = "^'due' (must be a date|is 16 characters; at most 10)"  # names the field
    with pytest.raises(BadPayload, match=problem):
        plan.SPEC.build({"title": "paint the hall", "due": due})
    with pytest.raises(BadPayload, match=problem):
        plan.SPEC.build_update({"due": due})


@pytest.mark.parametrize("due", ["2026-12-31", "2024-02-29", "0001-01-01", " 2026-01-05 "])
def test_a_plan_with_a_real_due_date_is_built(due: str) -> None:
    assert plan.SPEC.build({"title": "paint the hall", "due": due})["due"] == due.strip()
    assert plan.SPEC.build_update({"due": due}) == {"due": due.strip()}


def test_a_plan_without_a_due_date_is_built_and_the_date_can_be_cleared() -> None:
    assert "due" not in plan.SPEC.build({"title": "paint the hall"})
    assert plan.SPEC.build_update({"due": ""}) == {"due": ""}


@pytest.mark.parametrize("due", BAD_DATES)
def test_a_bad_due_date_in_the_log_is_unreadable_not_an_error(due: str) -> None:
    stored = {"v": 1, "title": "paint the hall", "due": due}
    assert plan.SPEC.read(stored) is None
    # an update keeps its readable fields and ignores the malformed one
    assert plan.SPEC.read_update({"v": 1, "due": due, "status": "done"}) == {"status": "done"}


def test_a_bad_status_in_the_log_is_unreadable_not_an_error() -> None:
    assert plan.SPEC.read({"v": 1, "title": "t", "status": "sideways"}) is None
    assert plan.SPEC.read_update({"status": "sideways", "owner": "Ana"}) == {"owner": "Ana"}


# --- reading every real kind ---------------------------------------------------------

SAMPLES: dict[str, dict[str, str]] = {
    "report": {
        "title": "Assembly on housing",
        "body": "We met.\nForty came.",
        "state": "published",
        "link": "https://paper.example/2026/housing",
        "plans": "ab" * 32,
    },
    "plan": {
        "title": "Paint the hall",
        "description": "Saturday",
        "owner": "Ana",
        "due": "2026-05-01",
        "status": "doing",
    },
    "shift": {
        "title": "Maquila gate",
        "place": "Gate A",
        "weekdays": "mon,thu",
        "start": "05:30",
        "end": "07:00",
        "zone": "America/El_Salvador",
        "repeat": "weekly",
        "every": "2",
        "since": "2026-12-01",
        "until": "2027-06-30",
        "needed": "3",
    },
    "contact": {
        "name": "María José",
        "phone": "+503 2222 0000",
        "email": "mj@example.org",
        "place": "San Salvador",
        "notes": "Speaks Spanish and Nahuat.",
        "stage": "attends",
        "follower": "Ana",
        "next": "Invite her to the clinic",
        "due": "2026-05-02",
        "history": "Came to the forum with two friends.",
    },
    "meeting": {
        "title": "Discussion group",
        "when": "2026-12-10 18:30",
        "zone": "America/Los_Angeles",
        "place": "https://meet.example/group",
        "agenda": "Chapter 3\nNext month's forum",
        "repeat": "weekly",
        "every": "2",
        "until": "2027-06-30",
    },
}


for _sample in SAMPLES.values():  # every kind carries concentrations (KindSpec.tags)
    _sample["tags"] = "vivienda salud-pública"


def test_every_postable_kind_has_a_sample() -> None:
    assert set(SAMPLES) == set(POSTABLE)


@pytest.mark.parametrize("kind", sorted(POSTABLE))
def test_read_gives_back_what_build_made(kind: str) -> None:
    spec = POSTABLE[kind]
    built = spec.build(SAMPLES[kind])
    assert built["v"] == spec.version
    stored = encoding.decode(encoding.encode(built))  # as it comes back from the log
    assert spec.read(stored) == built
    minimal = spec.build({f.name: SAMPLES[kind][f.name] for f in spec.fields if f.required})
    assert spec.read(encoding.decode(encoding.encode(minimal))) == minimal
    update = spec.build_update({spec.fields[-1].name: SAMPLES[kind][spec.fields[-1].name]})
    assert spec.read_update(update) == update


@pytest.mark.parametrize("kind", sorted(POSTABLE))
@pytest.mark.parametrize(
    "v", [True, False, 0, -1, "1", None, [1], 2**64 - 1], ids=lambda v: repr(v)[:12]
)
def test_a_payload_of_an_unknown_version_is_unreadable(kind: str, v: Any) -> None:
    spec = POSTABLE[kind]
    assert spec.read({**spec.build(SAMPLES[kind]), "v": v}) is None
    assert spec.read({k: x for k, x in spec.build(SAMPLES[kind]).items() if k != "v"}) is None


@pytest.mark.parametrize("kind", sorted(POSTABLE))
@pytest.mark.parametrize("value", [5, True, b"x", ["x"], {"x": "y"}, None, "x" * 20001])
def test_a_field_of_the_wrong_type_in_the_log_is_unreadable(kind: str, value: Any) -> None:
    spec = POSTABLE[kind]
    name = spec.fields[0].name
    assert spec.read({**spec.build(SAMPLES[kind]), name: value}) is None
    assert spec.read_update({name: value}) == {}


# --- upcasting (docs/PROTOCOL.md §5.2) -------------------------------------------------


def _v1_to_v2(payload: dict[str, Any]) -> dict[str, Any]:
    """Version 1 had one ``text``; version 2 splits it into ``title`` and ``body``."""
    title, _, body = payload["text"].partition("\n")
    rest = {k: v for k, v in payload.items() if k != "text"}
    return {**rest, "title": title, "body": body}


NOTE = KindSpec(
    name="note",
    help="a synthetic kind at version 2",
    version=2,
    fields=(
        Field("title", "a title", required=True, max_len=50),
        Field("body", "the text", max_len=500, multiline=True),
    ),
    upcasters={1: _v1_to_v2},
)


def test_a_v1_payload_reads_as_v2() -> None:
    stored = encoding.decode(encoding.encode({"v": 1, "text": "Hello\nworld"}))
    assert NOTE.read(stored) == {"v": 2, "title": "Hello", "body": "world"}
    assert stored == {"v": 1, "text": "Hello\nworld"}  # the stored payload is untouched


def test_a_v2_payload_reads_directly() -> None:
    built = NOTE.build({"title": "Hello", "body": "world"})
    assert built == {"v": 2, "title": "Hello", "body": "world"}
    assert NOTE.read(built) == built


@pytest.mark.parametrize(
    "payload",
    [
        {"v": 3, "title": "From the future", "body": "", "mood": "calm"},
        {"v": 3, "text": "a shape this code has never seen"},
        {"v": 0, "title": "before the first version"},
        {"v": True, "text": "Hello"},
        {"text": "no version"},
    ],
)
def test_a_future_or_unknown_version_is_unreadable(payload: dict[str, Any]) -> None:
    assert NOTE.read(payload) is None


@pytest.mark.parametrize(
    "payload",
    [
        {"v": 1},  # the upcaster needs "text"
        {"v": 1, "text": 5},  # and text
        {"v": 1, "text": "x" * 60},  # upcast, but the title is too long for v2
        {"v": 1, "text": "\nno title"},  # upcast, but the required title is empty
    ],
)
def test_a_malformed_old_payload_is_unreadable_not_an_error(payload: dict[str, Any]) -> None:
    assert NOTE.read(payload) is None


def test_a_missing_upcaster_makes_old_payloads_unreadable() -> None:
    gap = KindSpec("gap", "v3 with no way from v1", 3, NOTE.fields, upcasters={2: lambda p: p})
    assert gap.read({"v": 2, "title": "t"}) == {"v": 3, "title": "t"}
    assert gap.read({"v": 1, "text": "t"}) is None


# --- what the encoder refuses in a payload -------------------------------------------


@pytest.mark.parametrize(
    "value",
    [2**64, -(2**63) - 1, 10**400, {"seq": 2**64}, [[1, 2**70]], {"v": 1, "n": -(2**100)}],
    ids=["2^64", "-2^63-1", "10^400", "in-a-map", "nested", "negative"],
)
def test_an_integer_out_of_range_is_an_encoding_error(value: Any) -> None:
    with pytest.raises(IntegerOutOfRange, match=r"outside the range -2\^63 to 2\^64-1") as caught:
        encoding.encode(value)
    assert isinstance(caught.value, EncodingError)
    assert caught.value.code == "int-out-of-range"
    assert len(caught.value.message) < 200


def test_the_integer_range_ends_are_encoded() -> None:
    for n in (2**64 - 1, -(2**63), 0):
        assert encoding.decode(encoding.encode(n)) == n


@pytest.mark.parametrize(
    "value",
    ["\ud800", "ok\udfffok", {"title": "a\udc80"}, {"k\ud83d": 1}, [["\ud83d"]]],
    ids=["alone", "inside", "in-a-value", "in-a-key", "nested"],
)
def test_text_with_a_lone_surrogate_is_an_encoding_error(value: Any) -> None:
    with pytest.raises(InvalidUtf8, match=r"lone surrogate U\+D[89A-F][0-9A-F]{2}") as caught:
        encoding.encode(value)
    assert caught.value.code == "invalid-utf8"
    assert encoding.encode("\U0001f600") == encoding.encode("😀")  # a real pair is fine


def test_control_char_refuses_exactly_the_categories_it_names() -> None:
    """The fast regular expression agrees with Unicode's categories on every code point."""
    wrong = [
        hex(cp)
        for cp in range(0x110000)
        if (control_char(chr(cp)) is not None)
        != (unicodedata.category(chr(cp)) in ("Cc", "Zl", "Zp") or chr(cp) in BIDI_CONTROLS)
    ]
    assert wrong == []
    assert control_char("one\ntwo", allowed="\n") is None
    assert control_char("one\ttwo\x1b[31m", allowed="\t\n") == (
        "contains a control character (U+001B)"
    )
