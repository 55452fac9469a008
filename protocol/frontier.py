"""A frontier (docs/PROTOCOL.md §8.1): for each author, the last seq a node holds and the
id of that event. Two frontiers tell each side what the other lacks."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from protocol.errors import BadShape

#: A peer may name at most this many authors (a network is dozens of collectives).
MAX_AUTHORS = 10_000


@dataclass(frozen=True, slots=True)
class Frontier:
    heads: Mapping[bytes, tuple[int, bytes]] = field(default_factory=dict)

    def seq(self, author: bytes) -> int:
        head = self.heads.get(author)
        return 0 if head is None else head[0]

    def lacks(self, author: bytes, seq: int) -> bool:
        return seq > self.seq(author)

    def __iter__(self) -> Iterator[bytes]:
        return iter(sorted(self.heads))

    def __len__(self) -> int:
        return len(self.heads)

    def to_value(self) -> list[list[Any]]:
        return [[author, *self.heads[author]] for author in self]

    @classmethod
    def from_value(cls, value: Any) -> Frontier:
        if not isinstance(value, list):
            raise BadShape("a frontier is a list of [author, seq, head]")
        if len(value) > MAX_AUTHORS:
            raise BadShape(f"a frontier names at most {MAX_AUTHORS} authors, not {len(value)}")
        heads: dict[bytes, tuple[int, bytes]] = {}
        previous = b""
        for entry in value:
            if (
                not isinstance(entry, list)
                or len(entry) != 3
                or not isinstance(entry[0], bytes)
                or len(entry[0]) != 32
                or type(entry[1]) is not int
                or not 0 < entry[1] < 2**63
                or not isinstance(entry[2], bytes)
                or len(entry[2]) != 32
            ):
                raise BadShape(
                    "a frontier entry is [author (32 bytes), seq (> 0), head (32 bytes)]"
                )
            if entry[0] <= previous:
                raise BadShape("a frontier's authors must be sorted and not repeated")
            previous = entry[0]
            heads[entry[0]] = (entry[1], entry[2])
        return cls(heads)
