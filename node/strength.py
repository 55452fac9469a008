"""How strong a new passphrase must be, and why one was refused: one rule for ``init``,
``passwd`` and ``restore`` (docs/CLI.md).

Whoever copies a node folder or a backup (a seized laptop, a stick found at a border)
can try passphrases against the key file offline for as long as they like. Argon2id
makes each guess cost about 0.2 s of one core and 64 MiB (crypto/keyfile.py), but an
attacker runs many at once: only a passphrase that needs very many guesses holds. So a
new passphrase needs both of:

- **a zxcvbn score of 3 or more** (out of 0 to 4). zxcvbn, Dropbox's estimator (its
  maintained Python port), counts the guesses an attacker would need who tries common
  passwords, words and names, keyboard runs, dates, repeats, l33t spellings, and the
  strings passed as ``known`` (this node's name, its network's): 3 means at least 10^8
  guesses, some eight months of one core at our Argon2id cost, but hours for an
  attacker running 10,000 guesses a second (the figure the refusal gives its time at).
- **at least 15 characters** (Unicode characters, so a Hindi or Spanish passphrase
  counts as it reads). zxcvbn's dictionaries are English: one common word of another
  language (``contraseña``, ``पासवर्ड``, ``solidaridad``) looks to it like random
  letters and can score 3, while any attacker's list has it. No single common word is
  15 characters long; several words are, which is what we ask for. It is also the
  minimum NIST SP 800-63B (revision 4) sets for a password that is the only thing
  standing between an attacker and the secret, as here.

The estimator reads the first :data:`ESTIMATED` characters only (zxcvbn's own limit, and
its time grows fast with length); more only adds guesses, so a longer passphrase is
judged by its beginning, never wrongly let through. Nothing here reads a terminal or the
environment: the commands ask for the passphrase (node/cli_keys.py).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from node.errors import WeakPassphrase

MIN_LENGTH = 15
MIN_SCORE = 3
#: the characters zxcvbn is given (its default limit)
ESTIMATED = 72
#: what a good passphrase looks like; refused itself, so that nobody copies it
EXAMPLE = "kettle orbit mango lantern"
#: the attacker's speed the refusal's crack time is given at: zxcvbn's "offline, slow
#: hash" case, several machines running Argon2id with our parameters at once
GUESSES_PER_SECOND = "10,000"
#: words every node's passphrase is refused for building on
ALWAYS_KNOWN = ("commune", "passphrase", EXAMPLE)

GOOD = (
    f"a good passphrase is {MIN_LENGTH} characters or more: four or more unrelated words, "
    f'in any language, that only you would put together, like "{EXAMPLE}" (make up your own)'
)


@dataclass(frozen=True, slots=True)
class Verdict:
    """What the estimator made of a passphrase: ``reason`` is None when it passes."""

    score: int
    guesses: float
    crack_time: str
    reason: str | None

    @property
    def ok(self) -> bool:
        return self.reason is None


def known_words(*texts: str | None) -> list[str]:
    """The strings a passphrase must not be built on: ``texts`` (this node's name, its
    network's), each also without its spaces and word by word, and :data:`ALWAYS_KNOWN`."""
    known: list[str] = []
    for text in texts:
        if not text or not text.strip():
            continue
        known += [text, "".join(text.split())]
        known += [word for word in text.split() if len(word) >= 3]
    known += ALWAYS_KNOWN
    return list(dict.fromkeys(known))


def assess(passphrase: bytes | str, known: Iterable[str] = ()) -> Verdict:
    """How hard ``passphrase`` is to guess, and why it is refused if it is."""
    import zxcvbn  # type: ignore[import-untyped]  # noqa: PLC0415 - only the commands that need it

    text = passphrase.decode("utf-8", "replace") if isinstance(passphrase, bytes) else passphrase
    known = list(known)
    result: dict[str, Any] = zxcvbn.zxcvbn(text[:ESTIMATED], user_inputs=known)
    score = int(result["score"])
    crack_time = str(result["crack_times_display"]["offline_slow_hashing_1e4_per_second"])
    guesses = float(result["guesses"])
    reasons = []
    if " ".join(text.casefold().split()) == EXAMPLE:
        # printed by every refusal: the first thing anyone would try
        reasons.append("it is the example given here")
        score, guesses, crack_time = 0, 1.0, "less than a second"
    elif score < MIN_SCORE:
        reasons += _why(result, known)
    if len(text) < MIN_LENGTH:
        many = "character" if len(text) == 1 else "characters"
        reasons.append(f"it has {len(text)} {many}, fewer than {MIN_LENGTH}")
    elif score < MIN_SCORE and not reasons:
        reasons.append("it is made of common words or patterns")
    reason = ", and ".join(reasons) if reasons else None
    return Verdict(score, guesses, crack_time, reason)


def _why(result: dict[str, Any], known: list[str]) -> list[str]:
    """What zxcvbn found that makes it easy to guess: a name this node is known by, or
    its warning (a common password, a repeat, a keyboard run, a date...)."""
    names = {k.casefold() for k in known} - {w.casefold() for w in ALWAYS_KNOWN}
    for match in result["sequence"]:
        if match.get("dictionary_name") == "user_inputs" and match["matched_word"] in names:
            return ["it is built on a name others know (this node's or its network's)"]
    warning = str(result["feedback"]["warning"]).strip().rstrip(".")
    return [warning[0].lower() + warning[1:]] if warning else []


def refusal(verdict: Verdict) -> str:
    """The one line that says why a passphrase was refused and what a good one is."""
    return (
        f"this passphrase is too easy to guess: {verdict.reason}; someone with a copy of "
        f"the key file, trying {GUESSES_PER_SECOND} guesses a second, would find it in "
        f"{verdict.crack_time}. {GOOD[0].upper()}{GOOD[1:]}"
    )


def check(passphrase: bytes | str, known: Iterable[str] = ()) -> None:
    """Raise :class:`WeakPassphrase`, saying why and what a good one is, for a
    passphrase below the minimum; ``known``: what :func:`known_words` gives."""
    verdict = assess(passphrase, known)
    if not verdict.ok:
        raise WeakPassphrase(refusal(verdict))
