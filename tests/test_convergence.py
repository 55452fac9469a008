"""Any delivery order gives the same state (docs/PROTOCOL.md §5): random histories from
several authors, delivered to several real nodes in different orders, in batches, with
duplicates and gaps filled later. Every node ends with the same state hash and the same
projections."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crypto.identity import NodeKeys
from crypto.sign import SigningKey
from node.home import Home
from node.service import Node
from protocol import encoding
from protocol.envelope import NO_NETWORK, Event, create_event
from protocol.kinds import member
from tests.helpers import fixed_key

FOUNDER = NodeKeys(fixed_key(1), bytes(range(32)))
A, B, C, D = (fixed_key(n) for n in (2, 3, 4, 5))
MEMBERS = [A, B, C]


@dataclass
class World:
    """Writes valid feeds for several authors, with interleaved clocks."""

    feeds: dict[bytes, list[Event]] = field(default_factory=dict)
    network: bytes = NO_NETWORK
    now: int = 1_000_000 << 16

    def write(self, key: SigningKey, kind: str, payload: dict[str, Any], skew: int = 0) -> Event:
        feed = self.feeds.setdefault(key.public, [])
        self.now += 1 << 16
        ts = max(self.now + skew, feed[-1].ts + 1 if feed else 0)
        event = create_event(
            key,
            network=self.network if kind != member.GENESIS else NO_NETWORK,
            seq=len(feed) + 1,
            prev=feed[-1].id if feed else None,
            ts=ts,
            kind=kind,
            body=encoding.encode(payload),
        )
        feed.append(event)
        return event

    def all(self) -> list[Event]:
        return [e for feed in self.feeds.values() for e in feed]


def admit(world: World, by: SigningKey, who: SigningKey, admin: bool) -> Event:
    action = member.Admit(who.public, f"node {who.public[:2].hex()}", bytes(32), admin)
    return world.write(by, member.ADMIT, member.action_payload(action))


@st.composite
def histories(draw: st.DrawFn) -> tuple[World, Event]:
    world = World()
    genesis = world.write(
        FOUNDER.signing,
        member.GENESIS,
        member.genesis_payload(member.Genesis("Red", "Los Angeles", FOUNDER.sealing_public)),
    )
    world.network = genesis.id
    admins = {FOUNDER.signing.public}
    for who in MEMBERS:
        is_admin = draw(st.booleans())
        admit(world, FOUNDER.signing, who, is_admin)
        if is_admin:
            admins.add(who.public)
    plans: list[bytes] = []
    reports: list[bytes] = []
    contacts: list[bytes] = []
    authors = [FOUNDER.signing, *MEMBERS]
    for _ in range(draw(st.integers(5, 30))):
        author = draw(st.sampled_from(authors))
        skew = draw(st.integers(-3, 3)) << 16  # clocks a little apart: real concurrency
        op = draw(
            st.sampled_from(
                [
                    "report",
                    "plan",
                    "plan.update",
                    "report.retract",
                    "contact",
                    "contact.update",
                    "contact.delete",
                    "poll",
                    "revoke",
                    "role",
                    "admit-d",
                ]
            )
        )
        if op == "report":
            reports.append(
                world.write(author, "report", {"v": 1, "title": f"r{len(reports)}"}, skew).id
            )
        elif op == "plan":
            plans.append(
                world.write(author, "plan", {"v": 1, "title": "p", "status": "open"}, skew).id
            )
        elif op == "plan.update" and plans:
            target = draw(st.sampled_from(plans))
            status = draw(st.sampled_from(["open", "doing", "done", "dropped"]))
            # an edit may rank after what its author had seen, however far ahead (§5.3)
            after = draw(st.one_of(st.none(), st.integers(0, 2**64 - 2)))
            extra = {} if after is None else {"after": after}
            world.write(author, op, {"v": 1, "of": target, "status": status, **extra}, skew)
        elif op == "report.retract" and reports:
            world.write(author, op, {"v": 1, "of": draw(st.sampled_from(reports))}, skew)
        elif op == "contact":
            contacts.append(world.write(author, "contact", {"v": 1, "name": "Ana"}, skew).id)
        elif op in ("contact.update", "contact.delete") and contacts:
            fields = {"phone": str(draw(st.integers(0, 99)))} if op == "contact.update" else {}
            world.write(author, op, {"v": 1, "of": draw(st.sampled_from(contacts)), **fields}, skew)
        elif op == "poll":
            world.write(author, "poll", {"v": 1, "question": "¿Cuándo?"}, skew)
        elif op == "revoke":
            target = draw(st.sampled_from(MEMBERS))
            cutoff = draw(st.integers(0, len(world.feeds.get(target.public, []))))
            world.write(
                author, member.REVOKE, {"v": 1, "node": target.public, "cutoff": cutoff}, skew
            )
        elif op == "role":
            target = draw(st.sampled_from(MEMBERS))
            seq = len(world.feeds.get(target.public, []))
            payload = {"v": 1, "node": target.public, "admin": draw(st.booleans()), "seq": seq}
            world.write(author, member.ROLE, payload, skew)
        elif op == "admit-d":
            admit(world, author, D, False)
            world.write(D, "report", {"v": 1, "title": "from D"})
    return world, genesis


@dataclass
class Replica:
    node: Node

    def view(self) -> dict[str, Any]:
        p = self.node.projector
        return {
            "hash": p.state_hash(),
            "members": p.members(),
            "plans": p.rows("plan"),
            "reports": p.rows("report"),
            "contacts": p.rows("contact"),
            "unknown": [u["id"] for u in p.unknown()],
        }


def replica(stack: ExitStack, root: Path, name: str, genesis: Event) -> Replica:
    home = Home(root / name)
    home.init(name, None)
    node = stack.enter_context(Node.open(home))
    # A replica that knows the network (as a restored node does) without being a member
    # of it: it takes in the events, and need not be admitted to hold them.
    with node.store.write():
        node.store.set_meta("network", genesis.id.hex())
        node.store.set_meta("genesis", genesis.raw.hex())
        node.projector.rebuild()
    node.ingest([genesis.raw])
    return Replica(node)


def batches(events: list[Event], sizes: list[int]) -> Iterator[list[bytes]]:
    i = 0
    for size in sizes:
        if i >= len(events):
            return
        yield [e.raw for e in events[i : i + size]]
        i += size
    if i < len(events):
        yield [e.raw for e in events[i:]]


def check_convergence(history: tuple[World, Event], data: st.DataObject) -> None:
    world, genesis = history
    events = world.all()
    with tempfile.TemporaryDirectory() as tmp, ExitStack() as stack:
        reference = replica(stack, Path(tmp), "reference", genesis)
        reference.node.ingest([e.raw for e in events])  # everything, in feed order
        expected = reference.view()
        for name in ("one", "two", "three"):
            copy = replica(stack, Path(tmp), name, genesis)
            order = data.draw(st.permutations(events), label=f"order {name}")
            repeats = data.draw(st.lists(st.sampled_from(events), max_size=5), label="repeats")
            sizes = data.draw(st.lists(st.integers(1, 8), max_size=20), label="batch sizes")
            for batch in batches([*order, *repeats], sizes):
                copy.node.ingest(batch)
            assert copy.view() == expected
        reference.node.rebuild()
        assert reference.view() == expected


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(histories(), st.data())
def test_any_delivery_order_gives_the_same_state(
    history: tuple[World, Event], data: st.DataObject
) -> None:
    check_convergence(history, data)


@pytest.mark.long
@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(histories(), st.data())
def test_any_delivery_order_gives_the_same_state_long(
    history: tuple[World, Event], data: st.DataObject
) -> None:
    check_convergence(history, data)
