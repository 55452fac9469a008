"""What a node holds, as a sync session asks it, and what it sends from it
(docs/PROTOCOL.md §10.3), sans-I/O.

:class:`Holdings` is the one door between a session (protocol/session.py) and the
node's store: the node answers it (node/sync_base.py); the functions here read it to
say, by the rules of §10.3, which frames go to a peer, where two branches of a feed
may have parted and where exactly, and whether a peer's hello claims more of this
node's own feed than the peer then sent (§10.5). None of them writes anything.
"""

from __future__ import annotations

from collections.abc import Generator, Iterable, Iterator, Mapping, Sequence
from typing import Protocol

from protocol.envelope import Event
from protocol.errors import InvalidEvent, SyncError
from protocol.kinds import member as member_kinds
from protocol.sync import (
    END,
    EVENT,
    FORK,
    End,
    Hello,
    IdsAnswer,
    IdsRequest,
    frame,
    missing_forks,
    narrow,
    plan,
    probes,
)
from protocol.validate import check_event


class Holdings(Protocol):
    """What this node holds. Read only: a session never writes through it."""

    @property
    def node_id(self) -> bytes:
        """This node's own id (its feed's author)."""
        ...

    @property
    def network(self) -> bytes:
        """The network this node is in."""
        ...

    def hello(self) -> Hello:
        """This node's full hello now: its network, frontier and fork evidence ids."""
        ...

    def heads(self) -> Mapping[bytes, tuple[int, bytes]]:
        """Each author of the log: its last seq and that event's id."""
        ...

    def id_at(self, author: bytes, seq: int) -> bytes | None:
        """The id of the log's event of ``author`` at ``seq``, or None."""
        ...

    def event_at(self, author: bytes, seq: int) -> Event | None:
        """The log's event of ``author`` at ``seq``, or None."""
        ...

    def forks(self) -> Sequence[Event]:
        """The fork evidence kept (§4.5), in order of author, seq, id."""
        ...

    def fork_seqs(self) -> Mapping[bytes, int]:
        """Each author with fork evidence kept: the lowest seq of it."""
        ...

    def held(self, kinds: Sequence[str]) -> Sequence[Event]:
        """The events of these kinds held without a place in the log (§4.5)."""
        ...

    def log_from(self, start: Mapping[bytes, int]) -> Iterator[bytes]:
        """The wire bytes of each author's log events from its seq in ``start`` on, in
        the order the log appended them, read a bounded piece at a time."""
        ...


def outgoing(
    holdings: Holdings, theirs: Hello, places: Iterable[tuple[bytes, int]] = ()
) -> Iterator[bytes]:
    """The frames of what a peer whose hello is ``theirs`` lacks (§10.3, "What a sender
    sends"): the held admissions it lacks and the log events it lacks, in log order;
    then the fork evidence it does not list, our events where the feeds diverged and
    our events at ``places`` (where it showed it holds others); then the end frame.
    Read lazily: memory stays bounded whatever the log's size."""
    wanted = plan(holdings.heads(), theirs.frontier, holdings.id_at)
    events = 0
    if wanted.start:
        # Admissions held here ride first with what is sent, so the peer lets in the
        # nodes they admit even before the admins' feeds reach it (§6.3).
        for held in holdings.held(member_kinds.ACTIONS):
            if theirs.frontier.seq(held.author) < held.seq:
                events += 1
                yield frame(EVENT, held.raw)
        for raw in holdings.log_from(wanted.start):
            events += 1
            yield frame(EVENT, raw)
    forks = [(f.id, f.raw) for f in holdings.forks()]
    forks += _ours_at(holdings, [*wanted.diverged, *places])
    sent = list(dict.fromkeys(missing_forks(forks, theirs.forks)))
    for raw in sent:
        yield frame(FORK, raw)
    yield frame(END, End(events, len(sent)).encode())


def answer_forks(holdings: Holdings, places: Iterable[tuple[bytes, int]]) -> Iterator[bytes]:
    """The answer to a push: our log events where the push brought fork evidence, as F
    frames, then the end frame (§10.3: both ends learn of a fork)."""
    ours = [raw for _, raw in _ours_at(holdings, places)]
    for raw in ours:
        yield frame(FORK, raw)
    yield frame(END, End(0, len(ours)).encode())


def lacks_anything(
    holdings: Holdings, theirs: Hello, places: Iterable[tuple[bytes, int]] = ()
) -> bool:
    """Whether a push would carry anything (§10.3, step 2): the plan is not empty, or
    we hold an event at a place of the pull, or fork evidence the peer does not list."""
    if not plan(holdings.heads(), theirs.frontier, holdings.id_at).empty:
        return True
    if _ours_at(holdings, places):
        return True
    return bool(missing_forks([(f.id, f.raw) for f in holdings.forks()], theirs.forks))


def divergences(holdings: Holdings, theirs: Hello) -> list[tuple[bytes, int]]:
    """(author, seq) where the peer's branch of a feed may differ from ours: where its
    head is not our event at that seq, and where fork evidence here follows another
    predecessor than ours (the peer may hold that branch). Where the two parted is
    then looked for (§10.3, "Finding where two feeds parted")."""
    found: dict[bytes, int] = {}
    for author, (seq, head_id) in holdings.heads().items():
        their_seq = theirs.frontier.seq(author)
        if 0 < their_seq <= seq:
            mine = head_id if their_seq == seq else holdings.id_at(author, their_seq)
            if mine != theirs.frontier.heads[author][1]:
                found[author] = their_seq
    for evidence in holdings.forks():
        below = evidence.seq - 1
        if below >= 1 and theirs.frontier.seq(evidence.author) >= below:
            mine = holdings.id_at(evidence.author, below)
            if mine is not None and mine != evidence.prev:
                found[evidence.author] = min(found.get(evidence.author, below), below)
    return sorted(found.items())


def own_feed_claim(holdings: Holdings, theirs: Hello) -> int:
    """After a complete pull: how far the peer's hello says it holds this node's own
    feed. It has sent all of it, so this store now holds at least as much, and the
    check a restored or copied node owes before it writes is done (§10.5). A peer that
    claims more of the feed than it sent is lying (or this node's feed forked, which
    the fork evidence shows): that breaks the protocol, and its claim changes nothing."""
    claimed = theirs.frontier.seq(holdings.node_id)
    head = holdings.heads().get(holdings.node_id)
    mine = head[0] if head else 0
    if claimed > mine and holdings.node_id not in holdings.fork_seqs():
        raise SyncError(
            f"the peer's hello says it holds this node's own feed up to seq {claimed}, but "
            f"it sent it only up to seq {mine}"
        )
    return claimed


def answer_ids(holdings: Holdings, asked: IdsRequest) -> IdsAnswer:
    """Our ids at the seqs asked about, and our event at the seq asked for (§10.2)."""
    ids = tuple(holdings.id_at(asked.author, seq) for seq in asked.seqs)
    event = None
    if asked.event is not None:
        found = holdings.event_at(asked.author, asked.event)
        event = found.raw if found is not None else None
    return IdsAnswer(ids, event)


#: A search for where two branches of a feed parted: yields each ids request, is sent
#: its answer (None: the peer does not answer ids), and returns the peer's event where
#: they parted and its seq, or None.
Search = Generator[IdsRequest, IdsAnswer | None, tuple[bytes, int] | None]


def parting(holdings: Holdings, author: bytes, differ: int) -> Search:
    """Find the first seq where the peer's branch of ``author``'s feed and ours differ
    (they differ at ``differ``, unless the peer's branch is ours there), asking the
    peer its ids at up to MAX_PROBES seqs at a time; then its event there, checked on
    its own (§10.3, "Finding where two feeds parted"). Two branches that parted stay
    apart (each event names the one before it), so the first seq asked where the
    peer's id is not ours bounds the parting from above, the last one before it from
    below."""
    agree, first = 0, True
    while True:
        asked = [*probes(agree, differ), *([differ] if first else [])]
        if not asked:
            break
        answer = yield IdsRequest(author, tuple(asked))
        if answer is None:
            return None
        same = [
            theirs == holdings.id_at(author, seq)
            for theirs, seq in zip(answer.ids, asked, strict=True)
        ]
        if first:
            if same[-1]:
                return None  # this peer's branch is ours up to there: nothing to find
            asked, same, first = asked[:-1], same[:-1], False
        agree, differ = narrow(agree, differ, asked, same)
        if differ - agree <= 1:
            break
    answer = yield IdsRequest(author, (), differ)
    if answer is None or answer.event is None:
        return None
    try:
        event = check_event(answer.event)
    except InvalidEvent as e:
        raise SyncError(f"the peer's event where the feeds parted: {e.message}") from None
    if event.author != author or event.seq != differ:
        raise SyncError("the peer answered with another event than the one asked for")
    return answer.event, differ


def _ours_at(holdings: Holdings, places: Iterable[tuple[bytes, int]]) -> list[tuple[bytes, bytes]]:
    """(id, wire bytes) of our log events at these places, where we hold one."""
    out = []
    for author, seq in places:
        event = holdings.event_at(author, seq)
        if event is not None:
            out.append((event.id, event.raw))
    return out
