"""Node cards (docs/PROTOCOL.md §6): round trip, typos, truncation, forgery."""

from __future__ import annotations

import pytest

from crypto.identity import NodeKeys
from protocol.card import Card
from protocol.errors import BadCard


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
