"""Times and sizes in words, for what the command line prints."""

from __future__ import annotations

# --- words for times and sizes -------------------------------------------------------------


def ago(seconds: float) -> str:
    """``3 minutes ago``; ``in 2 hours`` for a time ahead."""
    ahead = seconds < 0
    seconds = abs(seconds)
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60), ("second", 1)):
        if seconds >= size or unit == "second":
            n = int(seconds // size)
            if unit == "second" and n < 5:
                return "just now"
            words = f"{n} {unit}{'s' if n != 1 else ''}"
            return f"in {words}" if ahead else f"{words} ago"
    return "just now"  # pragma: no cover


def plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def size(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"


def span(seconds: float) -> str:
    """A duration in words: ``4 minutes``, ``2 s``."""
    seconds = abs(seconds)
    if seconds < 120:
        return f"{seconds:.0f} s"
    return ago(seconds).removesuffix(" ago")


# --- status ------------------------------------------------------------------------------
