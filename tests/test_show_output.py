"""``show`` for people (issue 19, point 6): who wrote each item (the collective's name),
when, what (its title and the start of its text, cut to the terminal), private or not,
overdue; ``--json`` names the author beside its id; a kind named by its name or its
plural; ``peer list`` names a peer given by its address as ``status`` does; a usage
mistake is one line. Each through the real command, in its own process (and at a real
pseudo-terminal where the terminal matters)."""

from __future__ import annotations

import asyncio
import datetime
import json
import re
import time
from pathlib import Path

import pytest

from node.cli_listing import cells, item_lines
from protocol import hlc
from protocol.kinds import report
from tests.helpers import commune
from tests.net import close_all, make_network
from tests.tty import Terminal

LONG_BODY = (
    "La asamblea del barrio duró tres horas: hablamos de la renta, del agua que falta "
    "desde marzo y de la escuela nueva que el municipio prometió y no construyó."
)


def ok(home: Path, *args: str, env: dict[str, str] | None = None) -> str:
    result = commune(home, *args, env=env)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    return result.stdout


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A node of "El Salvador" in a network, with reports (one private, one long) and
    plans (one overdue, one overdue but done, one to come)."""
    home = tmp_path_factory.mktemp("show") / "sv"
    ok(home, "init", "--name", "El Salvador", "--insecure-no-passphrase")
    ok(home, "found", "Red")
    ok(home, "post", "report", "--title", "Asamblea del barrio", "--body", LONG_BODY)
    ok(home, "post", "report", "--title", "Para el periódico", "--state", "for-paper")
    ok(home, "post", "report", "--title", "Solo nosotros", "--to", "El Salvador")
    ok(home, "post", "plan", "--title", "Call the council", "--due", "2020-01-01")
    late = ok(home, "post", "plan", "--title", "Print flyers", "--due", "2020-02-02").strip()
    ok(home, "post", "plan", "--edit", late[:12], "--status", "done")
    ok(home, "post", "plan", "--title", "Next year", "--due", "2999-01-01", "--owner", "Ana")
    return home


def table(text: str) -> tuple[list[str], list[str]]:
    """The header's columns and the lines of a ``show`` text output."""
    lines = text.rstrip("\n").split("\n")
    return re.split(r"\s{2,}", lines[0]), lines


def test_reports_say_who_when_what_and_which_are_private(home: Path) -> None:
    text = ok(home, "show", "reports", env={"COLUMNS": "80"})
    header, lines = table(text)
    assert header == ["ID", "WRITTEN", "BY", "STATE", "WHAT"]
    assert len(lines) == 4
    assert all(cells(line) <= 80 for line in lines), text
    # aligned: every line's WHAT starts where the header's does
    start = lines[0].index("WHAT")
    by = {line[start:]: line for line in lines[1:]}
    long = next(k for k in by if k.startswith("Asamblea del barrio — La asamblea"))
    assert set(by) == {long, "Para el periódico", "[private] Solo nosotros"}
    assert long.endswith("…")  # the body's start, cut at the terminal's width
    for line in lines[1:]:
        assert re.match(r"[0-9a-f]{8}  \d{4}-\d\d-\d\d  El Salvador  ", line), line
    assert "for-paper" in by["Para el periódico"]
    # wider: the time of day too, and more of the body
    wide = ok(home, "show", "reports", env={"COLUMNS": "160"})
    assert table(wide)[0][:2] == ["ID", "WRITTEN (UTC)"]
    assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d  El Salvador", wide)
    assert "del agua que falta" in wide
    # the singular is the same command
    assert ok(home, "show", "report", env={"COLUMNS": "80"}) == text


def test_plans_say_which_are_overdue(home: Path) -> None:
    text = ok(home, "show", "plan", env={"COLUMNS": "80"})
    header, lines = table(text)
    # a kind with a date of its own leaves when it was written out on a narrow terminal
    assert header == ["ID", "BY", "DUE", "STATUS", "WHAT"]
    overdue = [line for line in lines if "[overdue]" in line]
    assert len(overdue) == 1
    assert "2020-01-01  open    [overdue] Call the council" in overdue[0]
    assert "[overdue]" not in next(line for line in lines if "Print flyers" in line)  # done
    assert "Next year · Ana" in next(line for line in lines if "2999-01-01" in line)
    assert table(ok(home, "show", "plans", env={"COLUMNS": "120"}))[0][1] == "WRITTEN (UTC)"


def test_json_names_the_author_beside_its_id(home: Path) -> None:
    rows = json.loads(ok(home, "show", "reports", "--json"))
    node_id = json.loads(ok(home, "status", "--json"))["node"]["id"]
    assert [r["author_name"] for r in rows] == ["El Salvador"] * 3
    assert {r["author"] for r in rows} == {node_id}
    for key in ("id", "author", "ts", "time", "suspect", "title", "body", "state"):
        assert all(key in r for r in rows), key  # the keys scripts use are all still there
    assert rows[0]["title"] == "Asamblea del barrio"
    assert rows[0]["body"] == LONG_BODY  # in full
    plans = json.loads(ok(home, "show", "plan", "--json"))
    assert {p["author_name"] for p in plans} == {"El Salvador"}
    logged = json.loads(ok(home, "log", "--json"))
    assert {(e["author"], e["author_name"]) for e in logged} == {(node_id, "El Salvador")}


def test_members_fit_80_columns(home: Path) -> None:
    node_id = json.loads(ok(home, "status", "--json"))["node"]["id"]
    header, lines = table(ok(home, "show", "members"))
    assert header == ["NAME", "ROLE", "STATE", "NODE ID"]
    assert lines[1].split() == ["El", "Salvador", "admin", "admitted", node_id[:16]]
    assert all(cells(line) <= 80 for line in lines)
    assert "(none: `commune peer add https://HOST:PORT`)" in commune(home, "show", "peers").stderr


def test_singular_and_plural_kind_names_everywhere(home: Path) -> None:
    assert ok(home, "show", "member") == ok(home, "show", "members")
    assert ok(home, "show", "peer", "--json") == ok(home, "show", "peers", "--json")
    assert ok(home, "show", "plan", "--due", "--json") == ok(
        home, "show", "plans", "--due", "--json"
    )
    result = commune(home, "show", "plan", "--for-paper")
    assert result.returncode == 2
    assert result.stderr.splitlines()[1:] == [
        "error: --for-paper applies to reports only, not plans"
    ]


def test_a_kind_is_posted_by_its_plural_too(tmp_path: Path) -> None:
    home = tmp_path / "la"
    ok(home, "init", "--name", "Los Angeles", "--insecure-no-passphrase")
    posted = ok(home, "post", "reports", "--title", "Posted by the plural").strip()
    (shown,) = json.loads(ok(home, "show", "report", "--json"))
    assert (shown["id"], shown["title"]) == (posted, "Posted by the plural")
    assert "--title" in ok(home, "post", "plans", "--help")


def test_at_a_terminal_the_lines_fit_its_width(home: Path) -> None:
    terminal = Terminal(home, "show", "reports", columns=60)
    assert terminal.finish() == 0
    warning = "WARNING: this node's key is stored without a passphrase"  # on stderr
    lines = [line for line in terminal.output.split("\n") if line.strip()]
    assert lines[0].startswith(warning)
    lines = lines[1:]
    assert lines[0].startswith("ID")
    assert len(lines) == 4
    assert all(cells(line) <= 60 for line in lines), terminal.output
    assert lines[0].split() == ["ID", "BY", "STATE", "WHAT"]  # no room for WRITTEN
    assert any(line.endswith("…") for line in lines)


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (("show", "bogus"), "error: invalid value for 'WHAT': 'bogus' is not one of 'reports',"),
        (("show", "reports", "--bogus"), "error: no such option '--bogus' (`commune show --help`"),
        (("peer", "add"), "error: missing argument 'URL' (`commune peer add --help`"),
        (("nosuch",), "error: no such command 'nosuch' (`commune --help` lists what it takes)"),
        (("show", "shifts", "--weeks", "99"), "error: invalid value for '--weeks': 99 is not"),
        (("post", "report", "--title"), "error: option '--title' requires an argument"),
        (("show",), "error: missing argument 'WHAT'. Choose from: reports, plans, meetings,"),
        ((), "error: missing command (`commune --help` lists what it takes)"),
    ],
)
def test_a_usage_mistake_is_one_line(tmp_path: Path, args: tuple[str, ...], said: str) -> None:
    result = commune(tmp_path / "no-node", *args)
    assert result.returncode == 2
    assert result.stdout == ""
    assert len(result.stderr.splitlines()) == 1, result.stderr
    assert result.stderr.startswith(said), result.stderr


async def test_peer_list_names_a_peer_given_by_its_address(tmp_path: Path) -> None:
    members = make_network(tmp_path, ["Los Angeles", "El Salvador"])
    la, sv = members
    la.node.close()
    await sv.start()
    try:

        async def run(*args: str) -> str:
            result = await asyncio.to_thread(commune, la.home.path, *args)
            assert result.returncode == 0, result.stderr
            return result.stdout

        await run("peer", "add", sv.url)
        before = await run("peer", "list")
        assert "name not known yet" in before
        assert "?" not in before
        await run("sync")
        listed = await run("peer", "list")
        assert f"{sv.url:<40} El Salvador" in listed
        (row,) = json.loads(await run("peer", "list", "--json"))
        assert (row["id"], row["name"], row["source"]) == (
            sv.keys.node_id.hex(),
            "El Salvador",
            "peer add",
        )
        assert json.loads(await run("show", "peers", "--json")) == [row]
        (peer,) = json.loads(await run("status", "--json"))["peers"]
        assert (peer["id"], peer["name"]) == (row["id"], row["name"])  # as status names it
    finally:
        await sv.stop()
        close_all(members)


def test_meetings_and_shifts_say_who_posted_them_and_which_are_private(tmp_path: Path) -> None:
    home = tmp_path / "sv"
    ok(home, "init", "--name", "El Salvador", "--insecure-no-passphrase")
    ok(home, "found", "Red")
    when = (datetime.date.today() + datetime.timedelta(days=3)).isoformat()
    common = ["--when", f"{when} 18:00", "--zone", "America/El_Salvador"]
    ok(home, "post", "meeting", "--title", "Asamblea abierta", *common)
    ok(home, "post", "meeting", "--title", "Solo el comité", *common, "--to", "El Salvador")
    meetings = ok(home, "show", "meeting").splitlines()
    assert len(meetings) == 2
    assert all("by El Salvador" in line for line in meetings)
    assert ["[private]" in line for line in meetings] == [
        "Solo el comité" in line for line in meetings
    ]
    rows = json.loads(ok(home, "show", "meetings", "--json"))
    private = {r["title"]: r.get("private", False) for r in rows}
    assert private == {"Asamblea abierta": False, "Solo el comité": True}
    assert {r["author_name"] for r in rows} == {"El Salvador"}

    shift = ["--place", "Gate A", "--weekdays", "mon,tue,wed,thu,fri,sat,sun", "--start",
             "05:30", "--end", "07:00", "--zone", "America/El_Salvador",
             "--since", "2026-01-01"]  # fmt: skip
    ok(home, "post", "shift", "--title", "Maquila gate", *shift, "--to", "El Salvador")
    slots = ok(home, "show", "shift", "--weeks", "1").splitlines()
    assert len(slots) == 7
    assert all("[private] Maquila gate @ Gate A" in line for line in slots)
    assert all("  by El Salvador  " in line for line in slots)


def test_a_group_alone_prints_its_help(tmp_path: Path) -> None:
    """`commune post` with no kind: the help that lists the kinds (as before), not a line."""
    result = commune(tmp_path / "no-node", "post")
    assert result.returncode == 2
    assert result.stderr.startswith("Usage: commune post [OPTIONS] COMMAND [ARGS]...")
    assert "report " in result.stderr
    assert "error:" not in result.stderr


def test_a_line_is_measured_in_terminal_cells() -> None:
    """Hindi's vowel signs take no column and Chinese characters two: the columns stay
    aligned and the line within the width; an item dated days ahead is marked [future]."""
    now = int(time.time() * 1000)
    rows = [
        {"id": "a" * 64, "author": "01" * 32, "ts": hlc.pack(now), "state": "draft",
         "title": "बैठक की रिपोर्ट", "body": "समुदाय ने पानी और किराए पर बात की " * 4},
        {"id": "b" * 64, "author": "02" * 32, "ts": hlc.pack(now), "state": "sent",
         "title": "会议报告", "body": "社区讨论了水和房租的问题" * 4},
        {"id": "c" * 64, "author": "01" * 32, "ts": hlc.pack(now + 5 * 86_400_000),
         "state": "draft", "title": "From a clock ahead", "body": ""},
    ]  # fmt: skip
    names = {"01" * 32: "India", "02" * 32: "台北"}
    lines = item_lines(report.SPEC, rows, names, today="2026-12-08", width=72)
    assert all(cells(line) <= 72 for line in lines), lines
    words = ["WHAT", "बैठक", "会议", "["]
    starts = {cells(line[: line.index(word)]) for line, word in zip(lines, words, strict=True)}
    assert len(starts) == 1, lines  # WHAT starts in the same column on every line
    assert lines[1].endswith("…")
    assert lines[2].endswith("…")
    assert "[future] From a clock ahead" in lines[3]
    assert "台北" in lines[2]
