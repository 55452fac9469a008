"""Who is a member, decided by the log alone (docs/PROTOCOL.md §5.5).

Membership is a pure fold over the genesis and the admins' actions, so every node that
holds the same events reaches the same answer, whatever order they arrived in:

1. The genesis author (the founder) is a member and an admin from the genesis' seq.
2. Admin actions (admit, revoke, role) are taken in ``(ts, author, seq, id)`` order. An
   action counts only if, at that point of the order, its author is an admin *at the
   action's seq*. Grants are never retroactive.
3. A cutoff is retroactive: "events of a revoked node above its cutoff are invalid,
   whenever they arrive". When a revocation or demotion strikes admin actions that
   were already counted, those actions become *void* and the fold starts again without
   them. The void set only grows, so the fold ends; it is a function of the set of
   actions, so it gives the same answer everywhere. Two admins who revoke each other at
   once: the earlier action in the order counts, and the later one, made by an admin
   already cut off, does not.
4. A member whose feed forked at seq f counts up to f - 1 only, like a cutoff.

An event counts (is valid in the network) when its author is a member and its seq is
within the author's cutoff and before any fork.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from protocol.envelope import Event
from protocol.kinds.member import Action, Admit, Genesis, Revoke, Role

Range = tuple[int, int | None]


@dataclass(frozen=True, slots=True)
class Member:
    node_id: bytes
    name: str
    sealing_key: bytes
    #: the id of the event that admitted it (the genesis, for the founder)
    admitted_by: bytes
    #: the seqs of its own feed whose admin actions count: (from, to or None)
    admin_ranges: tuple[Range, ...] = ()
    #: revoked: its events with a higher seq do not count
    cutoff: int | None = None
    #: two different events at this seq: it and everything after do not count
    forked_at: int | None = None
    #: the signature of its TLS certificate (docs/PROTOCOL.md §10.1)
    tls: bytes = bytes(64)

    def counts(self, seq: int) -> bool:
        return (self.cutoff is None or seq <= self.cutoff) and (
            self.forked_at is None or seq < self.forked_at
        )

    def is_admin_at(self, seq: int) -> bool:
        return self.counts(seq) and any(
            low <= seq and (high is None or seq <= high) for low, high in self.admin_ranges
        )

    @property
    def is_admin(self) -> bool:
        """An admin now: an open admin range, not revoked, not forked."""
        return (
            self.cutoff is None
            and self.forked_at is None
            and any(high is None for _, high in self.admin_ranges)
        )

    @property
    def state(self) -> str:
        if self.forked_at is not None:
            return "forked"
        if self.cutoff is not None:
            return "revoked"
        return "admitted"

    def as_list(self) -> list[Any]:
        return [
            self.node_id,
            self.name,
            self.sealing_key,
            self.admitted_by,
            [list(r) for r in self.admin_ranges],
            self.cutoff,
            self.forked_at,
            self.tls,
        ]


@dataclass(frozen=True, slots=True)
class ActionEvent:
    """An admin action and where it stands in its author's feed."""

    id: bytes
    author: bytes
    seq: int
    ts: int
    action: Action

    def order(self) -> tuple[int, bytes, int, bytes]:
        return (self.ts, self.author, self.seq, self.id)


@dataclass(frozen=True, slots=True)
class Membership:
    network_id: bytes
    name: str
    founder: bytes
    members: Mapping[bytes, Member]
    #: admin actions that do not count, by id (§5.5 rule 3)
    void: frozenset[bytes] = frozenset()

    def get(self, node_id: bytes) -> Member | None:
        return self.members.get(node_id)

    def counts(self, author: bytes, seq: int) -> bool:
        member = self.members.get(author)
        return member is not None and member.counts(seq)

    def admins(self) -> list[Member]:
        return [m for m in self.members.values() if m.is_admin]

    def as_list(self) -> list[Any]:
        return [
            self.network_id,
            self.name,
            self.founder,
            [m.as_list() for _, m in sorted(self.members.items())],
            sorted(self.void),
        ]


def _apply(members: dict[bytes, Member], event: ActionEvent, forks: Mapping[bytes, int]) -> bool:
    """Apply one admin action whose author is an admin; False when it changes nothing
    (admitting a node twice, acting on a node that is not a member)."""
    action = event.action
    target = members.get(action.node)
    if isinstance(action, Admit):
        if target is not None:
            return False  # a member, or revoked: a revoked key is never let back in
        members[action.node] = Member(
            action.node,
            action.name,
            action.sealing_key,
            event.id,
            ((1, None),) if action.admin else (),
            None,
            forks.get(action.node),
            action.tls,
        )
        return True
    if target is None:
        return False
    if isinstance(action, Revoke):
        cutoff = action.cutoff if target.cutoff is None else min(target.cutoff, action.cutoff)
        members[action.node] = dataclasses.replace(target, cutoff=cutoff)
        return True
    if action.admin:
        if target.cutoff is not None or target.is_admin:
            return False
        ranges = (*target.admin_ranges, (action.seq + 1, None))
    else:
        ranges = tuple(
            (low, high if high is not None else action.seq)
            for low, high in target.admin_ranges
            if high is not None or low <= action.seq
        )
    members[action.node] = dataclasses.replace(target, admin_ranges=ranges)
    return True


def fold(
    genesis: Event,
    info: Genesis,
    actions: Iterable[ActionEvent],
    forks: Mapping[bytes, int] | None = None,
) -> Membership:
    """The membership that the genesis, these admin actions and this fork evidence
    (author -> lowest forked seq) give, by the rules of the module docstring."""
    forks = forks or {}
    ordered = sorted(actions, key=ActionEvent.order)
    void: set[bytes] = set()
    while True:
        founder = Member(
            genesis.author,
            info.founder_name,
            info.sealing_key,
            genesis.id,
            ((genesis.seq, None),),
            None,
            forks.get(genesis.author),
            info.tls,
        )
        members = {genesis.author: founder}
        counted: dict[bytes, list[ActionEvent]] = {}
        struck: list[bytes] = []
        for event in ordered:
            if event.id in void:
                continue
            author = members.get(event.author)
            if author is None or not author.is_admin_at(event.seq):
                continue
            if not _apply(members, event, forks):
                continue
            counted.setdefault(event.author, []).append(event)
            if isinstance(event.action, Revoke | Role):
                target = members[event.action.node]
                struck = [
                    earlier.id
                    for earlier in counted.get(target.node_id, [])
                    if earlier is not event and not target.is_admin_at(earlier.seq)
                ]
                if struck:
                    break
        if not struck:
            return Membership(genesis.id, info.name, genesis.author, members, frozenset(void))
        void.update(struck)


# --- the log closure and what counts, as numbers (§5.5) ------------------------------


def closure(founder: bytes, admits: Iterable[tuple[bytes, bytes]]) -> set[bytes]:
    """§5.5 (a): the authors whose events enter the log: the founder, and anyone named by
    an admit action (``(author, node admitted)``) of an author already in the set,
    whether or not that action counts (the caller passes the admits of the log and those
    held until they can be placed, §6.3).

    Adding admits can only grow this set, so every node that has the same events has the
    same log; what *counts* is decided over that log by :func:`fold`."""
    edges: dict[bytes, set[bytes]] = {}
    for author, node in admits:
        edges.setdefault(author, set()).add(node)
    reached = {founder}
    frontier = [founder]
    while frontier:
        for target in edges.get(frontier.pop(), ()):
            if target not in reached:
                reached.add(target)
                frontier.append(target)
    return reached


def limits(membership: Membership | None) -> dict[bytes, float]:
    """§5.5 rules 3 and 4: for each member, the highest seq of its feed that counts (inf
    when unlimited): its cutoff, and below its first fork."""
    if membership is None:
        return {}
    result: dict[bytes, float] = {}
    for node_id, m in membership.members.items():
        limit = float("inf")
        if m.cutoff is not None:
            limit = m.cutoff
        if m.forked_at is not None:
            limit = min(limit, m.forked_at - 1)
        result[node_id] = limit
    return result


def shrank(before: Membership | None, after: Membership | None) -> bool:
    """Whether some events that counted under ``before`` no longer count (§4.5 step 4:
    the projections are then folded again from the whole log)."""
    old, new = limits(before), limits(after)
    return any(new.get(node, -1.0) < limit for node, limit in old.items())


def grew(before: Membership | None, after: Membership | None) -> dict[bytes, tuple[float, float]]:
    """For each author with more events counting under ``after``: (old limit, new limit)
    (§4.5 step 4: those events are merged in)."""
    old, new = limits(before), limits(after)
    return {
        node: (old.get(node, 0.0), limit)
        for node, limit in new.items()
        if limit > old.get(node, 0.0)
    }
