"""A new passphrase must be hard to guess, the same in init, passwd and restore
(node/strength.py); each command run as a user runs it, a separate process."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from crypto.errors import WrongPassphrase
from node import strength
from node.errors import WeakPassphrase
from node.home import Home
from tests.helpers import OTHER_PASSPHRASE, PASSPHRASE, commune

NAME = "Los Angeles"
#: refused everywhere, each for a reason the refusal names
WEAK = ["a", "1234", " ", "password1", NAME]
FOUR_WORDS = "tamarind pulley asteroid whisk"
SPANISH = "el gato de mi abuela duerme sobre la nevera vieja"
HINDI = "नीम के पेड़ पर बैठी चिड़िया गाती है"


def ok(home: Path, *args: str, **kw: Any) -> str:
    result = commune(home, *args, **kw)
    assert result.returncode == 0, result.stderr
    return result.stderr


def refused(home: Path, *args: str, **kw: Any) -> str:
    """A command that must fail: one clear `error:` line, no traceback."""
    result = commune(home, *args, **kw)
    assert result.returncode != 0, result.stderr
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.stderr
    return errors[0]


def says_why_and_what_is_good(error: str) -> None:
    assert "too easy to guess" in error
    assert "would find it in" in error
    assert "15 characters or more" in error
    assert f'like "{strength.EXAMPLE}"' in error


def env(current: str | None = None, new: str | None = None) -> dict[str, str]:
    given = {}
    if current is not None:
        given["COMMUNE_PASSPHRASE"] = current
    if new is not None:
        given["COMMUNE_NEW_PASSPHRASE"] = new
    return given


def test_the_minimum_and_the_reasons() -> None:
    known = strength.known_words(NAME, "Red del Sur")
    reasons = {p: strength.assess(p, known).reason for p in WEAK}
    assert reasons["a"] == "it has 1 character, fewer than 15"
    assert reasons[" "] == "it has 1 character, fewer than 15"
    assert reasons["1234"] is not None
    assert reasons["1234"].startswith("this is a top-10 common password")
    assert reasons["password1"] is not None
    assert reasons["password1"].startswith("this is a very common password")
    assert reasons[NAME] is not None
    assert reasons[NAME].startswith("it is built on a name others know")
    for built_on_names in ("losangeles", "los angeles 2026", "RedDelSur"):
        assert not strength.assess(built_on_names, known).ok, built_on_names
    # long is not enough: repeats, keyboard runs, common passwords over and over
    for long_but_weak in (" " * 20, "qwertyuiopasdfghjkl", "passwordpassword"):
        assert not strength.assess(long_but_weak, known).ok, long_but_weak
    # one common word of a language zxcvbn does not know scores well, but is too short
    assert strength.assess("contraseña", known).reason == "it has 10 characters, fewer than 15"
    # the example every refusal prints is refused itself, however it is typed
    assert strength.assess("Kettle  orbit mango lantern", known).reason == (
        "it is the example given here"
    )
    for good in (FOUR_WORDS, SPANISH, HINDI, PASSPHRASE, OTHER_PASSPHRASE, "x7#" + FOUR_WORDS * 9):
        verdict = strength.assess(good, known)
        assert verdict.ok, (good, verdict)
        assert verdict.score >= strength.MIN_SCORE
        assert strength.assess(good.encode(), known).ok  # as the commands hold it: bytes
    with pytest.raises(WeakPassphrase) as refusal:
        strength.check(b"1234", known)
    says_why_and_what_is_good(refusal.value.message)


@pytest.mark.parametrize("weak", WEAK)
def test_init_refuses_a_weak_passphrase_and_makes_nothing(tmp_path: Path, weak: str) -> None:
    home = tmp_path / "la"
    error = refused(home, "init", "--name", NAME, env=env(weak))
    says_why_and_what_is_good(error)
    assert error.endswith("no node was made")
    assert not (home / "node.key").exists()


def test_init_takes_a_good_passphrase_in_any_language(tmp_path: Path) -> None:
    for name, phrase in (("Los Angeles", FOUR_WORDS), ("El Salvador", SPANISH), ("Mumbai", HINDI)):
        home = tmp_path / name
        ok(home, "init", "--name", name, env=env(phrase))
        made = Home(home)
        assert made.unlock(phrase.encode()).node_id == made.identity().node_id
    # the one asked for at the prompt: a weak one is refused, saying why, and asked again
    home = tmp_path / "za"
    typed = f"1234\n1234\n{SPANISH}\n{SPANISH}\n"
    stderr = ok(home, "init", "--name", "South Africa", input=typed)
    assert "this passphrase is too easy to guess: this is a top-10 common password" in stderr
    Home(home).unlock(SPANISH.encode())
    # three weak ones, and it stops with nothing made
    error = refused(tmp_path / "in", "init", "--name", "India", input="abc\nabc\n" * 3)
    assert error == "error: no passphrase strong enough was given in 3 tries; no node was made"
    assert not (tmp_path / "in" / "node.key").exists()


def test_passwd_refuses_a_weak_new_passphrase_and_changes_nothing(tmp_path: Path) -> None:
    home = tmp_path / "la"
    Home(home).init(NAME, PASSPHRASE.encode())
    key = home / "node.key"
    before = key.read_bytes()
    for weak in WEAK:
        error = refused(home, "passwd", env=env(PASSPHRASE, weak))
        says_why_and_what_is_good(error)
        assert error.endswith("the key file was left as it was")
        assert key.read_bytes() == before
    # at the prompt: the current one, then three weak new ones
    error = refused(home, "passwd", input=PASSPHRASE + "\n" + "password1\npassword1\n" * 3)
    assert error.endswith("in 3 tries; the key file was left as it was")
    assert key.read_bytes() == before
    ok(home, "passwd", env=env(PASSPHRASE, SPANISH))
    assert Home(home).unlock(SPANISH.encode())


def _backup(tmp_path: Path, phrase: str) -> Path:
    """A backup of a node whose key is locked by ``phrase``, made as a user makes one
    (the node made by the library, which takes any passphrase, as older versions did)."""
    home = tmp_path / "old"
    Home(home).init(NAME, phrase.encode())
    file = tmp_path / "la.backup"
    ok(home, "backup", str(file), env=env(phrase))
    return file


def test_restore_refuses_a_weak_new_passphrase(tmp_path: Path) -> None:
    file = _backup(tmp_path, PASSPHRASE)
    target = tmp_path / "new"
    for weak in WEAK:
        error = refused(target, "restore", str(file), env=env(PASSPHRASE, weak))
        says_why_and_what_is_good(error)
        assert error.endswith("nothing was written")
        assert not target.exists()
    # a strong backup passphrase is kept when no new one is given
    ok(target, "restore", str(file), env=env(PASSPHRASE))
    assert (target / "node.key").read_bytes() == (tmp_path / "old" / "node.key").read_bytes()


def test_restore_of_a_weak_backup_needs_a_new_passphrase(tmp_path: Path) -> None:
    file = _backup(tmp_path, "1234")
    target = tmp_path / "new"
    # none given, and no one to type it: a clear error, nothing written
    error = refused(target, "restore", str(file), env=env("1234"))
    assert "the backup's passphrase is too easy to guess to keep" in error
    assert "$COMMUNE_NEW_PASSPHRASE" in error
    assert error.endswith("nothing was written")
    assert not target.exists()
    # a wrong one is told as such before a new one is asked for
    error = refused(target, "restore", str(file), env=env("12345"))
    assert "does not open the key in this backup" in error
    # a weak new one is refused too
    error = refused(target, "restore", str(file), env=env("1234", "password1"))
    says_why_and_what_is_good(error)
    assert not target.exists()

    # at the prompt: the backup's passphrase, then a weak new one, then a good one twice
    typed = f"1234\n{NAME}\n{NAME}\n{FOUR_WORDS}\n{FOUR_WORDS}\n"
    stderr = ok(target, "restore", str(file), input=typed)
    assert "The passphrase this backup was made with is too easy to guess" in stderr
    assert "it is built on a name others know" in stderr
    assert "locked by the new passphrase" in stderr
    restored = Home(target)
    assert restored.unlock(FOUR_WORDS.encode()).node_id == restored.identity().node_id
    with pytest.raises(WrongPassphrase):
        restored.unlock(b"1234")

    # or from the environment
    again = tmp_path / "again"
    ok(again, "restore", str(file), env=env("1234", SPANISH))
    Home(again).unlock(SPANISH.encode())
    with pytest.raises(WrongPassphrase):
        Home(again).unlock(b"1234")
