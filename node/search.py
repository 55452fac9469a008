"""What the search index holds of an item and how a search becomes an index query (no
SQL runs here: the index is kept by node/projector.py, made by node/schema.py and asked
by node/web/data.py).

The index is SQLite's FTS5 (SQLCipher's build has it), table ``item_text``, one row per
visible public item, written in the same transaction as the item's state, so it is
never out of step with it. A row's rowid is the item's rowid in ``items`` above its
kind's base (:func:`kind_base`): a search of one kind is a range of rowids, which the
index skips to, rather than a word of the kind in every row, which it would have to
read for every match (45 ms more to count 94,000 matches). It is
*contentless*: it keeps the words and where they are, not the text (the text is in
the log already); ``contentless_delete`` lets an item's row be removed by rowid alone,
and FTS5's ``secure-delete`` option removes an erased item's words from the index at
once rather than leaving them in older segments until a merge (a redaction, §12).
Private items are never in it: they are not in ``items`` either, and are searched in
memory as they are opened (node/web/data.py ``filter_rows``).

**Words, not substrings.** People search for a word or the start of a name: "reunión",
"Thandiwe", "बैठक", "17". The index splits text into words (the ``unicode61``
tokenizer: letters, digits and marks of any script, so a Devanagari word keeps its
vowel signs) and each word of a search matches the words that *start* with it ("Thand"
finds "Thandiwe", "report 17" finds "Report 170"); every word of a search must be in
the item, anywhere. Case is ignored and so are accents ("reunion" finds "reunión", and
"reunión" finds "reunion"): people type without them, on phones and on keyboards of
another language. What a substring search found and this does not: a piece from
inside a word ("union" in "reunión", a Zulu stem after its prefix, "hlangano" in
"nomhlangano"). The trigram tokenizer keeps substrings, and was measured on 100,000
reports of 900 bytes in the four languages: an index six times the size of the text
(459 MB for 78 MB) and 1.3 ms to index each report, against half the text's size and
about 60 µs for words. Ingest stores such a report in about 400 µs: words cost it 12 %
(2,565 events/s without the index, 2,255 with it, paired runs), trigrams would have
cost it three quarters. A search costs what the index holds of its words: a few ms for
a name, tens of ms for a word in most items or one or two letters ("t" begins a word in
every report).

**A word's start, asked as the words it begins.** FTS5 answers a word's start
(``"report"*``) by merging the lists of every word of the index it begins into one,
again for each query that holds it, whatever range of rows the query asks (15 ms for
"report" at 100,000 reports, all of a search that finds one of them, and again for
each step of the web view's walk along a list). The web view asks instead for the
index's words that it begins, when they are few (:data:`EXACT_TERMS`), each whole
(:func:`exact_expression`): the same items match, and FTS5 reads each word's list as
it stands, skipping to the rows asked. It finds those words in the index's
vocabulary, one step each, after splitting the search's words with the index's own
tokenizer (node/web/data.py).

**Nothing a user types is query syntax.** Each word of a search is quoted (a double
quote inside doubled), so ``AND``, ``OR``, ``NEAR(``, ``*``, ``:`` and ``^`` are text
to look for; a word with no letter or digit (``*``, ``"``, ``?!``) is left out, as the
index holds no such word. A search with no word left is not asked of the index:
node/web/data.py matches it as a substring, as before (rare, and slow on a large log).
"""

from __future__ import annotations

import hashlib
import unicodedata

import msgpack

from protocol.projections import ItemState

__all__ = [
    "EXACT_TERMS",
    "ROWIDS",
    "TOKENIZE",
    "exact_expression",
    "fold",
    "kind_base",
    "match_expression",
    "query_words",
    "stored_text",
    "text_of",
]

#: the tokenizer of the index (FTS5 ``unicode61``): ignore case and accents; letters,
#: digits, private use and marks (a Devanagari vowel sign is a mark) make up words
TOKENIZE = "unicode61 remove_diacritics 2 categories 'L* N* Co M*'"
#: a word of a search that begins at most this many of the index's words is asked as
#: those words (:func:`exact_expression`)
EXACT_TERMS = 16
#: an item's rowid in ``items`` is below this: its row in the index is its kind's base
#: plus its rowid (a store holds fewer than 2^40 items)
ROWIDS = 1 << 40


def fold(text: str) -> str:
    """Text as search compares it: NFC (as stored) and case-folded."""
    return unicodedata.normalize("NFC", text).casefold()


def text_of(state: ItemState) -> str:
    """An item's searchable text: every value it holds (its fields, and a kind's slots
    and dated records), case-folded; what the web view searched before the index."""
    return fold("\n".join(str(register[0]) for _, register in state.fields))


def stored_text(state: bytes) -> str:
    """:func:`text_of` an item's state as the store holds it (:meth:`ItemState.encode`:
    ``[kind, id, author, ts, [[name, [value, ts, author]], ...], ...]``), read with the
    plain decoder: the projection is this node's own, and filling the index of a large
    store reads every item (the canonical decoder took 60 µs an item)."""
    fields = msgpack.unpackb(state, raw=False)[4]
    return fold("\n".join(str(register[0]) for _, register in fields))


def kind_base(kind: str) -> int:
    """Where the rows of a kind's items begin in the index: one of 2^15 ranges of
    :data:`ROWIDS` rowids, chosen by the kind's name (so it is the same in every store
    and in every version; tests/test_search.py checks that no two kinds share one)."""
    slot = int.from_bytes(hashlib.sha256(kind.encode()).digest()[:2], "big") >> 1
    return (slot + 1) * ROWIDS


def _is_word_char(char: str) -> bool:
    return unicodedata.category(char)[0] in "LNM" or unicodedata.category(char) == "Co"


def _quoted(word: str) -> str:
    """A word of a search as an FTS5 string (a double quote inside doubled), matching
    the words it begins."""
    return '"' + word.replace('"', '""') + '"*'


def query_words(query: str) -> list[str]:
    """The words of a search: those with a letter or a digit."""
    return [w for w in fold(query).split() if any(_is_word_char(c) for c in w)]


def match_expression(query: str) -> str | None:
    """The FTS5 query for a search: every word of ``query`` (quoted: never query
    syntax); None when it holds no word."""
    words = query_words(query)
    return " AND ".join(_quoted(w) for w in words) if words else None


def exact_expression(words: list[str], begun: list[list[str] | None]) -> str:
    """:func:`match_expression` of a search of ``words``, each word that is one word of
    the index's (as its tokenizer splits it) asked as the index's words that it begins
    (``begun``, one list per word, looked up in the index by node/web/data.py; None to
    keep that word's start as it is: it splits into several, or begins too many).

    The same items match: a word's start matches exactly the index's words it begins.
    What changes is FTS5's cost: a word's start makes it merge the lists of every
    word it begins into one, each time it is asked (15 ms for "report" in 100,000
    reports, even with a range of rowids or beside a word found once), while a word
    asked whole is read from its list as it stands, skipping to the range asked."""
    parts = []
    for word, terms in zip(words, begun, strict=True):
        if terms is None:
            parts.append(_quoted(word))
        elif not terms:  # begins none: asked whole, it is in no item either
            parts.append(_quoted(word)[:-1])
        else:
            whole = ['"' + t.replace('"', '""') + '"' for t in terms]
            parts.append(whole[0] if len(whole) == 1 else "(" + " OR ".join(whole) + ")")
    return " AND ".join(parts)
