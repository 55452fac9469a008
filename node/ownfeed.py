"""Never forking this node's own feed (docs/PROTOCOL.md §10.5): what may block writing
(evidence only, never a peer's word), how a store's origin is told, and what confirms
the feed. :class:`node.service.Node` asks these before every write of its own.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from node.home import Home
from node.store import Store

#: The marks of a store that may hold less of this node's own feed than peers do, and
#: that block writing until a peer has confirmed the feed (``feed_unconfirmed``; after a
#: ``join`` the key was made here, so no peer can hold more of the feed: not blocking).
UNCONFIRMED_BLOCKS = {
    "copied": "its folder or store file was copied here",
    "restored": "it was restored from a backup",
    "new-store": "the store was made after the key",
    "behind": "it holds less of the feed than this node recorded writing",
}


@dataclass(frozen=True, slots=True)
class FeedProblem:
    """Why this node must not write its own feed now (:meth:`Node.feed_problem`)."""

    #: "behind": the store holds less than the node recorded writing; "unconfirmed": it
    #: may be older than the feed (copied, restored, new); "held": its own events wait
    #: here above a gap (a peer holds more of the feed)
    code: str
    message: str


def check_store_origin(home: Home, store: Store, node_id: bytes, existed: bool) -> None:
    """A store that is not the one ``init`` made next to this key (made later, or
    copied or restored from elsewhere), or one that holds less of this node's own
    feed than the node has recorded writing (an older copy put in its place, whatever
    its inode), may hold less of the feed than its peers do: mark the feed
    unconfirmed, so nothing is written before a peer has been asked
    (docs/PROTOCOL.md §10.5)."""
    stat = os.stat(home.store_path)
    here = f"{stat.st_dev}:{stat.st_ino}"
    recorded = store.get_meta("store_file")
    head = store.head(node_id)
    behind = home.recorded_head() > (head.seq if head else 0)
    if recorded == here and not behind:
        if store.get_meta("feed_unconfirmed") == "behind":
            with store.write():  # caught up since: the store holds what it wrote
                store.set_meta("feed_unconfirmed", "")
        return
    with store.write():
        if behind and store.get_meta("feed_unconfirmed") not in UNCONFIRMED_BLOCKS:
            store.set_meta("feed_unconfirmed", "behind")
        elif recorded is not None and recorded != here:
            store.set_meta("feed_unconfirmed", "copied")
        elif recorded is None and not existed and store.get_meta("made_by_init") is None:
            store.set_meta("feed_unconfirmed", "new-store")
        store.set_meta("store_file", here)


def feed_problem(home: Home, store: Store, node_id: bytes) -> FeedProblem | None:
    """Why writing to this node's own feed now could fork it, or None. Only evidence
    counts (docs/PROTOCOL.md §10.5): a store that may be older than the feed and
    has not been confirmed by a peer since, a store behind what this node recorded
    writing, or this node's own signed events held here above a gap. What a peer
    merely claims never blocks a write."""
    head = store.head(node_id)
    mine = head.seq if head else 0
    reason = store.get_meta("feed_unconfirmed") or ""
    recorded = home.recorded_head()
    if recorded > mine:
        return FeedProblem(
            "behind",
            f"this node has written its own feed up to seq {recorded} (recorded in "
            f"{home.head_path}), but this store holds it only up to seq {mine}: an "
            "older copy of the store? Writing now would fork the feed. Run `commune "
            "sync` to fetch the rest from a peer",
        )
    if reason in UNCONFIRMED_BLOCKS and reason != "behind":  # "behind": as recorded
        return FeedProblem(
            "unconfirmed",
            f"this store may be older than this node's own feed ({UNCONFIRMED_BLOCKS[reason]}"
            "), and no peer has confirmed how far the feed goes since. Writing now "
            "could fork it: run `commune sync` once a peer can be reached",
        )
    span = store.held_span(node_id)
    if span is not None:
        low, high = span
        return FeedProblem(
            "held",
            f"this store holds this node's own events {low}–{high} from a peer, but not "
            f"those from seq {mine + 1} before them: writing now would fork the feed. "
            "Run `commune sync` to fetch the rest",
        )
    return None


def confirm_feed(home: Home, store: Store, node_id: bytes, claimed: int) -> bool:
    """After a complete pull from a peer that holds this node's feed up to seq
    ``claimed`` (and sent all of it: the caller checked): the store's head is
    confirmed unless it is still behind what this node recorded writing. Whether the
    feed is confirmed now."""
    head = store.head(node_id)
    mine = head.seq if head else 0
    if claimed > mine or home.recorded_head() > mine:
        return False
    if store.get_meta("feed_unconfirmed"):
        with store.write():
            store.set_meta("feed_unconfirmed", "")
    return True


def accept_feed_at_store(home: Home, store: Store, node_id: bytes) -> None:
    """The user's word, after peers were asked: the events of this node's feed above
    this store's head were never sent to anyone and are lost; write from here."""
    head = store.head(node_id)
    with store.write():
        store.set_meta("feed_unconfirmed", "")
    if head is not None:
        home.record_head(head.seq, head.id)
    else:
        home.head_path.unlink(missing_ok=True)
