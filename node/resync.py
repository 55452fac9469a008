"""``commune resync``: a new store for a node whose store is damaged (issue 14).

A damaged store takes no more writes (node/store.py). This makes a fresh one in its
place, in one step, from two sources:

1. what still reads and checks in the damaged file: the network's id and founding
   event, the peers' addresses, and every event it can read, each taken in by the rules
   of any ingest (node/service.py), so nothing that does not verify comes back;
2. the peers: one sync round with each, which brings back the rest of the log and this
   node's own feed.

The damaged file is kept beside it (``store.sqlite.damaged-TIME``), never deleted. The
new store is marked as new, so the node writes nothing before a peer has confirmed how
far its own feed goes (docs/PROTOCOL.md §10.5).
"""

from __future__ import annotations

import contextlib
import datetime
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from crypto.errors import CommuneError
from node import peers as peer_list
from node.errors import ConfigError, StoreCorrupt
from node.home import Home
from node.servelock import serve_running
from node.service import IngestResult, Node
from node.storefile import Foreign, foreign_events
from protocol.card import Card
from protocol.envelope import Event
from protocol.errors import BadCard, InvalidEvent
from protocol.invite import check_genesis
from protocol.validate import check_event


@dataclass
class Salvage:
    """What could be read from a damaged store."""

    genesis: Event | None = None
    peers: list[tuple[Card, str | None]] = field(default_factory=list)
    peer_urls: list[str] = field(default_factory=list)
    #: rows of events that could not be read at all
    lost: int = 0


@dataclass
class Outcome:
    kept_as: Path
    salvaged: IngestResult
    lost: int
    network: bool


def resync(home: Home) -> Outcome:
    """Move the damaged store aside and make a new one from what still checks in it.
    (The peers' round is the caller's: it needs the keys.)"""
    home.require()
    if serve_running(home.path) is not None:
        raise ConfigError("`serve` runs on this node folder: stop it first, then resync")
    damaged = home.store_path
    if not damaged.exists():
        raise ConfigError(f"there is no store at {damaged} to make again")
    found = Foreign()
    try:
        raws = list(foreign_events(damaged, found, home.store_key))  # read before anything is moved
    except StoreCorrupt as e:
        raise ConfigError(f"the damaged store cannot be read at all ({e.message})") from None
    salvage = _salvage(found)
    stamp = datetime.datetime.now(tz=datetime.UTC).strftime("%Y%m%d-%H%M%S")
    kept = damaged.with_name(f"{damaged.name}.damaged-{stamp}")
    for suffix in ("", "-wal", "-shm"):
        source = Path(f"{damaged}{suffix}")
        if source.exists():
            os.replace(source, Path(f"{kept}{suffix}"))
    with Node.open(home) as node:
        with node.store.write():
            if salvage.genesis is not None:
                node.store.set_meta("network", salvage.genesis.id.hex())
                node.store.set_meta("genesis", salvage.genesis.raw.hex())
            for card, url in salvage.peers:
                node.store.add_peer(card, url)
            if salvage.peer_urls:
                node.store.set_meta(peer_list.MANUAL, json.dumps(salvage.peer_urls))
            node.store.set_meta("feed_unconfirmed", "new-store")
            node.projector.rebuild()
        taken = IngestResult()
        for batch in node.ingest_batches(_batches(raws)):
            taken.new += batch.new
            taken.known += batch.known
            taken.held += batch.held
            taken.forks += batch.forks
            taken.refused.update(batch.refused)
    return Outcome(kept, taken, salvage.lost, salvage.genesis is not None)


def _batches(raws: list[bytes]) -> Iterator[list[bytes]]:
    for start in range(0, len(raws), 2000):
        yield raws[start : start + 2000]


def _salvage(found: Foreign) -> Salvage:
    """The network and the peers' addresses of a damaged store, where they still check."""
    salvage = Salvage(lost=found.lost)
    with contextlib.suppress(ValueError, InvalidEvent, CommuneError):
        genesis = check_event(bytes.fromhex(found.meta["genesis"]))
        check_genesis(genesis)
        salvage.genesis = genesis
    with contextlib.suppress(ValueError, TypeError, KeyError):
        for url in json.loads(found.meta[peer_list.MANUAL]):
            with contextlib.suppress(CommuneError):
                salvage.peer_urls.append(peer_list.check_url(str(url)))
    for card_text, url in found.peers:
        with contextlib.suppress(BadCard, TypeError):
            salvage.peers.append((Card.from_text(card_text), url))
    return salvage
