"""Private content between real nodes (docs/PROTOCOL.md §11, §12; docs/THREAT_MODEL.md):
sealed for chosen members, relayed unreadable, redacted everywhere, and nothing
readable in a seized folder."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from node import network, private
from node.home import Home
from protocol import sealed
from protocol.envelope import SEALED
from protocol.kinds import POSTABLE
from protocol.kinds import member as member_kinds
from tests.net import Member, close_all, link, make_network, until

NAME = "Thandiwe Mokoena"
PHONE = "+27 82 555 0147"
NOTES = "Meets us behind the clinic on Thursdays"
PASSPHRASE = b"correct horse battery staple"


def contact_for(author: Member, *to: str) -> bytes:
    payload = POSTABLE["contact"].build({"name": NAME, "phone": PHONE, "notes": NOTES})
    readers = private.recipients(author.node, author.keys, to)
    event = author.node.post(
        author.keys, [private.seal_item(author.node, author.keys, "contact", payload, readers)]
    )[0]
    return event.id


def contact_names(m: Member) -> set[str]:
    return {c["name"] for c in private.items(m.node, m.keys, "contact")}


def secrets_of(m: Member) -> list[bytes]:
    """What must never be readable in a copy of the node's folder."""
    found = [NAME, PHONE, NOTES, NAME.split()[1]]
    texts = [s.encode() for s in found]
    keys = [m.keys.signing.seed, m.keys.sealing]
    # the raw bytes, and as they would look in hex or base64 in a text file
    return [
        *texts,
        *keys,
        *(k.hex().encode() for k in keys),
        *(base64.b64encode(k) for k in keys),
    ]


def seized(home: Home) -> bytes:
    """Every byte of every file of the folder, as someone who copies it gets them."""
    return b"".join(p.read_bytes() for p in sorted(home.path.rglob("*")) if p.is_file())


async def test_done_when_a_contact_for_za_crosses_sv_unread_and_is_redacted_everywhere(
    tmp_path: Path,
) -> None:
    la, sv, za = members = make_network(
        tmp_path, ["Los Angeles", "San Salvador", "Johannesburg"], passphrase=PASSPHRASE
    )
    try:
        for m in members:
            await m.start()
        link(sv, la)  # SV relays between LA and ZA, which never talk directly
        link(za, sv)
        event_id = contact_for(la, "Johannesburg")
        await until(lambda: NAME in contact_names(za), what="the contact reaching ZA")
        assert NAME in contact_names(la)
        # SV stores it and passes it on, and cannot read it
        assert sv.node.store.get(event_id) is not None
        assert contact_names(sv) == set()
        body = sv.node.store.get(event_id).body  # type: ignore[union-attr]
        assert body is not None
        assert sealed.recipients_count(body) == 2
        assert NAME.encode() not in body
        assert la.keys.node_id not in body
        assert za.keys.node_id not in body  # who can read it is hidden too
        assert len({m.state() for m in members}) == 1  # sealing does not split the state
        # LA redacts it: gone from all three
        network.redact(la.node, la.keys, event_id.hex())
        for m in members:
            await until(
                lambda m=m: (e := m.node.store.get(event_id)) is not None and e.body is None,  # type: ignore[misc]
                what=f"the redaction reaching {m.name}",
            )
        assert contact_names(za) == set()
        assert contact_names(la) == set()
        for m in members:
            assert m.node.verify() == []
    finally:
        for m in members:
            await m.stop()
        close_all(members)
    # The seized-folder test, for all three, with the nodes stopped.
    for m in members:
        data = seized(m.home)
        for secret in secrets_of(m):
            assert secret not in data, (m.name, secret[:12])


async def test_a_seized_folder_holds_no_key_and_no_private_text_while_content_is_there(
    tmp_path: Path,
) -> None:
    la, za = members = make_network(
        tmp_path, ["Los Angeles", "Johannesburg"], passphrase=PASSPHRASE
    )
    contact_for(la, "Johannesburg")
    za.node.ingest([e.raw for e in la.node.store.events()])
    assert NAME in contact_names(za)  # readable with the keys, in memory
    close_all(members)
    for m in members:
        data = seized(m.home)
        for secret in secrets_of(m):
            assert secret not in data, (m.name, secret[:12])
        # and the node comes back with its passphrase
        assert Home(m.home.path).unlock(PASSPHRASE).node_id == m.keys.node_id


def test_a_revoked_node_is_never_sealed_to_again(tmp_path: Path) -> None:
    la, sv, za = members = make_network(tmp_path, ["Los Angeles", "San Salvador", "Johannesburg"])
    try:
        first = contact_for(la, "San Salvador", "Johannesburg")
        assert first
        network.revoke(la.node, la.keys, "San Salvador")
        with pytest.raises(private.CannotAddress, match="revoked"):
            private.recipients(la.node, la.keys, ["San Salvador"])
        # an edit of the contact goes to its readers who are still members
        item = private.items(la.node, la.keys, "contact")[0]
        target = bytes.fromhex(item["id"])
        readers = private.edit_recipients(la.node, la.keys, target, [])
        assert set(readers) == {la.keys.node_id, za.keys.node_id}
        update = {"v": 1, "of": target, "phone": "+27 82 555 0000"}
        event = la.node.post(
            la.keys, [private.seal_item(la.node, la.keys, "contact.update", update, readers)]
        )[0]
        za.node.ingest([e.raw for e in la.node.store.events()])
        sv.node.ingest([e.raw for e in la.node.store.events()])
        assert [c["phone"] for c in private.items(za.node, za.keys, "contact")] == [
            "+27 82 555 0000"
        ]
        assert [c["phone"] for c in private.items(sv.node, sv.keys, "contact")] == [PHONE]
        assert event.kind == SEALED
    finally:
        close_all(members)


def test_a_post_quantum_network_seals_with_the_hybrid_suite(tmp_path: Path) -> None:
    la, za = members = make_network(
        tmp_path, ["Los Angeles", "Johannesburg"], suite=member_kinds.PQ_SUITE
    )
    try:
        assert private.suite(la.node) == member_kinds.PQ_SUITE
        assert private.publish_keys(la.node, la.keys)
        with pytest.raises(private.CannotAddress, match="post-quantum"):
            private.recipients(la.node, la.keys, ["Johannesburg"])
        za.node.ingest([e.raw for e in la.node.store.events()])
        assert private.publish_keys(za.node, za.keys)
        assert not private.publish_keys(za.node, za.keys)  # once
        la.node.ingest([e.raw for e in za.node.store.events()])
        event_id = contact_for(la, "Johannesburg")
        za.node.ingest([e.raw for e in la.node.store.events()])
        assert NAME in contact_names(za)
        body = za.node.store.get(event_id).body  # type: ignore[union-attr]
        assert body is not None
        assert sealed.read_header(body).suite == member_kinds.PQ_SUITE
    finally:
        close_all(members)


def test_a_member_who_cannot_read_a_contact_cannot_change_it(tmp_path: Path) -> None:
    la, sv = members = make_network(tmp_path, ["Los Angeles", "San Salvador"])
    try:
        contact_for(la)  # sealed to LA alone
        la.node.ingest([e.raw for e in sv.node.store.events()])
        sv.node.ingest([e.raw for e in la.node.store.events()])
        target = next(
            e.id for e in la.node.store.events() if e.kind == SEALED and e.author == la.keys.node_id
        )
        item = private.items(la.node, la.keys, "contact")[0]
        assert item["id"] == target.hex()
        # SV knows the id (it relays the event) and seals an edit and a delete to both
        readers = private.recipients(sv.node, sv.keys, ["Los Angeles"])
        for kind, payload in (
            ("contact.update", {"v": 1, "of": target, "name": "Someone else"}),
            ("contact.delete", {"v": 1, "of": target}),
        ):
            sv.node.post(sv.keys, [private.seal_item(sv.node, sv.keys, kind, payload, readers)])
        la.node.ingest([e.raw for e in sv.node.store.events()])
        assert contact_names(la) == {NAME}  # unchanged, not deleted
    finally:
        close_all(members)


def test_to_a_name_that_is_also_the_start_of_another_members_id_is_refused(
    tmp_path: Path,
) -> None:
    """A member that ground a key whose id starts with another collective's name does
    not receive what was meant for that collective: the name is refused as ambiguous,
    naming both, and the full id still works."""
    from tests.net import new_member  # noqa: PLC0415

    la = new_member(tmp_path, "Los Angeles")
    grinder = new_member(tmp_path, "Grinder")
    victim = new_member(tmp_path, grinder.keys.node_id.hex()[:8])  # as if ground to it
    members = [la, grinder, victim]
    try:
        network.found(la.node, la.keys, "Red")
        for m in (grinder, victim):
            network.admit(la.node, la.keys, m.home.identity().card.to_text(), False)
        with pytest.raises(network.MembershipError) as refused:
            private.recipients(la.node, la.keys, [victim.name])
        assert "Grinder" in refused.value.message
        assert victim.name in refused.value.message
        assert "full node id" in refused.value.message
        readers = private.recipients(la.node, la.keys, [victim.keys.node_id.hex()])
        assert set(readers) == {la.keys.node_id, victim.keys.node_id}
    finally:
        close_all(members)
