"""Write §10.3's tables of the sync round's transitions and refusals in
docs/PROTOCOL.md from the one table the sessions follow (protocol/states.py), so that
the spec and the code cannot drift (as h11 makes its state diagrams from its table).

    python docs/make_sync_tables.py           rewrite the tables in place
    python docs/make_sync_tables.py --check   exit 1 if they are stale

tests/test_session.py checks them. They are written between
``<!-- sync:transitions -->`` and ``<!-- /sync:transitions -->``.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from protocol.states import markdown  # noqa: E402

PROTOCOL = ROOT / "docs" / "PROTOCOL.md"
BEGIN, END = "<!-- sync:transitions -->\n", "<!-- /sync:transitions -->"


def written(text: str) -> str:
    """``text`` with the tables between the markers made again."""
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    return head + BEGIN + markdown() + END + tail


def main(argv: list[str]) -> int:
    text = PROTOCOL.read_text(encoding="utf-8")
    new = written(text)
    if "--check" in argv:
        if new != text:
            print(f"{PROTOCOL} is stale: run python docs/make_sync_tables.py", file=sys.stderr)
            return 1
        return 0
    if new != text:
        PROTOCOL.write_text(new, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
