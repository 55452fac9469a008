"""A kind is one spec (protocol/kinds): a throwaway kind, "note", registered here at test
time with no other change to the code, is posted and edited with the real command in
its own process, listed by ``show notes --json``, shown on the web view's list and
event pages over real HTTP, synced between two real nodes and merged like any other
kind; the docs' kinds tables are current, and would name a new kind.

This module is also the throwaway kind's module: the command's process registers its
``SPEC`` through ``$COMMUNE_EXTRA_KINDS`` (node/cli_items.py), exactly as the registry
registers the ``SPEC`` of a module of protocol/kinds.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from types import ModuleType

import aiohttp
import pytest

from node import daemon
from node.cli_items import EXTRA_KINDS
from node.home import Home
from node.service import Node
from node.web import start_web
from protocol import encoding
from protocol.kinds import (
    EDITS,
    KNOWN,
    POSTABLE,
    Field,
    KindSpec,
    Listing,
    register,
    text_problem,
    unregister,
)
from protocol.kinds.base import DELETE, UPDATE
from tests.helpers import ROOT, commune
from tests.net import Member, close_all, make_network
from tests.web_owner import owner_session

#: the throwaway kind: the whole of what a new kind needs
SPEC = KindSpec(
    name="note",
    help="A short note for the collective.",
    version=1,
    fields=(
        Field("title", "what it is about", required=True, max_len=200),
        Field("body", "the note", max_len=5000, multiline=True),
    ),
    edits=(UPDATE, DELETE),
    listing=Listing(show=("ts", "title")),
    order=40,
)
ENV = {EXTRA_KINDS: __name__}

#: a kind listed like none of the built-in ones: its own choices, text and date fields
TASK = KindSpec(
    name="task",
    help="A task with a state, whoever took it and a date.",
    version=1,
    fields=(
        Field("title", "what", required=True, max_len=200),
        Field("who", "who took it", max_len=100),
        Field("by", "by when, YYYY-MM-DD", max_len=10, date=True),
        Field(
            "state",
            "todo, blocked or finished",
            max_len=10,
            default="todo",
            choices=("todo", "blocked", "finished"),
        ),
    ),
    listing=Listing(
        layout="table",
        columns=("title", "who", "by", "state"),
        sorts=(("state", "state"), ("who", "who"), ("by", "date"), ("newest", "newest")),
        filters=("state", "who", "overdue"),
        dated_by="by",
        still_open=("state", ("todo", "blocked")),
    ),
    order=45,
)


@pytest.fixture
def note() -> Iterator[KindSpec]:
    register(SPEC)
    try:
        yield SPEC
    finally:
        unregister(SPEC.name)


# --- the registry --------------------------------------------------------------------


def test_every_kind_module_is_registered_without_being_named() -> None:
    found = {
        path.stem
        for path in (ROOT / "protocol" / "kinds").glob("*.py")
        if re.search(r"^SPEC = KindSpec\(", path.read_text(), re.M)
    }
    assert found == {"report", "plan", "meeting", "shift", "contact"}
    assert list(POSTABLE) == ["report", "plan", "meeting", "shift", "contact"]  # in their order
    assert list(EDITS) == [
        "report.update",
        "report.retract",
        "plan.update",
        "meeting.update",
        "shift.update",
        "shift.take",
        "shift.leave",
        "contact.update",
        "contact.delete",
    ]


def test_a_registered_kind_is_known_and_forgotten_again(note: KindSpec) -> None:
    assert POSTABLE["note"] is note
    assert [e.name for e in EDITS.values() if e.target == "note"] == ["note.update", "note.delete"]
    assert {"note", "note.update", "note.delete"} <= KNOWN
    assert text_problem("note", encoding.encode({"v": 1, "title": "a\x1bb"})) is not None
    register(note)  # again: nothing
    unregister("note")
    assert "note" not in POSTABLE
    assert "note.update" not in KNOWN
    assert "note.update" not in EDITS
    register(note)  # the fixture forgets it


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"name": "report"}, "its name 'report', plural 'reports' are taken"),
        ({"name": "member"}, "its plural 'members' is taken"),
        ({"plural": "reports"}, "its plural 'reports' is taken"),
        ({"plural": "events"}, "its plural 'events' is taken"),
    ],
)
def test_a_kind_that_takes_a_name_already_taken_is_refused(
    changes: dict[str, str], problem: str
) -> None:
    values = {"name": "memo", "help": "h", "version": 1, "fields": SPEC.fields, **changes}
    with pytest.raises(ValueError, match=re.escape(problem)):
        register(KindSpec(**values))  # type: ignore[arg-type]
    assert set(POSTABLE) == {"report", "plan", "meeting", "shift", "contact"}


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"name": "my.note"}, "its name 'my.note' is not lowercase"),
        ({"edits": ("archive",)}, "no edit 'archive'"),
        ({"listing": Listing(show=("ts", "heading"))}, "no field 'heading' to show"),
        ({"listing": Listing(columns=("title", "when"))}, "no field 'when' to list"),
        ({"listing": Listing(sorts=(("due", "due date"),))}, "no field 'due' to sort by"),
        ({"listing": Listing(filters=("body",))}, "no one-line field 'body' to filter by"),
        ({"listing": Listing(filters=("overdue",))}, "the overdue filter needs a dated_by"),
        ({"listing": Listing(dated_by="title")}, "no date field 'title'"),
        ({"listing": Listing(layout="grid")}, "no layout 'grid'"),
    ],
)
def test_a_spec_that_names_what_it_does_not_have_is_refused(
    changes: dict[str, object], problem: str
) -> None:
    values = {"name": "memo", "help": "h", "version": 1, "fields": SPEC.fields, **changes}
    with pytest.raises(ValueError, match=re.escape(problem)):
        KindSpec(**values)  # type: ignore[arg-type]


# --- the command line, in its own process ----------------------------------------------


def ok(home: Path, *args: str, env: dict[str, str] | None = ENV) -> str:
    result = commune(home, *args, env=env)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_a_new_kind_is_posted_edited_and_shown_with_the_real_command(tmp_path: Path) -> None:
    home = tmp_path / "la"
    ok(home, "init", "--name", "Los Angeles", "--insecure-no-passphrase")
    first = ok(home, "post", "note", "--title", "Minutes", "--body", "Twelve came.").strip()
    rows = tmp_path / "notes.csv"
    rows.write_text("title,body\nBanner,Paint it red\nLeaflets,Two hundred\n", encoding="utf-8")
    many = ok(home, "post", "note", "--from", str(rows)).split()
    assert len(many) == 2
    ok(home, "post", "note", "--edit", first[:8], "--body", "Fourteen came.")
    ok(home, "post", "note", "--delete", many[1][:8])

    shown = json.loads(ok(home, "show", "notes", "--json"))
    assert [(r["id"], r["title"], r["body"]) for r in shown] == [
        (first, "Minutes", "Fourteen came."),
        (many[0], "Banner", "Paint it red"),
    ]
    assert set(shown[0]) == {
        *("id", "author", "author_name", "ts", "time", "suspect", "title", "body", "tags")
    }
    text = ok(home, "show", "notes")
    assert "Minutes" in text
    assert "Leaflets" not in text
    kinds = [row["kind"] for row in json.loads(ok(home, "log", "--json"))]
    assert kinds.count("note") == 3
    assert kinds.count("note.update") == kinds.count("note.delete") == 1
    assert ok(home, "verify").startswith("ok: 5 events")

    help_text = ok(home, "post", "note", "--help")
    for option in ("--title", "--body", "--edit", "--delete", "--from", "--to"):
        assert option in help_text
    assert "--retract" not in help_text
    assert "notes" in ok(home, "show", "--help")
    assert "Show the network's reports, plans, meetings, shifts, contacts, notes," in ok(
        home, "show", "--help"
    )

    # without the kind, the command has no such thing, and says so in one line
    result = commune(home, "show", "notes")
    assert result.returncode == 2
    assert "'notes' is not one of" in result.stderr
    result = commune(home, "show", "notes", env={EXTRA_KINDS: "tests.no_such_kind"})
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1].startswith("error: $COMMUNE_EXTRA_KINDS")
    assert "Traceback" not in result.stderr


# --- the web view, over real HTTP -------------------------------------------------------


@contextlib.asynccontextmanager
async def served(node: Node) -> AsyncIterator[aiohttp.ClientSession]:
    runner, _ = await start_web(node, None, host="127.0.0.1", port=0)
    try:
        session, _ = await owner_session(node.home.path)  # the address's token, once
    except BaseException:
        await runner.cleanup()
        raise
    try:
        yield session
    finally:
        await session.close()
        await runner.cleanup()


async def get(session: aiohttp.ClientSession, path: str) -> str:
    async with session.get(path) as response:
        assert response.status == 200, path
        return await response.text()


async def test_a_new_kind_posted_by_the_command_is_on_the_web_view(
    tmp_path: Path, note: KindSpec
) -> None:
    home = tmp_path / "la"
    ok(home, "init", "--name", "Los Angeles", "--insecure-no-passphrase")
    first = ok(home, "post", "note", "--title", "Minutes <b>", "--body", "Twelve came.").strip()
    edit = ok(home, "post", "note", "--edit", first, "--body", "Fourteen came.").strip()
    ok(home, "post", "note", "--title", "Cuaderno de la asamblea")
    node = Node.open(Home(home))
    try:
        async with served(node) as session:
            html = await get(session, "/notes")
            assert "<h1>Notes</h1>" in html
            assert '<a href="/notes" aria-current="page">Notes</a>' in html
            assert re.search(r'dir="auto">Minutes &lt;b&gt;</a>', html)  # escaped
            assert "Fourteen came." in html
            assert "Cuaderno de la asamblea" in html
            assert "2 results" in html
            html = await get(session, "/notes?q=cuaderno")
            assert "1 result" in html
            assert "Minutes" not in html
            html = await get(session, "/")
            assert '<a href="/notes">2 notes</a>' in html
            html = await get(session, f"/event/{first}")
            assert "<dt>Kind</dt><dd>note</dd>" in html
            assert re.search(r"<dt>Title</dt><dd[^>]*>Minutes &lt;b&gt;</dd>", html)
            assert re.search(r"<dt>Body</dt><dd[^>]*>Twelve came.</dd>", html)
            assert "As it stands now" in html
            assert "verified: Los Angeles wrote exactly this" in html
            html = await get(session, f"/event/{edit}")
            assert "<dt>Kind</dt><dd>note changed</dd>" in html
            html = await get(session, "/events?kind=note.update")
            assert "note changed" in html
            # no catalog has its texts (node/web/locale): they show in English, in a
            # page that is Spanish around them
            html = await get(session, "/notes?lang=es")
            assert '<html lang="es"' in html
            assert "<h1>Notes</h1>" in html
            assert "Buscar" in html
            html = await get(session, f"/event/{edit}?lang=es")
            assert "<dt>Tipo</dt><dd>note changed</dd>" in html
    finally:
        node.close()


def _titles(html: str) -> list[str]:
    return re.findall(r">(T-[a-z]+)<", html)


async def test_a_new_kinds_own_orders_and_filters_are_applied_on_its_list(tmp_path: Path) -> None:
    """The web view's list sorts and filters by what a kind's spec says (its fields'
    choices, text and dates, and what "still open" means for it), not by the plans'."""
    home = tmp_path / "la"
    ok(home, "init", "--name", "Los Angeles", "--insecure-no-passphrase", env=None)
    register(TASK)
    try:
        node = Node.open(Home(home))
        keys = Home(home).unlock(None)
        rows = [
            ("T-alpha", "Zoe", "2000-01-01", "finished"),  # past, but finished: not late
            ("T-bravo", "amir", "2000-02-01", "blocked"),  # past and open: late
            ("T-charlie", "", "2999-01-01", "todo"),
            ("T-delta", "Bea", "", "blocked"),
        ]
        for title, who, by, state in rows:
            values = {"title": title, "who": who, "by": by, "state": state}
            node.post(keys, [("task", TASK.build(values))])
        try:
            async with served(node) as session:
                by_state = _titles(await get(session, "/tasks"))
                assert by_state == ["T-charlie", "T-bravo", "T-delta", "T-alpha"]
                by_who = _titles(await get(session, "/tasks?sort=who"))
                assert by_who == ["T-bravo", "T-delta", "T-alpha", "T-charlie"]  # folded
                by_date = _titles(await get(session, "/tasks?sort=by"))
                assert by_date == ["T-alpha", "T-bravo", "T-charlie", "T-delta"]
                assert _titles(await get(session, "/tasks?state=blocked&sort=by")) == [
                    "T-bravo",
                    "T-delta",
                ]
                assert _titles(await get(session, "/tasks?who=AMI")) == ["T-bravo"]
                assert _titles(await get(session, "/tasks?overdue=1")) == ["T-bravo"]
                # a value that is not one of the choices is left out, not an error
                assert len(_titles(await get(session, "/tasks?state=lost"))) == 4
                assert _titles(await get(session, "/tasks?from=2000-01-15&to=2000-12-31")) == [
                    "T-bravo"
                ]
                overview = await get(session, "/")
                assert '<a href="/tasks">4 tasks</a>' in overview
        finally:
            node.close()
    finally:
        unregister(TASK.name)


# --- sync and merge ----------------------------------------------------------------------


@pytest.fixture
def pair(tmp_path: Path, note: KindSpec) -> Iterator[list[Member]]:
    members = make_network(tmp_path, ["Los Angeles", "El Salvador", "South Africa"])
    yield members
    close_all(members)


def _note(m: Member, **values: str) -> bytes:
    return m.node.post(m.keys, [("note", SPEC.build(values))])[0].id


def _edit(m: Member, item: bytes, **values: str) -> None:
    after = m.node.projector.item_latest("note", item)
    payload = {"v": 1, "of": item, "after": after, **SPEC.build_update(values)}
    m.node.post(m.keys, [("note.update", payload)])


async def test_a_new_kind_syncs_and_merges_like_the_others(pair: list[Member]) -> None:
    la, sv, za = pair
    item = _note(la, title="Assembly", body="Saturday")
    _note(sv, title="Clinic", body="Open on Mondays")
    await la.start()
    try:
        await daemon.sync_once(sv.node, sv.keys, [la.url])
        assert {r["title"] for r in sv.node.projector.rows("note")} == {"Assembly", "Clinic"}
        # both change the same note at once, each without having seen the other's change
        _edit(la, item, body="Sunday")
        _edit(sv, item, title="General assembly", body="Saturday, 10:00")
        await daemon.sync_once(sv.node, sv.keys, [la.url])
    finally:
        await la.stop()
    rows = {m.name: m.node.projector.rows("note") for m in (la, sv)}
    assert rows["Los Angeles"] == rows["El Salvador"]
    merged = next(r for r in rows["Los Angeles"] if r["id"] == item.hex())
    assert merged["title"] == "General assembly"  # only one of them changed it
    assert merged["body"] in ("Sunday", "Saturday, 10:00")  # the later write, on both
    assert la.state() == sv.state()
    assert la.node.projector.unknown() == []

    # a node of a version without the kind keeps and passes on its events as unknown;
    # once it knows the kind, rebuilding shows the same notes as everywhere else
    unregister("note")
    try:
        za.node.ingest([e.raw for e in la.node.store.events()])
        unknown = za.node.projector.unknown()
        assert {u["kind"] for u in unknown} == {"note", "note.update"}
        assert za.state() != la.state()
    finally:
        register(SPEC)
    za.node.rebuild()
    assert za.node.projector.unknown() == []
    assert za.node.projector.rows("note") == rows["Los Angeles"]
    assert za.state() == la.state()


# --- the docs -----------------------------------------------------------------------------


def _tables() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "make_kind_tables", ROOT / "docs" / "make_kind_tables.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_docs_tables_of_kinds_are_current() -> None:
    """docs/CLI.md and docs/PROTOCOL.md §5.1 list every kind as its spec has it
    (``python docs/make_kind_tables.py`` rewrites them)."""
    tables = _tables()
    assert tables.main(["--check"]) == 0


def test_the_docs_tables_would_name_a_new_kind(note: KindSpec) -> None:
    tables = _tables()
    specs = list(POSTABLE.values())
    cli = tables.cli_md(tables.CLI.read_text(encoding="utf-8"), specs)
    assert (
        "| `note` | `--title` (required), `--body`, `--tag` (repeatable) | `--edit ID`, "
        "`--delete ID` |" in cli
    )
    assert "### `post report|plan|meeting|shift|contact|note [FIELD OPTIONS] | --from FILE`" in cli
    assert (
        "`show notes --json`: `id`, `author`, `author_name`, `ts`, `time`, `suspect`, `title`, "
        "`body`, "
        "`tags` (an array)." in cli
    )
    protocol = tables.protocol_md(tables.PROTOCOL.read_text(encoding="utf-8"), specs)
    creates = "| `report`, `plan`, `meeting`, `shift`, `contact`, `note` | create an item | §5.1 |"
    assert creates in protocol
    assert "`note.update`, `note.delete` | change an item | §5.3 |" in protocol
    assert "| `note` | `title` | yes | 200 | one | |" in protocol
    assert tables.main(["--check"]) == 1  # the committed docs do not name it
