"""Text a peer controls never reaches a terminal raw.

Names, titles, addresses, a peer's error text: a peer could put terminal escapes in
them (an ANSI sequence that rewrites the screen, an OSC sequence that sets the window
title or a clipboard, a bidi override that makes text read in another order). Events
of known kinds that hold such characters are refused on ingest (docs/PROTOCOL.md
§3.8), but a store may be older, an unknown kind's text is not checked, and an error
a peer sends is not an event. So the command line writes everything it prints through
:class:`SafeStream`, which shows each such character as a ``\\uXXXX`` escape: visible,
harmless, and still valid inside the JSON that ``--json`` prints.
"""

from __future__ import annotations

import re
from typing import Any, TextIO

#: C0 controls but line feed and tab, DEL and the C1 controls, the line and paragraph
#: separators, and the bidi embeddings, overrides and isolates
UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def safe(text: str) -> str:
    """``text`` with every character a terminal would act on shown as an escape."""
    return UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


class SafeStream:
    """A text stream that writes :func:`safe` text to the one it wraps."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        self._stream.write(safe(text))
        return len(text)

    def writelines(self, lines: Any) -> None:
        for line in lines:
            self.write(line)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def install(module: Any) -> None:
    """Wrap ``module.stdout`` and ``module.stderr`` (``sys``'s) once."""
    for name in ("stdout", "stderr"):
        stream = getattr(module, name)
        if stream is not None and not isinstance(stream, SafeStream):
            setattr(module, name, SafeStream(stream))
