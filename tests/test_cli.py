"""The command line, run as a real separate process (docs/CLI.md)."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

import pytest

from protocol.envelope import decode_event
from tests.helpers import PASSPHRASE, commune, store_db

TEXTS = [
    ("Asamblea de vecinos", "Hablamos del agua y del alquiler con cuarenta vecinos."),
    ("मोहल्ला सभा", "हमने पानी और किराये के बारे में बात की।"),
    ("Umhlangano womphakathi", "Abantu abangamashumi amabili baxoxe ngamanzi."),
    ("Tenants' meeting", "Twelve households agreed to act together."),
]


def init(home: Path, *extra: str) -> str:
    result = commune(home, "init", "--name", "Los Angeles", "--insecure-no-passphrase", *extra)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def ok(home: Path, *args: str, **kw: object) -> str:
    result = commune(home, *args, **kw)  # type: ignore[arg-type]
    assert result.returncode == 0, result.stderr
    return result.stdout


def refused(home: Path, *args: str, **kw: object) -> str:
    """Run a command that must fail: one clear line, no traceback, non-zero exit."""
    result = commune(home, *args, **kw)  # type: ignore[arg-type]
    assert result.returncode != 0
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.stderr
    assert "Traceback" not in result.stderr
    return errors[0]


def test_done_when_init_a_hundred_posts_verify_and_log(tmp_path: Path) -> None:
    home = tmp_path / "la"
    card = init(home)
    assert card.startswith("commune-card:")
    assert ok(home, "card").strip() == card
    ids = []
    # ten posts as ten commands, then ninety more as one command, from JSON lines on
    # stdin (a process per post would only time the interpreter's start, 100 times)
    for i in range(10):
        title, body = TEXTS[i % len(TEXTS)]
        out = ok(home, "post", "report", "--title", f"{title} {i}", "--body", body)
        ids.append(out.strip())
    lines = [
        json.dumps({"title": f"{TEXTS[i % len(TEXTS)][0]} {i}", "body": TEXTS[i % len(TEXTS)][1]})
        for i in range(10, 100)
    ]
    ids += ok(home, "post", "report", "--from", "-", input="\n".join(lines) + "\n").split()
    assert len(set(ids)) == 100
    assert ok(home, "verify").startswith("ok: 100 events")
    log = json.loads(ok(home, "log", "--json"))
    assert [row["seq"] for row in log] == list(range(1, 101))
    assert [row["id"] for row in log] == ids
    assert log[0]["prev"] is None
    assert all(log[i]["prev"] == log[i - 1]["id"] for i in range(1, 100))
    assert {row["kind"] for row in log} == {"report"}
    assert len({row["author"] for row in log}) == 1
    reports = json.loads(ok(home, "show", "reports", "--json"))
    assert len(reports) == 100
    assert reports[1]["title"] == "मोहल्ला सभा 1"
    assert reports[2]["body"] == TEXTS[2][1]
    assert all(row["id"] for row in reports)


def test_insecure_node_warns_on_every_start(tmp_path: Path) -> None:
    home = tmp_path / "la"
    init(home)
    for args in (("card",), ("show", "reports"), ("verify",)):
        assert "without a passphrase" in commune(home, *args).stderr


def test_passphrase_from_the_environment_and_from_the_prompt(tmp_path: Path) -> None:
    home = tmp_path / "sv"
    env = {"COMMUNE_PASSPHRASE": "una frase larga"}
    ok(home, "init", "--name", "El Salvador", env=env)
    assert "una frase larga" not in home.joinpath("node.key").read_text()
    ok(home, "post", "report", "--title", "hola", env=env)
    ok(home, "post", "report", "--title", "otra vez", input="una frase larga\n")
    error = refused(home, "post", "report", "--title", "x", env={"COMMUNE_PASSPHRASE": "wrong"})
    assert "passphrase does not open" in error
    assert "without a passphrase" not in commune(home, "card", env=env).stderr
    # Reading needs the passphrase too: the store is encrypted under the key.
    assert len(json.loads(ok(home, "log", "--json", env=env))) == 2
    assert "passphrase" in refused(home, "log", "--json", input="")


def test_prompted_passphrase_at_init(tmp_path: Path) -> None:
    home = tmp_path / "za"
    ok(home, "init", "--name", "South Africa", input=f"{PASSPHRASE}\n{PASSPHRASE}\n")
    ok(home, "post", "report", "--title", "Sawubona", env={"COMMUNE_PASSPHRASE": PASSPHRASE})


def test_user_errors_are_one_line_without_traceback(tmp_path: Path) -> None:
    home = tmp_path / "la"
    assert "no node in" in refused(home, "show", "reports")
    init(home)
    assert "already holds a node" in refused(
        home, "init", "--name", "x", "--insecure-no-passphrase"
    )
    assert "'title' is required" in refused(home, "post", "report", "--body", "no title")
    assert "2026-12-31" in refused(home, "post", "plan", "--title", "x", "--due", "31/12/2026")
    assert "one of" in refused(home, "post", "plan", "--title", "x", "--status", "maybe")
    assert "single line" in refused(home, "post", "report", "--title", "two\nlines")
    assert json.loads(ok(home, "log", "--json")) == []


def test_post_many_from_csv(tmp_path: Path) -> None:
    home = tmp_path / "la"
    init(home)
    sheet = tmp_path / "plans.csv"
    sheet.write_text(
        "title,owner,due,status,description\n"
        "Print leaflets,Ana,2026-12-05,open,\n"
        'Llamar a la cooperativa,Luis,2026-12-10,doing,"dos\nlíneas"\n'
        "बैठक की तैयारी,Priya,,,\n",
        encoding="utf-8-sig",
    )
    out = ok(home, "post", "plan", "--from", str(sheet))
    assert len(out.split()) == 3
    plans = json.loads(ok(home, "show", "plans", "--json"))
    assert [p["title"] for p in plans] == [
        "Print leaflets",
        "Llamar a la cooperativa",
        "बैठक की तैयारी",
    ]
    assert plans[1]["description"] == "dos\nlíneas"
    assert plans[2]["status"] == "open"


def test_a_bad_row_names_its_line_and_nothing_is_posted(tmp_path: Path) -> None:
    home = tmp_path / "la"
    init(home)
    ok(home, "post", "report", "--title", "before")
    sheet = tmp_path / "reports.csv"
    sheet.write_text("title,body\nuno,a\ndos,b\n,missing title\ncuatro,d\n", encoding="utf-8")
    error = refused(home, "post", "report", "--from", str(sheet))
    assert "line 4" in error
    assert "'title' is required" in error
    lines = tmp_path / "reports.jsonl"
    lines.write_text('{"title": "uno"}\n{"title": "dos", "colour": "red"}\n', encoding="utf-8")
    error = refused(home, "post", "report", "--from", str(lines))
    assert "line 2" in error
    assert "colour" in error
    latin1 = tmp_path / "old.csv"
    latin1.write_bytes("title\nAsamblea\nReunión\n".encode("latin-1"))
    assert "line 3" in refused(home, "post", "report", "--from", str(latin1))
    assert len(json.loads(ok(home, "log", "--json"))) == 1


@pytest.mark.parametrize("part", ["signature", "body"])
def test_verify_names_an_event_tampered_in_the_sqlite_file(tmp_path: Path, part: str) -> None:
    """Someone who has the node's key (and so can open its encrypted store) changes
    one bit of a stored event: ``verify`` names the event and the rule it breaks."""
    home = tmp_path / "la"
    init(home)
    for i in range(6):
        ok(home, "post", "report", "--title", f"report number {i}", "--body", f"body-marker-{i}")
    with contextlib.closing(store_db(home)) as conn, conn:
        raw = conn.execute("SELECT raw FROM events WHERE seq = 4").fetchone()[0]
        event = decode_event(raw)
        inside = event.signature if part == "signature" else b"body-marker-3"
        data = bytearray(raw)
        data[raw.index(inside) + 7] ^= 0x01
        conn.execute("UPDATE events SET raw = ? WHERE seq = 4", (bytes(data),))
    result = commune(home, "verify")
    assert result.returncode != 0
    expected_rule = "bad-signature" if part == "signature" else "bad-body-hash"
    assert event.id.hex() in result.stderr
    assert expected_rule in result.stderr
    assert "seq 4" in result.stderr
