"""Concentrations (issue 17): every item kind carries tags (``KindSpec.tags``, the field
``TAGS`` of protocol/kinds/base.py), posted with ``--tag`` (repeatable), replaced by an
edit, filtered by ``show <plural> --tag`` and by the web view's lists, for every kind,
public or private, including one registered later."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from node import daemon
from node.home import Home
from node.service import Node
from node.web import start_web
from protocol.errors import BadPayload
from protocol.kinds import POSTABLE, Field, KindSpec
from protocol.kinds.base import TAGS
from tests.helpers import commune
from tests.net import Member, close_all, make_network
from tests.web_owner import owner_session


def ok(home: Path, *args: str) -> str:
    result = commune(home, *args)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_every_kind_carries_tags_and_its_list_filters_by_them() -> None:
    later = KindSpec(name="memo", help="h", version=1, fields=(Field("title", "t"),))
    for spec in [*POSTABLE.values(), later]:
        assert spec.fields[-1] is TAGS, spec.name
        assert "tags" in spec.listing.filters, spec.name
    untagged = KindSpec(name="memo", help="h", version=1, fields=(Field("t", "t"),), tags=False)
    assert untagged.field_names() == ("t",)


@pytest.mark.parametrize(
    ("tags", "problem"),
    [
        ("a!b", "'tags' has '!' in the tag 'a!b': letters, digits, - and _ only"),
        ("a" * 33, "'tags' has a tag of 33 characters"),
        ("a b c d e f g h i", "'tags' has 9 entries; at most 8"),
        ("salud Salud", "'tags' holds 'salud' twice"),
        ("a\x1bb", "'tags' contains a control character"),
        ("a/b", "'tags' has '/' in the tag"),
    ],
)
def test_bad_tags_are_refused_naming_the_field(tags: str, problem: str) -> None:
    with pytest.raises(BadPayload, match=problem):
        POSTABLE["plan"].build({"title": "t", "tags": tags})


def test_tags_are_folded_and_any_script_is_a_tag() -> None:
    built = POSTABLE["report"].build({"title": "t", "tags": "  Vivienda  संगठन salud_pública "})
    assert built["tags"] == "vivienda संगठन salud_pública"
    assert POSTABLE["report"].read(built) == built


def test_tags_are_posted_replaced_and_filtered_by_the_command(tmp_path: Path) -> None:
    home = tmp_path / "la"
    ok(home, "init", "--name", "Los Angeles", "--insecure-no-passphrase")
    leaflets = ok(home, "post", "plan", "--title", "Leaflets", "--tag", "Vivienda",
                  "--tag", "salud").strip()  # fmt: skip
    ok(home, "post", "plan", "--title", "Clinic", "--tag", "salud")
    contact = ok(home, "post", "contact", "--name", "Ana", "--tag", "vivienda").strip()
    shown = json.loads(ok(home, "show", "plans", "--tag", "SALUD", "--json"))
    assert [(r["title"], r["tags"]) for r in shown] == [
        ("Leaflets", ["vivienda", "salud"]),
        ("Clinic", ["salud"]),
    ]
    assert "Leaflets" in ok(home, "show", "plans", "--tag", "vivienda", "--tag", "salud")
    assert "Clinic" not in ok(home, "show", "plans", "--tag", "vivienda", "--tag", "salud")
    assert [r["id"] for r in json.loads(ok(home, "show", "contacts", "--tag", "vivienda",
                                           "--json"))] == [contact]  # fmt: skip
    ok(home, "post", "plan", "--edit", leaflets[:8], "--tag", "huelga")  # replaces the list
    assert [r["title"] for r in json.loads(ok(home, "show", "plans", "--tag", "huelga",
                                              "--json"))] == ["Leaflets"]  # fmt: skip
    assert json.loads(ok(home, "show", "plans", "--tag", "vivienda", "--json")) == []
    ok(home, "post", "plan", "--edit", leaflets[:8], "--tag", "")  # and empties it
    rows = json.loads(ok(home, "show", "plans", "--json"))
    assert next(r for r in rows if r["id"] == leaflets)["tags"] == []

    before = len(json.loads(ok(home, "log", "--json")))
    for args in (("--tag", "a!b"), ("--tag", "x" * 33), ("--tag", "a", "--tag", "A")):
        result = commune(home, "post", "report", "--title", "t", *args)
        assert result.returncode == 1
        lines = [x for x in result.stderr.splitlines() if not x.startswith("WARNING")]
        assert len(lines) == 1, result.stderr
        assert lines[0].startswith("error: 'tags' ")
    assert len(json.loads(ok(home, "log", "--json"))) == before


async def test_the_web_views_lists_filter_by_tag(tmp_path: Path) -> None:
    home = tmp_path / "la"
    ok(home, "init", "--name", "Los Angeles", "--insecure-no-passphrase")
    ok(home, "post", "plan", "--title", "T-leaflets", "--tag", "vivienda", "--tag", "salud")
    ok(home, "post", "plan", "--title", "T-clinic", "--tag", "salud-mental")
    ok(home, "post", "contact", "--name", "T-ana", "--tag", "vivienda")
    ok(home, "post", "contact", "--name", "T-luis")
    node = Node.open(Home(home))
    runner, _ = await start_web(node, Home(home).unlock(None), host="127.0.0.1", port=0)
    try:
        session, _ = await owner_session(node.home.path)
        try:
            for path, params, titles in [
                ("/plans", {"tags": "salud"}, ["T-leaflets"]),  # a whole tag, not a part
                ("/plans", {"tags": "SALUD-mental"}, ["T-clinic"]),
                ("/plans", {}, ["T-clinic", "T-leaflets"]),
                ("/contacts", {"tags": "vivienda"}, ["T-ana"]),  # private, opened in memory
            ]:
                async with session.get(path, params=params) as response:
                    assert response.status == 200
                    html = await response.text()
                assert sorted(t for t in ("T-leaflets", "T-clinic", "T-ana", "T-luis")
                              if t in html) == titles, (path, params)  # fmt: skip
            async with session.get("/plans", params={"lang": "es"}) as response:
                assert "Concentraciones" in await response.text()
        finally:
            await session.close()
    finally:
        await runner.cleanup()
        node.close()


@pytest.fixture
def pair(tmp_path: Path) -> Iterator[list[Member]]:
    members = make_network(tmp_path, ["Los Angeles", "El Salvador"])
    yield members
    close_all(members)


async def test_tags_changed_at_once_on_two_nodes_end_the_same(pair: list[Member]) -> None:
    la, sv = pair
    spec = POSTABLE["plan"]
    item = la.node.post(la.keys, [("plan", spec.build({"title": "Paro", "tags": "huelga"}))])
    await la.start()
    try:
        await daemon.sync_once(sv.node, sv.keys, [la.url])
        for m, tags in ((la, "huelga salud"), (sv, "vivienda")):
            after = m.node.projector.item_latest("plan", item[0].id)
            payload = {"v": 1, "of": item[0].id, "after": after, "tags": tags}
            m.node.post(m.keys, [("plan.update", payload)])
        await daemon.sync_once(sv.node, sv.keys, [la.url])
    finally:
        await la.stop()
    rows = [m.node.projector.rows("plan") for m in pair]
    assert rows[0] == rows[1]
    assert rows[0][0]["tags"] in ("huelga salud", "vivienda")  # one whole list, never mixed
    assert la.state() == sv.state()


def test_a_store_projected_before_tags_is_folded_again_on_open(tmp_path: Path) -> None:
    """Every item now holds a ``tags`` register: a store whose projections an earlier
    version built (no such register) folds its log again on open, so that its state
    hash is the one every other node has for the same events."""
    from node.projector import PROJECTED_BY  # noqa: PLC0415
    from protocol.projections import ItemState  # noqa: PLC0415

    home = tmp_path / "la"
    ok(home, "init", "--name", "Los Angeles", "--insecure-no-passphrase")
    ok(home, "post", "plan", "--title", "Leaflets", "--tag", "vivienda")
    ok(home, "post", "report", "--title", "Assembly")
    fresh = ok(home, "state-hash")
    node = Node.open(Home(home))
    try:
        store = node.store
        with store.write():
            for kind, item_id, state in store.execute("SELECT kind, id, state FROM items"):
                old = ItemState.decode(bytes(state))
                fields = tuple((n, r) for n, r in old.fields if n != "tags")
                store.execute(
                    "UPDATE items SET state = ? WHERE kind = ? AND id = ?",
                    (ItemState(old.kind, old.id, old.author, old.ts, fields).encode(), kind,
                     item_id),
                )  # fmt: skip
            version = store.get_meta(PROJECTED_BY) or ""
            store.set_meta(PROJECTED_BY, "1" + version[version.index(";") :])
        stale = node.projector.state_hash().hex()
    finally:
        node.close()
    assert stale not in fresh  # the hash of such a store, not folded again, differs
    assert ok(home, "state-hash") == fresh
