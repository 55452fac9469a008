"""Hybrid logical clock (docs/PROTOCOL.md §3.2): time is an argument, never read here.

A timestamp is one 64-bit integer: milliseconds since 1970 in the high 48 bits, a
counter in the low 16. It follows the wall clock when it can, never goes backwards, and
stays ahead of every timestamp the node has seen (within :data:`MAX_AHEAD_MS`).
"""

from __future__ import annotations

LOGICAL_BITS = 16
#: A timestamp further ahead of the local clock than this is suspect: shown as such and
#: not allowed to drag the local clock forward (a faulty peer could otherwise push every
#: later local timestamp into the far future).
MAX_AHEAD_MS = 24 * 3600 * 1000


def pack(ms: int, counter: int = 0) -> int:
    return (ms << LOGICAL_BITS) | counter


def millis(ts: int) -> int:
    """The wall-clock part of a timestamp, in milliseconds since 1970."""
    return ts >> LOGICAL_BITS


def next_ts(last: int, now_ms: int) -> int:
    """The timestamp of a new local event after ``last`` (the highest issued or seen)."""
    return max(pack(now_ms), last + 1)


def observe(last: int, seen: int, now_ms: int) -> int:
    """The clock after seeing a remote timestamp ``seen``."""
    if is_suspect(seen, now_ms):
        return last
    return max(last, seen)


def is_suspect(ts: int, now_ms: int) -> bool:
    """Far ahead of the local clock: shown as suspect, never refused."""
    return millis(ts) > now_ms + MAX_AHEAD_MS
