"""Items behind the log (node/projector.py): a large intake stores its batches in the
log first and the items follow, each chunk in its own transaction with the mark of how
far they hold the log. Whatever happens in between, the items a node shows once it is
opened, or once the intake ends, are those a rebuild from its log gives; what decides
what the log takes in (the membership, redactions) never waits.

tests/test_kill_sync.py kills a real ``commune sync`` while the items catch up."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from node import network
from node.projector import CATCH_UP_BATCH, CATCH_UP_BYTES
from node.service import Node, check_many
from protocol.kinds import POSTABLE
from tests.net import Member, close_all, make_network, until
from tests.test_kill_sync import projections
from tests.test_web_http import served

REPORTS = 3000
BATCH = 1000


@pytest.fixture
def pair(tmp_path: Path) -> Iterator[tuple[Member, Member]]:
    """Los Angeles holds REPORTS reports; El Salvador only the admissions (India is a
    member too)."""
    members = make_network(tmp_path, ["Los Angeles", "El Salvador", "India"], roomy=True)
    la, sv = members[:2]
    spec = POSTABLE["report"]
    for start in range(0, REPORTS, BATCH):
        la.node.post(
            la.keys,
            [
                ("report", spec.build({"title": f"r{i}", "body": f"body {i}"}))
                for i in range(start, start + BATCH)
            ],
        )
    yield la, sv
    close_all(members)


def batches(member: Member) -> list[list[bytes]]:
    raws = [e.raw for e in member.node.store.events()]
    return [raws[start : start + BATCH] for start in range(0, len(raws), BATCH)]


def assert_as_rebuilt(node: Node) -> None:
    held = projections(node)
    node.rebuild()
    assert projections(node) == held, "the items differ from a rebuild of the log"


def test_a_large_intake_stores_the_log_first_and_its_items_follow(
    pair: tuple[Member, Member],
) -> None:
    la, sv = pair
    results = sv.node.ingest_batches(batches(la))
    first = next(results)
    assert first.new > 0
    # the first batch is in the log, its reports not yet in the items
    assert sv.node.projector.held_upto() is not None
    assert sv.node.projector.behind() == first.new  # every new event of the batch
    assert not sv.titles()
    rest = list(results)
    assert sum(r.new for r in [first, *rest]) == REPORTS
    assert sv.node.projector.held_upto() is None
    assert sv.node.projector.behind() == 0
    assert len(sv.titles()) == REPORTS
    assert sv.state() == la.state()
    assert_as_rebuilt(sv.node)


def test_an_intake_cut_before_its_items_followed_is_caught_up_when_the_node_opens(
    pair: tuple[Member, Member],
) -> None:
    la, sv = pair
    for raws in batches(la)[:2]:
        sv.node.ingest_checked(check_many(raws), behind=True)
    assert sv.node.projector.behind() > 0
    sv.node.close()  # as a process killed here leaves it
    with Node.open(sv.home) as opened:
        assert opened.projector.held_upto() is None
        assert (
            len(opened.projector.rows("report")) == 2 * BATCH - 4
        )  # the genesis, the limits and two admissions first
        assert opened.verify() == []
        assert_as_rebuilt(opened)
    sv.node = Node.open(sv.home)


def test_a_post_while_the_items_are_behind_shows_at_once_and_nothing_twice(
    pair: tuple[Member, Member],
) -> None:
    la, sv = pair
    sv.node.ingest_checked(check_many(batches(la)[0]), behind=True)
    assert sv.node.projector.behind() > 0
    sv.post("from San Salvador")
    assert sv.titles() == {"from San Salvador"}  # the post's item at once, the rest behind
    assert sv.node.catch_up() == BATCH - 4 + 1  # the batch's reports and the post
    assert len(sv.titles()) == BATCH - 4 + 1
    assert_as_rebuilt(sv.node)


def test_a_redaction_or_a_revocation_in_an_intake_is_applied_at_once(
    pair: tuple[Member, Member],
) -> None:
    la, sv = pair
    for raws in batches(la):
        sv.node.ingest_checked(check_many(raws), behind=True)
    assert sv.node.projector.held_upto() is not None
    # a batch holding a redaction: the items are brought up to date in its transaction
    target = next(e for e in la.node.store.events() if e.kind == "report")
    redaction = network.redact(la.node, la.keys, target.id.hex())
    result = sv.node.ingest_checked(check_many([redaction.raw]), behind=True)
    assert result.erased == 1
    assert sv.node.projector.held_upto() is None
    assert len(sv.titles()) == REPORTS - 1
    assert_as_rebuilt(sv.node)
    # a revocation shrinks the membership: a rebuild, in the batch's transaction
    la.post("after the redaction")
    sv.node.ingest_checked(check_many([e.raw for e in la.node.store.events()][-1:]), behind=True)
    assert sv.node.projector.held_upto() is not None
    india = next(m for m in la.node.projector.members() if m["name"] == "India")
    revoked, _, _ = network.revoke(la.node, la.keys, india["node_id"])
    sv.node.ingest_checked(check_many([revoked.raw]), behind=True)
    assert sv.node.projector.held_upto() is None
    assert "after the redaction" in sv.titles()
    assert_as_rebuilt(sv.node)


async def test_the_web_view_says_the_items_are_behind_until_they_follow(
    pair: tuple[Member, Member],
) -> None:
    la, sv = pair
    first = sv.node.ingest_checked(check_many(batches(la)[0]), behind=True)
    async with served(sv) as site:
        for path in ("/", "/reports"):
            _, page, _ = await site.get(path)
            assert f"{first.new} events that arrived are still being added" in page
        sv.node.catch_up()
        _, page, _ = await site.get("/reports")
        assert "still being added" not in page
        assert "r995" in page  # the newest report of the batch, now shown


async def test_the_calendar_drawn_while_behind_is_drawn_again_once_caught_up(
    pair: tuple[Member, Member],
) -> None:
    la, sv = pair
    la.node.post(
        la.keys, [("plan", POSTABLE["plan"].build({"title": "Banner", "due": "2026-12-10"}))]
    )
    raws = [e.raw for e in la.node.store.events()]
    sv.node.ingest_checked(check_many(raws), behind=True)
    async with served(sv) as site:
        for path in ("/calendar?date=2026-12-09", "/calendar.ics"):
            _, page, _ = await site.get(path)
            assert "Banner" not in page
        sv.node.catch_up()
        for path in ("/calendar?date=2026-12-09", "/calendar.ics"):
            _, page, _ = await site.get(path)
            assert "Banner" in page, path


async def test_a_running_node_brings_items_left_behind_up_once_nothing_arrives(
    pair: tuple[Member, Member],
) -> None:
    """A round cut short (its time limit) before the items followed: the serving node's
    watcher brings them up once the log stops growing, with no round needed."""
    la, sv = pair
    sv.node.ingest_checked(check_many(batches(la)[0]), behind=True)
    assert sv.node.projector.held_upto() is not None
    await sv.start()
    try:
        await until(lambda: sv.node.projector.held_upto() is None, what="the catch-up")
        assert len(sv.titles()) == BATCH - 4
        assert_as_rebuilt(sv.node)
    finally:
        await sv.stop()


def test_the_catch_up_reads_a_few_mib_at_a_time_however_large_the_events(
    pair: tuple[Member, Member],
) -> None:
    """After 3,000 small reports, 150 of 19 KB: a step of the catch-up reads at most
    CATCH_UP_BYTES of them (about 110), not CATCH_UP_BATCH (38 MB), and the steps
    together reach the log's end."""
    la, sv = pair
    spec = POSTABLE["report"]
    body = "palabra " * 2400
    la.node.post(
        la.keys,
        [("report", spec.build({"title": f"big {i}", "body": body})) for i in range(150)],
    )
    raws = [e.raw for e in la.node.store.events()]
    for start in range(0, len(raws), 500):
        sv.node.ingest_checked(check_many(raws[start : start + 500]), behind=True)
    steps = []
    while sv.node.projector.held_upto() is not None:
        with sv.node.store.write():
            steps.append(sv.node.projector.catch_up_step())
    assert sum(steps) == len(raws) - 4  # all but the genesis, the limits, two admissions
    assert steps[0] == CATCH_UP_BATCH
    # the step after the first holds the last small reports and the big ones up to
    # CATCH_UP_BYTES, cut short of CATCH_UP_BATCH; the last, big ones only
    assert len(steps) >= 3
    assert all(0 < step < CATCH_UP_BATCH for step in steps[1:])
    assert steps[-1] <= CATCH_UP_BYTES // len(raws[-1]) + 1
    assert len(sv.titles()) == REPORTS + 150
    assert_as_rebuilt(sv.node)
