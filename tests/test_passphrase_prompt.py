"""Passphrases with two nodes on one machine, and at the prompt (issue 19, point 7).

The passphrase in $COMMUNE_PASSPHRASE (one node's) must not lock a person out of
another node: at a terminal the command says so in one line and asks; without one it
fails in one line naming what to set. Each node can have its own file
($COMMUNE_PASSPHRASE_FILE, ``--passphrase-file``). At the prompt, three tries. The
real command in its own process, at a real pseudo-terminal (tests/tty.py)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from tests.helpers import OTHER_PASSPHRASE, PASSPHRASE, commune
from tests.tty import Terminal


def ok(home: Path, *args: str, env: dict[str, str] | None = None, input: str | None = None) -> str:
    result = commune(home, *args, env=env, input=input)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    return result.stdout


@pytest.fixture(scope="module")
def two(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Two nodes on this machine, each under its own passphrase, each with a report."""
    root = tmp_path_factory.mktemp("two")
    la, sv = root / "la", root / "sv"
    for home, name, secret in (
        (la, "Los Angeles", PASSPHRASE),
        (sv, "El Salvador", OTHER_PASSPHRASE),
    ):
        env = {"COMMUNE_PASSPHRASE": secret}
        ok(home, "init", "--name", name, env=env)
        ok(home, "post", "report", "--title", f"Report of {name}", env=env)
    return la, sv


def titles(out: str) -> list[str]:
    return [r["title"] for r in json.loads(out)]


def test_another_nodes_passphrase_asks_at_a_terminal(two: tuple[Path, Path]) -> None:
    la, sv = two
    terminal = Terminal(sv, "show", "reports", "--json", env={"COMMUNE_PASSPHRASE": PASSPHRASE})
    said = terminal.expect("Passphrase: ")
    assert (
        f"The passphrase from $COMMUNE_PASSPHRASE does not open the key of the node in {sv}; "
        "type that node's." in said
    )
    terminal.type(OTHER_PASSPHRASE)
    assert terminal.finish() == 0
    assert "Report of El Salvador" in terminal.output
    assert OTHER_PASSPHRASE not in terminal.output  # not echoed
    # the node whose passphrase it is opens with it, asking nothing
    assert titles(ok(la, "show", "reports", "--json", env={"COMMUNE_PASSPHRASE": PASSPHRASE})) == [
        "Report of Los Angeles"
    ]


def test_without_a_terminal_one_line_names_what_to_set(two: tuple[Path, Path]) -> None:
    _, sv = two
    result = commune(sv, "status", env={"COMMUNE_PASSPHRASE": PASSPHRASE}, input="")
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        f"error: the passphrase does not open the key of the node in {sv} (it came from "
        "$COMMUNE_PASSPHRASE): set $COMMUNE_PASSPHRASE_FILE (or give --passphrase-file) to a "
        "file holding its own, or run the command at a terminal to type it"
    ]


def test_each_node_its_own_passphrase_file(two: tuple[Path, Path], tmp_path: Path) -> None:
    la, sv = two
    la_file, sv_file = tmp_path / "la.pass", tmp_path / "sv.pass"
    la_file.write_text(PASSPHRASE + "\n")  # an editor's final line break is not part of it
    sv_file.write_text(OTHER_PASSPHRASE)
    everyone = {"COMMUNE_PASSPHRASE": PASSPHRASE}
    # the file comes before $COMMUNE_PASSPHRASE, the option before both
    env = {**everyone, "COMMUNE_PASSPHRASE_FILE": str(sv_file)}
    assert titles(ok(sv, "show", "reports", "--json", env=env)) == ["Report of El Salvador"]
    out = ok(sv, "--passphrase-file", str(sv_file), "show", "reports", "--json", env=everyone)
    assert titles(out) == ["Report of El Salvador"]
    env = {"COMMUNE_PASSPHRASE_FILE": str(sv_file)}
    out = ok(la, "--passphrase-file", str(la_file), "show", "reports", "--json", env=env)
    assert titles(out) == ["Report of Los Angeles"]
    missing = commune(sv, "--passphrase-file", str(tmp_path / "nope"), "status")
    assert missing.returncode == 1
    assert missing.stderr.splitlines() == [
        f"error: cannot read the passphrase file {tmp_path / 'nope'} (--passphrase-file): "
        "No such file or directory"
    ]


def test_three_tries_at_the_prompt(two: tuple[Path, Path]) -> None:
    _, sv = two
    terminal = Terminal(sv, "show", "reports", "--json")
    terminal.expect("Passphrase: ")
    terminal.type("not it")
    terminal.expect("wrong passphrase, try again (2 left)")
    terminal.expect("Passphrase: ")
    terminal.type("nor this")
    terminal.expect("wrong passphrase, try again (1 left)")
    terminal.expect("Passphrase: ")
    terminal.type(OTHER_PASSPHRASE)
    assert terminal.finish() == 0
    assert "Report of El Salvador" in terminal.output

    terminal = Terminal(sv, "status")
    started = time.monotonic()
    for _ in range(3):
        terminal.expect("Passphrase: ")
        terminal.type("wrong again")
    assert terminal.finish() == 1
    took = time.monotonic() - started
    lines = [line for line in terminal.output.splitlines() if line.strip()]
    assert lines[-1] == (
        f"error: the passphrase does not open the key of the node in {sv} (3 tries at the prompt)"
    )
    assert terminal.output.count("wrong passphrase, try again") == 2
    assert "Traceback" not in terminal.output
    print(f"three wrong tries at the prompt, typed at once, took {took:.2f} s")


def test_after_a_wrong_environment_passphrase_the_prompt_still_has_three_tries(
    two: tuple[Path, Path],
) -> None:
    _, sv = two
    terminal = Terminal(sv, "show", "reports", "--json", env={"COMMUNE_PASSPHRASE": "nope"})
    terminal.expect("does not open the key of the node in")
    for left in (2, 1):
        terminal.expect("Passphrase: ")
        terminal.type("still not")
        terminal.expect(f"wrong passphrase, try again ({left} left)")
    terminal.expect("Passphrase: ")
    terminal.type(OTHER_PASSPHRASE)
    assert terminal.finish() == 0
    assert "Report of El Salvador" in terminal.output


def test_backup_and_passwd_ask_again_at_a_terminal(tmp_path: Path) -> None:
    home = tmp_path / "in"
    ok(home, "init", "--name", "India", env={"COMMUNE_PASSPHRASE": PASSPHRASE})
    file = tmp_path / "in.backup"
    terminal = Terminal(home, "backup", str(file), env={"COMMUNE_PASSPHRASE": OTHER_PASSPHRASE})
    terminal.expect(f"does not open the key of the node in {home}; type that node's.")
    terminal.expect("Passphrase: ")
    terminal.type(PASSPHRASE)
    assert terminal.finish() == 0
    assert file.exists()

    new = "tamarind lighthouse quietly folding maps"
    terminal = Terminal(home, "passwd")
    terminal.expect("Current passphrase: ")
    terminal.type("not the one")
    terminal.expect("wrong passphrase, try again (2 left)")
    terminal.expect("Current passphrase: ")
    terminal.type(PASSPHRASE)
    terminal.expect("New passphrase: ")
    terminal.type(new)
    terminal.expect("Repeat for confirmation: ")
    terminal.type(new)
    assert terminal.finish() == 0, terminal.output
    assert "now locked by the new passphrase" in terminal.output
    ok(home, "status", env={"COMMUNE_PASSPHRASE": new})
    # without a terminal a wrong current passphrase is one line, and changes nothing
    before = (home / "node.key").read_bytes()
    result = commune(home, "passwd", env={"COMMUNE_PASSPHRASE": PASSPHRASE}, input="")
    assert result.returncode == 1
    (line,) = result.stderr.splitlines()
    assert line.startswith("error: the current passphrase does not open the key of the node in")
    assert line.endswith("; nothing was changed")
    assert (home / "node.key").read_bytes() == before


def test_doctor_asks_at_a_terminal_when_the_given_passphrase_is_another_nodes(
    two: tuple[Path, Path],
) -> None:
    _, sv = two
    terminal = Terminal(sv, "doctor", env={"COMMUNE_PASSPHRASE": PASSPHRASE})
    terminal.expect(f"does not open the key of the node in {sv}; type that node's.")
    terminal.expect("Passphrase: ")
    terminal.type(OTHER_PASSPHRASE)
    terminal.finish()
    assert "OK    key: opens with the passphrase and matches node.json" in terminal.output
    # without a terminal it is a check that fails, as before (the other checks still run)
    result = commune(sv, "doctor", env={"COMMUNE_PASSPHRASE": PASSPHRASE}, input="")
    assert result.returncode == 1
    assert "FAIL  key: does not open: " in result.stdout
