"""Reports for the paper (issue 17): version 2 of the report payload, with a state, the
link where the paper published it and the plans it contains; ``report.update`` of those
three, merged per field on every node; ``show reports --for-paper`` (the editors'
queue); ``export-report`` (Markdown); version-1 reports read through the upcaster as
drafts; and nodes of version 1 that relay version-2 reports they cannot read."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from node import daemon
from protocol import encoding
from protocol.errors import BadPayload
from protocol.kinds import Field, KindSpec, Listing, register, report, unregister
from protocol.kinds.base import RETRACT
from protocol.projections import read_payload
from tests.helpers import commune
from tests.net import Member, close_all, make_network
from tests.test_vectors import EVENTS

SPEC = report.SPEC
PLAN_ID = "ab" * 32


# --- the payload ----------------------------------------------------------------------


def test_a_version_1_report_reads_as_a_draft_of_version_2() -> None:
    old = {"v": 1, "title": "Asamblea", "body": "Vinieron cuarenta."}
    assert SPEC.read(old) == {**old, "v": 2, "state": "draft"}
    assert SPEC.read({"v": 1, "title": ""}) is None  # still unreadable when malformed
    # a version-1 reader gave no meaning to these names: neither does the upcaster
    odd = {"v": 1, "title": "t", "state": "sent", "link": "https://x", "plans": PLAN_ID}
    assert SPEC.read(odd) == {"v": 2, "title": "t", "state": "draft"}


def test_the_reports_of_the_golden_vectors_read_through_the_upcaster() -> None:
    """tests/vectors/events.json was written by version 1: its reports read as drafts."""
    from protocol.envelope import decode_event  # noqa: PLC0415

    read = 0
    for vector in EVENTS:
        if vector["fields"]["kind"] != "report" or "wire" not in vector:
            continue
        payload = read_payload(decode_event(bytes.fromhex(vector["wire"])))
        if payload is None or payload.get("v") != 1:
            continue
        current = SPEC.read(payload)
        assert current is not None
        assert current["v"] == 2
        assert current["state"] == "draft"
        read += 1
    assert read >= 3


def test_a_new_report_is_a_draft_and_a_published_one_needs_its_link() -> None:
    assert SPEC.build({"title": "t"}) == {"v": 2, "title": "t", "state": "draft"}
    built = SPEC.build(
        {"title": "t", "state": "published", "link": "https://paper.example/1", "plans": PLAN_ID}
    )
    assert SPEC.read(encoding.decode(encoding.encode(built))) == built
    with pytest.raises(BadPayload, match="'link' is required when 'state' is published"):
        SPEC.build({"title": "t", "state": "published"})


@pytest.mark.parametrize(
    ("values", "problem"),
    [
        ({"state": "printed"}, "'state' must be one of draft, for-paper, sent, published"),
        ({"link": "paper.example/1"}, "'link' must be a web address starting with https://"),
        ({"link": "https://a b"}, "'link' must be a web address"),
        ({"link": "https://" + "a" * 500}, "'link' is 508 characters; at most 500"),
        ({"plans": "abc"}, "'plans' must hold ids of plans (64 hex digits), not 'abc'"),
        ({"plans": f"{PLAN_ID} {PLAN_ID}"}, f"'plans' holds {PLAN_ID[:40]!r} twice"),
        ({"plans": " ".join(f"{i:064x}" for i in range(51))}, "'plans' has 51 entries"),
        ({"title": "a\x1bb"}, "'title' contains a control character"),
    ],
)
def test_bad_values_are_refused_naming_the_field(values: dict[str, str], problem: str) -> None:
    with pytest.raises(BadPayload, match=problem.replace("(", r"\(").replace(")", r"\)")):
        SPEC.build({"title": "t", **values})


def test_an_update_changes_the_state_link_and_plans_only() -> None:
    assert SPEC.build_update({"state": "sent"}) == {"state": "sent"}
    with pytest.raises(BadPayload, match="'title' cannot be changed once the report is written"):
        SPEC.build_update({"title": "other"})
    # a peer's update of the title is ignored when read (§5.3), the rest taken
    assert SPEC.read_update({"v": 1, "title": "x", "body": "y", "state": "sent"}) == {
        "state": "sent"
    }


# --- the command line, each command its own process --------------------------------------


def ok(home: Path, *args: str) -> str:
    result = commune(home, *args)
    assert result.returncode == 0, result.stderr
    return result.stdout


def _log_size(home: Path) -> int:
    return len(json.loads(ok(home, "log", "--json")))


@pytest.fixture
def la(tmp_path: Path) -> Path:
    home = tmp_path / "la"
    ok(home, "init", "--name", "Los Angeles", "--insecure-no-passphrase")
    ok(home, "found", "Red de colectivos")
    return home


def test_reports_go_through_the_queue_and_out_as_markdown(la: Path, tmp_path: Path) -> None:
    leaflets = ok(la, "post", "plan", "--title", "Print leaflets", "--owner", "Marisol",
                  "--due", "2026-03-20").strip()  # fmt: skip
    forum = ok(la, "post", "plan", "--title", "Forum | on Zoom").strip()
    first = ok(la, "post", "report", "--title", "Housing assembly", "--body",
               "Forty came.\n\nWe will print leaflets.", "--plan", leaflets[:8],
               "--plan", forum).strip()  # fmt: skip
    second = ok(la, "post", "report", "--title", "Clinic", "--state", "for-paper").strip()
    ok(la, "post", "report", "--title", "Still a draft")
    assert ok(la, "show", "reports", "--for-paper", "--json") != "[]"
    ok(la, "post", "report", "--edit", first[:8], "--state", "for-paper")

    queue = json.loads(ok(la, "show", "reports", "--for-paper", "--json"))
    assert [r["id"] for r in queue] == [first, second]  # oldest first
    assert queue[0]["plans"] == [leaflets, forum]  # a JSON array, whole ids
    assert queue[1]["plans"] == []
    assert queue[0]["state"] == "for-paper"
    assert queue[0]["link"] == ""
    text = ok(la, "show", "reports", "--for-paper")
    assert "for-paper  Housing assembly" in text
    assert "Still a draft" not in text

    day = queue[0]["time"][:10]
    expected = (
        "# Housing assembly\n"
        "\n"
        "- Collective: Los Angeles\n"
        f"- Written: {day}\n"
        "- State: for-paper\n"
        "\n"
        "Forty came.\n"
        "\n"
        "We will print leaflets.\n"
        "\n"
        "## Plans\n"
        "\n"
        "| Plan | Owner | Due | Status |\n"
        "|---|---|---|---|\n"
        "| Print leaflets | Marisol | 2026-03-20 | open |\n"
        "| Forum \\| on Zoom |  |  | open |\n"
    )
    assert ok(la, "export-report", first[:10]) == expected
    ok(la, "post", "report", "--edit", first[:8], "--state", "published", "--link",
       "https://paper.example/la/housing")  # fmt: skip
    out = tmp_path / "housing.md"
    result = commune(la, "export-report", first, "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    assert out.read_text(encoding="utf-8") == expected.replace(
        "- State: for-paper\n",
        "- State: published\n- Published: <https://paper.example/la/housing>\n",
    )
    assert out.stat().st_mode & 0o077 == 0
    assert [r["id"] for r in json.loads(ok(la, "show", "reports", "--for-paper", "--json"))] == [
        second
    ]
    # the list changes as a whole; an empty one clears it
    ok(la, "post", "report", "--edit", first[:8], "--plan", "")
    shown = json.loads(ok(la, "show", "reports", "--json"))
    assert next(r for r in shown if r["id"] == first)["plans"] == []
    assert "## Plans" not in ok(la, "export-report", first)


BAD_INPUT = [
    (("--title", "t", "--state", "printed"), "error: 'state' must be one of draft, "),
    (("--title", "t", "--state", "published"), "error: 'link' is required when 'state'"),
    (("--title", "t", "--link", "ftp://x"), "error: 'link' must be a web address"),
    (("--title", "t", "--plan", "xyz"), "error: --plan 'xyz' is not an id"),
    (("--title", "t", "--plan", "0123456"), "error: --plan: no plan has an id starting"),
    (("--title", ""), "error: 'title' is required"),
    (("--edit", "{report}", "--title", "x"), "error: 'title' cannot be changed once"),
    (("--edit", "{report}", "--state", "published"), "error: 'link' is required when"),
    (("--edit", "{report}", "--link", "https://x y"), "error: 'link' must be a web address"),
]


def test_bad_input_is_one_error_line_and_nothing_is_stored(tmp_path: Path) -> None:
    home = tmp_path / "la"
    ok(home, "init", "--name", "Los Angeles", "--insecure-no-passphrase")
    item = ok(home, "post", "report", "--title", "Assembly").strip()
    for args, message in BAD_INPUT:
        result = commune(home, "post", "report", *(a.format(report=item[:8]) for a in args))
        assert result.returncode != 0, args
        lines = [line for line in result.stderr.splitlines() if not line.startswith("WARNING")]
        assert len(lines) == 1, result.stderr
        assert lines[0].startswith(message), (args, lines[0])
    assert _log_size(home) == 1


def test_the_queue_and_export_refuse_what_they_do_not_take(la: Path) -> None:
    result = commune(la, "show", "plans", "--for-paper")
    assert result.returncode == 2
    assert "error: --for-paper applies to reports only, not plans" in result.stderr
    result = commune(la, "export-report", "abcdef")
    assert result.returncode == 1
    assert "error: no report has an id starting with abcdef" in result.stderr


# --- two nodes, synced over loopback ------------------------------------------------------


@pytest.fixture
def network(tmp_path: Path) -> Iterator[list[Member]]:
    members = make_network(tmp_path, ["Los Angeles", "El Salvador", "South Africa"])
    yield members
    close_all(members)


def _update(m: Member, item: bytes, **values: str) -> None:
    after = m.node.projector.item_latest("report", item)
    payload = {"v": 1, "of": item, "after": after, **SPEC.build_update(values)}
    m.node.post(m.keys, [("report.update", payload)])


def _report(m: Member, **values: str) -> bytes:
    return m.node.post(m.keys, [("report", SPEC.build(values))])[0].id


async def test_concurrent_changes_of_a_report_merge_the_same_on_both_nodes(
    network: list[Member],
) -> None:
    la, sv, _ = network
    item = _report(la, title="Asamblea de vivienda", body="Vinieron cuarenta.")
    await la.start()
    try:
        await daemon.sync_once(sv.node, sv.keys, [la.url])
        # at once, each without the other's change: LA sends it to the paper, SV links a plan
        _update(la, item, state="for-paper")
        _update(sv, item, plans=PLAN_ID, state="draft")
        await daemon.sync_once(sv.node, sv.keys, [la.url])
    finally:
        await la.stop()
    rows = {m.name: m.node.projector.rows("report") for m in (la, sv)}
    assert rows["Los Angeles"] == rows["El Salvador"]
    merged = rows["Los Angeles"][0]
    assert merged["plans"] == PLAN_ID  # only SV changed it
    assert merged["state"] in ("for-paper", "draft")  # the higher (rank, author), on both
    assert merged["title"] == "Asamblea de vivienda"
    assert la.state() == sv.state()


#: the report as version 1 of Commune had it: what an older node knows
V1 = KindSpec(
    name="report",
    help="What the collective did and learned.",
    version=1,
    fields=(
        Field("title", "a one-line title", required=True, max_len=200),
        Field("body", "the text of the report", max_len=20000, multiline=True),
    ),
    edits=(RETRACT,),
    listing=Listing(show=("ts", "title")),
    order=10,
)


@contextlib.contextmanager
def version_1() -> Iterator[None]:
    """This process reads reports as a node of version 1 does, until the block ends."""
    unregister("report")
    register(V1)
    try:
        yield
    finally:
        unregister("report")
        register(SPEC)


def test_nodes_of_version_1_relay_version_2_reports_and_show_them_as_unknown(
    network: list[Member],
) -> None:
    la, sv, za = network
    new = _report(la, title="Para el periódico", state="for-paper", plans=PLAN_ID)
    _update(la, new, state="sent")
    with version_1():
        sv.node.post(sv.keys, [("report", V1.build({"title": "Old one"}))])
        sv.node.ingest([e.raw for e in la.node.store.events()])
        za.node.ingest([e.raw for e in sv.node.store.events()])  # ZA hears LA through SV
        for m in (sv, za):
            unknown = {u["id"]: (u["kind"], u["reason"]) for u in m.node.projector.unknown()}
            assert unknown[new.hex()] == ("report", "unreadable payload")
            assert ("report.update", "unknown kind") in unknown.values()
            assert [r["title"] for r in m.node.projector.rows("report")] == ["Old one"]
            assert m.node.verify() == []
        # relayed whole: the bytes LA wrote
        assert {e.raw for e in za.node.store.events()} >= {e.raw for e in la.node.store.events()}
    la.node.ingest([e.raw for e in sv.node.store.events()])
    for m in (sv, za):  # upgraded: the same reports as LA, the old one a draft
        m.node.rebuild()
    rows = la.node.projector.rows("report")
    assert {(r["title"], r["state"]) for r in rows} == {
        ("Para el periódico", "sent"),
        ("Old one", "draft"),
    }
    assert sv.node.projector.rows("report") == rows == za.node.projector.rows("report")
    assert la.state() == sv.state() == za.state()
