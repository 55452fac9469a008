"""Redaction (docs/PROTOCOL.md §12): the author or an admin erases an event's body on
every node that receives the redaction; envelopes stay and every chain still verifies."""

from __future__ import annotations

from pathlib import Path

import pytest

from node import network
from node.home import Home
from node.network import MembershipError, NotAdmin
from protocol import encoding
from protocol.envelope import strip_body
from protocol.kinds import POSTABLE
from protocol.kinds import redact as redact_kind
from tests.helpers import forge
from tests.net import close_all, make_network

SECRET = "Dirección de la casa segura: calle 7"


def report(title: str) -> tuple[str, dict[str, object]]:
    return ("report", POSTABLE["report"].build({"title": title, "body": SECRET}))


def folder_bytes(home: Home) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(home.path.rglob("*")) if p.is_file())


def test_the_author_redacts_and_the_bytes_are_gone_from_every_file(tmp_path: Path) -> None:
    la, sv = members = make_network(tmp_path, ["Los Angeles", "San Salvador"])
    try:
        event = sv.node.post(sv.keys, [report("casa segura")])[0]
        la.node.ingest([e.raw for e in sv.node.store.events()])
        assert "casa segura" in la.titles()
        redaction = network.redact(sv.node, sv.keys, event.id.hex()[:10])
        assert sv.node.store.get(event.id).body is None  # type: ignore[union-attr]
        result = la.node.ingest([redaction.raw])
        assert result.erased == 1
        for m in members:
            assert "casa segura" not in m.titles()
            assert m.node.verify() == []
            stored = m.node.store.get(event.id)
            assert stored is not None
            assert stored.body is None
            assert stored.body_hash == event.body_hash  # the envelope stays
        assert la.state() == sv.state()
        # the full copy comes again from a peer that had not heard: it stays erased
        assert la.node.ingest([event.raw]).known == 1
        assert la.node.store.get(event.id).body is None  # type: ignore[union-attr]
        for m in members:
            m.node.close()
            assert SECRET.encode() not in folder_bytes(m.home)
            assert b"casa segura" not in folder_bytes(m.home)
    finally:
        close_all([])


def test_a_redaction_that_arrives_first_erases_its_target_on_arrival(tmp_path: Path) -> None:
    la, sv = members = make_network(tmp_path, ["Los Angeles", "San Salvador"])
    try:
        event = sv.node.post(sv.keys, [report("antes")])[0]
        redaction = network.redact(sv.node, sv.keys, event.id.hex())
        result = la.node.ingest([redaction.raw])  # a gap: held until the target comes
        assert result.held == 1
        la.node.ingest([event.raw])
        assert la.node.store.get(event.id).body is None  # type: ignore[union-attr]
        assert la.state() == sv.state()
    finally:
        close_all(members)


def test_only_the_author_or_an_admin_can_redact(tmp_path: Path) -> None:
    la, sv, india = members = make_network(tmp_path, ["Los Angeles", "San Salvador", "Mumbai"])
    try:
        event = sv.node.post(sv.keys, [report("de SV")])[0]
        for m in (la, india):
            m.node.ingest([e.raw for e in sv.node.store.events()])
        with pytest.raises(NotAdmin):
            network.redact(india.node, india.keys, event.id.hex())
        # a redaction written anyway by a plain member erases nothing anywhere
        forged = india.node.post(india.keys, [(redact_kind.KIND, redact_kind.payload(event.id))])
        assert la.node.ingest([e.raw for e in india.node.store.events()]).erased == 0
        assert india.node.store.get(event.id).body is not None  # type: ignore[union-attr]
        assert forged
        # an admin can
        redaction = network.redact(la.node, la.keys, event.id.hex())
        assert sv.node.ingest([e.raw for e in la.node.store.events()]).erased == 1
        assert india.node.ingest([redaction.raw]).erased == 1
        with pytest.raises(MembershipError, match="redacted already"):
            network.redact(la.node, la.keys, event.id.hex())
        genesis = la.node.projector.genesis()
        assert genesis is not None
        with pytest.raises(MembershipError, match="cannot be redacted"):
            network.redact(la.node, la.keys, genesis.id.hex())
    finally:
        close_all(members)


def test_a_body_left_out_by_a_relay_comes_back_with_a_full_copy(tmp_path: Path) -> None:
    la, sv = members = make_network(tmp_path, ["Los Angeles", "San Salvador"])
    try:
        event = la.node.post(la.keys, [report("entero")])[0]
        sv.node.ingest([strip_body(event).raw])
        assert "entero" not in sv.titles()
        assert [u["reason"] for u in sv.node.projector.unknown()] == ["unreadable payload"]
        sv.node.ingest([event.raw])
        assert "entero" in sv.titles()
        assert sv.node.projector.unknown() == []
        assert sv.state() == la.state()
    finally:
        close_all(members)


def test_a_redaction_of_a_body_already_left_out_clears_it_from_the_unreadable(
    tmp_path: Path,
) -> None:
    la, sv = members = make_network(tmp_path, ["Los Angeles", "San Salvador"])
    try:
        event = la.node.post(la.keys, [report("sin cuerpo")])[0]
        sv.node.ingest([strip_body(event).raw])  # a relay left the body out
        assert [u["reason"] for u in sv.node.projector.unknown()] == ["unreadable payload"]
        redaction = network.redact(la.node, la.keys, event.id.hex())
        assert sv.node.ingest([redaction.raw]).erased == 0  # nothing left to erase
        assert sv.node.projector.unknown() == []
        assert sv.state() == la.state()
    finally:
        close_all(members)


def test_fork_evidence_is_erased_by_a_redaction_too(tmp_path: Path) -> None:
    la, sv = members = make_network(tmp_path, ["Los Angeles", "San Salvador"])
    try:
        first = sv.node.post(sv.keys, [report("uno")])[0]
        twin = forge(
            sv.keys.signing,
            network=sv.node.network,
            seq=1,
            ts=first.ts + 3,
            body=encoding.encode({"v": 1, "title": "otro", "body": SECRET}),
        )
        la.node.ingest([first.raw])
        assert la.node.ingest([twin]).forks == 1
        twin_id = la.node.store.forks()[0].id
        # SV's key is the twin's author: an admin (LA) redacts the evidence's body
        network.redact(la.node, la.keys, twin_id.hex())
        assert la.node.store.forks()[0].body is None
        assert twin_id in la.node.projector.redacted()
    finally:
        close_all(members)


def test_redacting_an_item_erases_the_text_of_its_edits_everywhere(tmp_path: Path) -> None:
    """SV (no admin) redacts its plan: LA's public `plan.update` of it, which carries
    text, is erased on every node too; and a redacted private contact takes its sealed
    edits along (those its redactor may redact)."""
    from node import private  # noqa: PLC0415

    la, sv = members = make_network(tmp_path, ["Los Angeles", "San Salvador"])
    try:
        plan = sv.node.post(sv.keys, [("plan", POSTABLE["plan"].build({"title": "mural"}))])[0]
        la.node.ingest([e.raw for e in sv.node.store.events()])
        edit = la.node.post(
            la.keys, [("plan.update", {"v": 1, "of": plan.id, "description": SECRET})]
        )[0]
        sv.node.ingest([edit.raw])
        readers = private.recipients(sv.node, sv.keys, [])
        contact = POSTABLE["contact"].build({"name": "Ana", "phone": "+503 7000 0000"})
        made = sv.node.post(
            sv.keys, [private.seal_item(sv.node, sv.keys, "contact", contact, readers)]
        )[0]
        change = {"v": 1, "of": made.id, "phone": "+503 7999 9999"}
        update = sv.node.post(
            sv.keys, [private.seal_item(sv.node, sv.keys, "contact.update", change, readers)]
        )[0]
        la.node.ingest([e.raw for e in sv.node.store.events()])

        redaction = network.redact(
            sv.node,
            sv.keys,
            plan.id.hex(),
        )
        network.redact(
            sv.node,
            sv.keys,
            made.id.hex(),
            lambda item: private.sealed_edits_of(sv.node, sv.keys, item),
        )
        la.node.ingest([e.raw for e in sv.node.store.events()])
        for m in members:
            for erased in (plan.id, edit.id, made.id, update.id):
                stored = m.node.store.get(erased)
                assert stored is not None
                assert stored.body is None, erased.hex()
            assert m.node.projector.rows("plan") == []
            assert m.node.verify() == []
        assert la.state() == sv.state()
        assert redaction.kind == redact_kind.KIND
        for m in members:
            m.node.close()
            assert SECRET.encode() not in folder_bytes(m.home)
    finally:
        close_all([])
