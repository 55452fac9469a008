"""The lists of a dated kind (plans) read by the date and the "still to do" kept beside
each item (schema 5, ``dated_key`` and ``open``: node/projector.py, node/web/data.py)
show exactly what the general rules give, worked out item by item in Python from the
items (``Listing.is_overdue``, the orders of ``Listing.sorts``): the same rows in the
same order on every page, the same totals and the same count of overdue plans, with
dates equal, missing, edited later, statuses changed, plans erased, plans of two
collectives, items behind the log; the keys are rebuilt the same from the log, checked
by ``verify``, and filled when a store of schema 4 is opened."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from crypto.atrest import sqlcipher_key
from node import network
from node.cipherdb import connect
from node.search import fold
from node.service import Node, check_many
from node.store import SCHEMA_VERSION
from node.web.data import Reader
from node.web.lists import PAGE_SIZE, Filters
from protocol.kinds import POSTABLE
from protocol.kinds.base import LAST_KEY
from protocol.kinds.plan import STATUSES
from tests.net import Member, close_all, make_network
from tests.test_kill_sync import projections
from tests.web_search import undated

TODAY = "2026-06-01"
SPEC = POSTABLE["plan"]
#: many plans share each date; "" is a plan without one
DUES = ["", "2026-05-01", "2026-06-01", "2026-06-02", "2026-05-01", "2027-01-01", "2025-12-31"]
OWNERS = ["Rosa", "", "ana", "Ána María", "rosa"]


def _values(i: int, where: str) -> dict[str, str]:
    values = {
        "title": f"{'pintar' if i % 3 == 0 else 'limpiar'} {where} {i}",
        "due": DUES[i % len(DUES)],
        "status": STATUSES[i % len(STATUSES)],
    }
    if OWNERS[i % len(OWNERS)]:
        values["owner"] = OWNERS[i % len(OWNERS)]
    return {k: v for k, v in values.items() if v}


def _post_plans(m: Member, count: int, where: str) -> list[bytes]:
    made = m.node.post(m.keys, [("plan", SPEC.build(_values(i, where))) for i in range(count)])
    return [e.id for e in made]


def _update(m: Member, plan: bytes, change: dict[str, str | None]) -> None:
    after = m.node.projector.item_latest("plan", plan)
    payload = SPEC.build_update(change)
    m.node.post(m.keys, [("plan.update", {"v": 1, "of": plan, "after": after, **payload})])


@pytest.fixture
def pair(tmp_path: Path) -> Iterator[list[Member]]:
    """Los Angeles and San Salvador each hold the plans of both, some edited since (a
    date moved, taken away or given; a status changed), one erased."""
    members = make_network(tmp_path, ["Los Angeles", "San Salvador"])
    la, sv = members
    mine = _post_plans(la, 130, "LA")
    _post_plans(sv, 40, "SV")
    for n, plan in enumerate(mine[::6]):
        _update(la, plan, {"due": DUES[(n + 3) % len(DUES)]})
    for n, plan in enumerate(mine[1::5]):
        _update(la, plan, {"status": STATUSES[(n + 2) % len(STATUSES)]})
    _update(la, mine[2], {"due": None})
    _update(la, mine[3], {"due": "2026-05-01", "status": "doing"})
    network.redact(la.node, la.keys, mine[4].hex())
    sv.node.ingest([e.raw for e in la.node.store.events()])
    la.node.ingest([e.raw for e in sv.node.store.events()])
    yield members
    close_all(members)


def _order_key(sort: str) -> Any:
    """The order of ``sort`` by the rules of node/web/data.py ``_order``, on a row."""

    def due(row: dict[str, Any]) -> str:
        return str(row["due"] or LAST_KEY)

    def newest(row: dict[str, Any]) -> tuple[int, str]:
        return (-int(row["ts"]), row["id"])

    if sort == "due":
        return lambda r: (due(r), *newest(r))
    if sort == "status":
        at = {s: i for i, s in enumerate(STATUSES)}
        return lambda r: (
            at.get(r["status"], len(STATUSES) + 1 if r["status"] == "" else len(STATUSES)),
            due(r),
            *newest(r),
        )
    if sort == "owner":
        return lambda r: (fold(r["owner"]) or LAST_KEY, due(r), *newest(r))
    return newest


def _expected(rows: list[dict[str, Any]], filters: Filters) -> list[dict[str, Any]]:
    """The plans a list shows, worked out one by one, in its order."""
    kept = []
    for row in rows:
        if filters.overdue and not SPEC.listing.is_overdue(row, TODAY):
            continue
        if filters.dated_from and not (row["due"] and row["due"] >= filters.dated_from):
            continue
        if filters.dated_to and not ("0" <= row["due"] <= filters.dated_to):
            continue
        status, owner = filters.value("status"), filters.value("owner")
        if status and row["status"] != status:
            continue
        if owner and fold(owner) not in fold(row["owner"]):
            continue
        if filters.q and filters.q not in row["title"].split():
            continue
        kept.append(row)
    return sorted(kept, key=_order_key(filters.sort))


CASES = [
    Filters(sort="due"),
    Filters(sort="due", overdue=True),
    Filters(sort="newest", overdue=True),
    Filters(sort="status", overdue=True),
    Filters(sort="status"),
    Filters(sort="owner"),
    Filters(sort="owner", overdue=True),
    Filters(sort="due", dated_from="2026-05-01"),
    Filters(sort="due", dated_to="2026-06-01"),
    Filters(sort="newest", dated_from="2026-05-02", dated_to="2026-12-31"),
    Filters(sort="due", fields=(("status", "open"),)),
    Filters(sort="due", overdue=True, fields=(("owner", "rosa"),)),
    Filters(sort="due", q="pintar"),
    Filters(sort="due", overdue=True, q="limpiar"),
]


def assert_lists_as_expected(node: Node) -> None:
    rows = node.projector.rows("plan")
    reader = Reader(node)
    try:
        for filters in CASES:
            expected = _expected(rows, filters)
            pages = max(1, -(-len(expected) // PAGE_SIZE))
            for page in range(1, pages + 2):  # and one past the end
                asked = Filters(**{**_fields(filters), "page": page})
                got = reader.items_page(SPEC, asked, TODAY)
                want = expected[(page - 1) * PAGE_SIZE : page * PAGE_SIZE]
                assert [r["id"] for r in got.rows] == [r["id"] for r in want], (filters, page)
                assert [r["overdue"] for r in got.rows] == [
                    SPEC.listing.is_overdue(r, TODAY) for r in want
                ]
                assert got.total == len(expected), filters
        overdue = [r for r in rows if SPEC.listing.is_overdue(r, TODAY)]
        assert reader.count_overdue(SPEC, TODAY) == len(overdue)
        for day in ("2025-01-01", "2026-05-02", "2026-06-02", "2030-01-01"):
            late = [r for r in rows if SPEC.listing.is_overdue(r, day)]
            assert reader.count_overdue(SPEC, day) == len(late)
    finally:
        reader.close()


def _fields(filters: Filters) -> dict[str, Any]:
    names = ("q", "fields", "overdue", "dated_from", "dated_to", "sort")
    return {name: getattr(filters, name) for name in names}


def test_the_lists_by_date_and_of_the_overdue_are_those_the_rules_give(
    pair: list[Member],
) -> None:
    for m in pair:
        rows = m.node.projector.rows("plan")
        assert len(rows) == 130 + 40 - 1  # one erased
        dues = [r["due"] for r in rows]
        assert dues.count("") > 5  # plans without a date
        assert dues.count("2026-05-01") > 5  # plans on the same date
        assert any(SPEC.listing.is_overdue(r, TODAY) for r in rows)
        assert_lists_as_expected(m.node)


def test_the_keys_kept_are_rebuilt_the_same_and_verify_checks_them(pair: list[Member]) -> None:
    la, _ = pair
    held = projections(la.node)
    kept = la.node.store.execute(
        "SELECT count(*) FROM items WHERE dated_key IS NOT NULL AND open IS NOT NULL"
    )
    assert kept == [(len(la.node.store.execute("SELECT 1 FROM items WHERE kind = 'plan'")),)]
    la.node.rebuild()
    assert projections(la.node) == held
    assert la.node.verify() == []
    with la.node.store.write():
        la.node.store.execute(
            "UPDATE items SET open = 1 - open WHERE rowid = "
            "(SELECT min(rowid) FROM items WHERE kind = 'plan')"
        )
    faults = la.node.verify()
    assert [f.code for f in faults] == ["search-index"]
    assert "date or status kept beside 1 item(s)" in faults[0].message
    la.node.rebuild()
    assert projections(la.node) == held
    assert la.node.verify() == []


def test_a_store_of_schema_4_gets_its_keys_on_first_open(pair: list[Member]) -> None:
    la, _ = pair
    held = projections(la.node)
    la.node.close()
    db = connect(la.home.store_path, sqlcipher_key(la.home.store_key), isolation_level=None)
    try:  # the encrypted store as schema 4 left it
        undated(db)
        db.execute("PRAGMA user_version = 4")
        columns = [r[1] for r in db.execute("PRAGMA table_info(items)").fetchall()]
        assert "dated_key" not in columns
    finally:
        db.close()
    la.node = Node.open(la.home)
    store = la.node.store
    assert int(store.execute("PRAGMA user_version")[0][0]) == SCHEMA_VERSION == 6
    assert projections(la.node) == held  # nothing lost, the keys as the projector keeps them
    assert store.execute("SELECT name FROM sqlite_master WHERE name = 'idx_items_dated'")
    assert la.node.verify() == []
    assert_lists_as_expected(la.node)


def test_items_behind_the_log_get_their_keys_as_they_follow(tmp_path: Path) -> None:
    members = make_network(tmp_path, ["Los Angeles", "San Salvador"])
    la, sv = members
    try:
        plans = _post_plans(la, 300, "LA")
        for plan in plans[::4]:
            _update(la, plan, {"status": "done", "due": "2026-05-15"})
        raws = [e.raw for e in la.node.store.events()]
        half = len(raws) // 2
        sv.node.ingest_checked(check_many(raws[:half]), behind=True)
        sv.node.ingest_checked(check_many(raws[half:]), behind=True)
        assert sv.node.projector.behind() > 0
        sv.node.close()  # as a process stopped here leaves it
        sv.node = Node.open(sv.home)  # the items follow the log when it opens
        assert sv.node.projector.behind() == 0
        held = projections(sv.node)
        assert held[0] == projections(la.node)[0]
        sv.node.rebuild()
        assert projections(sv.node) == held
        assert sv.node.verify() == []
        assert_lists_as_expected(sv.node)
    finally:
        close_all(members)
