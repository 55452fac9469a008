"""Membership and sneakernet through the real command line, each command a separate
process on real node folders (docs/CLI.md; scenarios 1, 2, 4, 6, 8 and 10)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from node.home import Home
from node.service import Node
from protocol import encoding
from protocol.bundle import BundleHeader, write
from protocol.frontier import Frontier
from protocol.kinds import POSTABLE
from tests.helpers import commune, fixed_key, forge, refused


def ok(home: Path, *args: str) -> str:
    result = commune(home, *args)
    assert result.returncode == 0, result.stderr
    return result.stdout


def js(home: Path, *args: str) -> Any:
    return json.loads(ok(home, *args, "--json"))


def node_id(home: Path) -> str:
    return Home(home).identity().node_id.hex()


def make(tmp_path: Path, name: str, label: str) -> Path:
    home = tmp_path / label
    ok(home, "init", "--name", name, "--insecure-no-passphrase")
    return home


def admit(admin: Path, newcomer: Path, *extra: str) -> None:
    card = ok(newcomer, "card").strip()
    invite = ok(admin, "admit", card, *extra).strip()
    assert invite.startswith("commune-invite:")
    assert "Joined the network" in ok(newcomer, "join", invite)


def carry(source: Path, target: Path, tmp_path: Path, *extra: str) -> str:
    """Export from ``source`` and import into ``target``; the import's summary."""
    bundle = tmp_path / f"{source.name}-to-{target.name}.commune"
    ok(source, "export", str(bundle), *extra)
    return ok(target, "import", str(bundle))


def snapshot(home: Path) -> dict[str, Any]:
    """Everything a user can see of a node's state."""
    return {
        "members": js(home, "show", "members"),
        "reports": js(home, "show", "reports"),
        "plans": js(home, "show", "plans"),
        "contacts": js(home, "show", "contacts"),
        "unknown": js(home, "show", "unknown"),
        "state": ok(home, "state-hash").strip(),
    }


@pytest.fixture
def la_sv(tmp_path: Path) -> tuple[Path, Path]:
    """LA founds the network "Red" and admits SV (card, invite, join)."""
    la = make(tmp_path, "Los Angeles", "la")
    sv = make(tmp_path, "San Salvador", "sv")
    assert "Founded the network 'Red'" in ok(la, "found", "Red")
    admit(la, sv)
    return la, sv


def test_done_when_two_nodes_converge_by_sneakernet(
    tmp_path: Path, la_sv: tuple[Path, Path]
) -> None:
    la, sv = la_sv
    ok(la, "post", "report", "--title", "Asamblea", "--body", "Cuarenta vecinos.")
    plan = ok(
        la, "post", "plan", "--title", "Carta al dueño", "--owner", "Ana", "--due", "2026-12-01"
    ).strip()
    ok(la, "post", "contact", "--name", "Thandiwe", "--phone", "+27 11 555 0100")
    ok(la, "post", "contact", "--name", "Ana", "--to", "San Salvador")
    ok(sv, "post", "report", "--title", "Reunión de inquilinos", "--body", "Doce familias.")
    ok(sv, "post", "plan", "--title", "Mural", "--status", "doing")
    ok(sv, "post", "contact", "--name", "Priya", "--email", "priya@example.org")

    summary = carry(sv, la, tmp_path)
    # SV's three posts; the genesis and SV's admission (which came with its invite)
    assert "3 new, 2 already known" in summary
    ok(la, "post", "plan", "--edit", plan, "--status", "done")
    summary = carry(la, sv, tmp_path)
    assert "0 refused" in summary

    la_state, sv_state = snapshot(la), snapshot(sv)
    # contacts are private: each sees its own, and what was addressed to it
    la_contacts = {c["name"] for c in la_state.pop("contacts")}
    sv_contacts = {c["name"] for c in sv_state.pop("contacts")}
    assert la_contacts == {"Thandiwe", "Ana"}
    assert sv_contacts == {"Priya", "Ana"}
    assert la_state == sv_state
    assert {m["name"] for m in la_state["members"]} == {"Los Angeles", "San Salvador"}
    assert {p["title"]: p["status"] for p in la_state["plans"]} == {
        "Carta al dueño": "done",
        "Mural": "doing",
    }
    assert len(la_state["reports"]) == 2
    assert ok(la, "verify").startswith("ok:")
    assert ok(sv, "verify").startswith("ok:")
    # Nothing new: a second exchange changes nothing and reports it all as known.
    again = carry(la, sv, tmp_path)
    assert again.splitlines()[1].startswith("0 new")
    after = snapshot(sv)
    assert {c["name"] for c in after.pop("contacts")} == sv_contacts
    assert after == sv_state


def test_export_for_a_node_holds_only_what_it_lacks(
    tmp_path: Path, la_sv: tuple[Path, Path]
) -> None:
    la, sv = la_sv
    carry(sv, la, tmp_path)  # LA now knows SV's frontier
    ok(la, "post", "report", "--title", "Nuevo", "--body", "Solo esto.")
    out = ok(la, "export", str(tmp_path / "delta.commune"), "--for", "San Salvador")
    assert out.startswith("Wrote ")
    full = ok(la, "export", str(tmp_path / "full.commune"))
    lacking = int(out.split()[1])
    assert 0 < lacking < int(full.split()[1])
    assert "0 refused" in ok(sv, "import", str(tmp_path / "delta.commune"))
    assert ok(sv, "state-hash") == ok(la, "state-hash")


def test_rebuild_gives_the_same_state_hash(tmp_path: Path, la_sv: tuple[Path, Path]) -> None:
    la, sv = la_sv
    ok(sv, "post", "report", "--title", "Uno", "--body", "…")
    carry(sv, la, tmp_path)
    before = snapshot(la)
    ok(la, "rebuild")
    assert snapshot(la) == before


def test_revocation_cutoff_through_the_cli(tmp_path: Path, la_sv: tuple[Path, Path]) -> None:
    la, sv = la_sv
    for title in ("uno", "dos"):
        ok(sv, "post", "report", "--title", title, "--body", "…")
    carry(sv, la, tmp_path)
    sv_id = node_id(sv)
    seen = max(e["seq"] for e in js(la, "log") if e["author"] == sv_id)
    assert f"after seq {seen} no longer count" in ok(la, "revoke", "San Salvador")
    ok(sv, "post", "report", "--title", "tres (after the cutoff)", "--body", "…")
    summary = carry(sv, la, tmp_path)
    assert "1 new" in summary
    assert "1 not counted" in summary
    titles = {r["title"] for r in js(la, "show", "reports")}
    assert titles == {"uno", "dos"}
    member = next(m for m in js(la, "show", "members") if m["node_id"] == sv_id)
    assert (member["state"], member["cutoff"]) == ("revoked", seen)
    # the event after the cutoff is kept in the log, as evidence, and relayed
    assert max(e["seq"] for e in js(la, "log") if e["author"] == sv_id) == seen + 1
    # LA's bundles are sealed to the current members only: SV opens none of them now
    bundle = tmp_path / "after-revocation.commune"
    ok(la, "export", str(bundle))
    assert "not one of them" in refused(sv, "import", str(bundle))
    assert "is revoked" in refused(la, "export", str(bundle), "--to", "San Salvador")
    assert "only an admin" in refused(sv, "revoke", "Los Angeles")
    assert "revoked" in refused(la, "admit", ok(sv, "card").strip())


@pytest.fixture
def la_sv_gap(tmp_path: Path) -> tuple[Path, Path]:
    """As ``la_sv``, but LA posts before it admits SV: SV's invite carries its
    admission, which cannot be placed in SV's log before LA's report (a gap)."""
    la = make(tmp_path, "Los Angeles", "la")
    sv = make(tmp_path, "San Salvador", "sv")
    ok(la, "found", "Red")
    ok(la, "post", "report", "--title", "Bienvenida", "--body", "…")
    admit(la, sv)
    return la, sv


def test_events_are_held_until_their_authors_admission_arrives(tmp_path: Path) -> None:
    la = make(tmp_path, "Los Angeles", "la")
    sv = make(tmp_path, "San Salvador", "sv")
    india = make(tmp_path, "Mumbai", "in")
    ok(la, "found", "Red")
    admit(la, india)  # India's invite knows nothing of SV
    ok(la, "post", "report", "--title", "Bienvenida", "--body", "…")
    admit(la, sv)
    ok(sv, "post", "report", "--title", "Desde San Salvador", "--body", "…")
    # India has the genesis and its own admission, not LA's admission of SV
    summary = carry(sv, india, tmp_path)
    held = int(summary.splitlines()[1].split(", ")[2].split()[0])
    assert held >= 1
    assert js(india, "show", "reports") == []
    carry(la, india, tmp_path)  # the admission arrives: the held events are placed
    titles = {r["title"] for r in js(india, "show", "reports")}
    assert titles == {"Desde San Salvador", "Bienvenida"}
    carry(india, la, tmp_path)
    assert ok(india, "state-hash") == ok(la, "state-hash")


def test_an_admission_that_came_with_the_invite_counts_at_once(
    tmp_path: Path, la_sv: tuple[Path, Path]
) -> None:
    """LA's feed up to SV's admission is the genesis and the admission: the invite
    carries both, so SV's posts count on SV, and on any node SV's bundle reaches."""
    la, sv = la_sv
    ok(sv, "post", "report", "--title", "Primero", "--body", "…")
    result = commune(sv, "show", "reports")
    assert "admission" not in result.stderr
    assert "Primero" in result.stdout
    india = make(tmp_path, "Mumbai", "in")
    admit(la, india)
    # SV learns of India's admission (bundles are sealed to the members their exporter
    # knows), then its own bundle reaches India
    carry(india, sv, tmp_path)
    carry(sv, india, tmp_path)
    assert [r["title"] for r in js(india, "show", "reports")] == ["Primero"]


def test_a_fork_travels_in_bundles_and_marks_its_author(
    tmp_path: Path, la_sv: tuple[Path, Path]
) -> None:
    la, sv = la_sv
    ok(sv, "post", "report", "--title", "antes", "--body", "…")
    # SV's folder restored from a backup on a second machine: both copies write seq n+1
    twin = tmp_path / "sv-twin"
    shutil.copytree(sv, twin)
    ok(sv, "post", "report", "--title", "una", "--body", "…")
    # The command line refuses to write from a copied folder before asking a peer...
    assert "was copied here" in refused(twin, "post", "report", "--title", "otra")
    # ...so the twin writes the way a buggy or malicious copy would, past the guard.
    with Node.open(Home(twin)) as node:
        node.accept_feed_at_store()
        spec = POSTABLE["report"]
        node.post(Home(twin).unlock(None), [("report", spec.build({"title": "otra"}))])
    carry(sv, la, tmp_path)
    summary = carry(twin, la, tmp_path)
    assert "1 fork evidence" in summary
    sv_id = node_id(sv)
    member = next(m for m in js(la, "show", "members") if m["node_id"] == sv_id)
    fork_seq = max(e["seq"] for e in js(la, "log") if e["author"] == sv_id)
    assert (member["state"], member["forked_at"]) == ("forked", fork_seq)
    assert "una" not in {r["title"] for r in js(la, "show", "reports")}  # cut at f - 1
    assert "antes" in {r["title"] for r in js(la, "show", "reports")}
    # the evidence travels: a third node learns of the fork from LA alone
    india = make(tmp_path, "Mumbai", "in")
    admit(la, india)
    assert "1 fork evidence" in carry(la, india, tmp_path)
    assert snapshot(india) == snapshot(la)
    assert f"FORKED at seq {fork_seq}" in ok(la, "show", "members")


def test_an_unknown_kind_is_stored_listed_counted_and_relayed(
    tmp_path: Path, la_sv_gap: tuple[Path, Path]
) -> None:
    la, sv = la_sv_gap
    keys = Home(sv).unlock(None)
    with Node.open(Home(sv)) as node:
        poll = node.post(keys, [("poll", {"v": 1, "question": "¿Sábado o domingo?"})])[0]
    assert [u["kind"] for u in js(sv, "show", "unknown")] == []  # not counted before admission
    before = ok(la, "state-hash")
    carry(sv, la, tmp_path)
    unknown = js(la, "show", "unknown")
    assert [(u["id"], u["kind"], u["reason"]) for u in unknown] == [
        (poll.id.hex(), "poll", "unknown kind")
    ]
    assert ok(la, "state-hash") != before
    india = make(tmp_path, "Mumbai", "in")
    admit(la, india)
    carry(la, india, tmp_path)  # relayed by a node that cannot read it
    assert [u["id"] for u in js(india, "show", "unknown")] == [poll.id.hex()]
    carry(la, sv, tmp_path)
    assert ok(india, "state-hash") == ok(la, "state-hash") == ok(sv, "state-hash")


def _unchanged(home: Path) -> tuple[str, str]:
    return ok(home, "state-hash"), ok(home, "log", "--json")


def test_a_damaged_bundle_is_refused_and_changes_nothing(
    tmp_path: Path, la_sv: tuple[Path, Path]
) -> None:
    la, sv = la_sv
    ok(la, "post", "report", "--title", "Uno", "--body", "…")
    bundle = tmp_path / "la.commune"
    ok(la, "export", str(bundle))
    data = bundle.read_bytes()
    before = _unchanged(sv)

    truncated = tmp_path / "truncated.commune"
    truncated.write_bytes(data[: len(data) - 7])
    assert "the bundle is damaged" in refused(sv, "import", str(truncated))
    altered = tmp_path / "altered.commune"
    flipped = bytearray(data)
    flipped[len(data) // 2] ^= 0x01
    altered.write_bytes(bytes(flipped))
    assert "the bundle is damaged" in refused(sv, "import", str(altered))
    empty = tmp_path / "empty.commune"
    empty.write_bytes(b"")
    assert "bundle" in refused(sv, "import", str(empty))
    assert _unchanged(sv) == before

    # A bundle whose checksum is right but which holds one forged event: refused whole.
    with Node.open(Home(la)) as node:
        genesis = node.projector.genesis()
        assert genesis is not None
        good = [e.raw for e in node.store.events()][-1]
        header = BundleHeader(node.network, genesis.raw, node.node_id, Frontier(), 2, 0)
    stranger = fixed_key(77)
    forged = bytearray(forge(stranger, body=encoding.encode({"v": 1, "title": "x"})))
    forged[-3] ^= 0x01  # the body no longer matches its hash
    crafted = tmp_path / "crafted.commune"
    crafted.write_bytes(b"".join(write(header, iter([good, bytes(forged)]), [])))
    error = refused(sv, "import", str(crafted))
    assert "event 2 of the bundle is refused" in error
    assert "nothing was imported" in error
    assert _unchanged(sv) == before

    other = make(tmp_path, "Elsewhere", "other")
    ok(other, "found", "Otra red")
    other_bundle = tmp_path / "other.commune"
    ok(other, "export", str(other_bundle))
    # sealed to the other network's members, so SV cannot even open it
    assert "not one of them" in refused(sv, "import", str(other_bundle))
    # and a plain one (as older versions wrote) of another network is refused whole
    with Node.open(Home(other)) as node:
        genesis = node.projector.genesis()
        assert genesis is not None
        raws = [e.raw for e in node.store.events()]
        header = BundleHeader(node.network, genesis.raw, node.node_id, Frontier(), len(raws), 0)
    other_bundle.write_bytes(b"".join(write(header, iter(raws), [])))
    assert "another network" in refused(sv, "import", str(other_bundle))
    assert _unchanged(sv) == before


def test_a_new_node_is_told_its_posts_wait_for_its_admission(
    tmp_path: Path, la_sv_gap: tuple[Path, Path]
) -> None:
    la, sv = la_sv_gap
    ok(sv, "post", "report", "--title", "Primero", "--body", "…")
    result = commune(sv, "show", "reports")
    assert result.returncode == 0
    assert "1 own events will show once its admission reaches it" in result.stderr
    carry(la, sv, tmp_path)
    result = commune(sv, "show", "reports")
    assert "admission" not in result.stderr
    assert "Primero" in result.stdout


def test_posts_made_before_joining_stop_showing_until_the_admission_arrives(
    tmp_path: Path,
) -> None:
    la = make(tmp_path, "Los Angeles", "la")
    sv = make(tmp_path, "San Salvador", "sv")
    ok(sv, "post", "report", "--title", "Antes de unirnos", "--body", "…")
    assert len(js(sv, "show", "reports")) == 1  # in no network, a node counts its own
    ok(la, "found", "Red")
    ok(la, "post", "report", "--title", "Bienvenida", "--body", "…")
    admit(la, sv)  # its admission waits in SV's store for LA's report before it
    assert js(sv, "show", "reports") == []
    before = ok(sv, "state-hash")
    ok(sv, "rebuild")
    assert ok(sv, "state-hash") == before
    carry(la, sv, tmp_path)
    carry(sv, la, tmp_path)
    assert [r["title"] for r in js(la, "show", "reports")] == ["Antes de unirnos", "Bienvenida"]
    assert ok(sv, "state-hash") == ok(la, "state-hash")
