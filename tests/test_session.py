"""The sync round's sessions (protocol/session.py) against each other, with no sockets
(docs/STYLE.md, example 10): two nodes held in memory, their bytes passed by hand,
whole, one byte at a time and cut at every byte; every transition of the one table
(protocol/states.py) is taken, and every refusal is met. The loopback tests
(tests/test_sync.py and others) run the same sessions over HTTPS."""

from __future__ import annotations

import copy
import functools
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from crypto.sign import SigningKey
from protocol import bundle, encoding, placement, states
from protocol import session as sessions
from protocol import sync as proto
from protocol.chain import Head
from protocol.envelope import MAX_EVENT_SIZE, Event, create_event
from protocol.errors import InvalidEvent, SyncError
from protocol.frontier import Frontier
from protocol.kinds import member
from protocol.states import REFUSALS, TRANSITIONS, Role, State, Step
from protocol.validate import check_event

NET = bytes(range(32))
OTHER_NET = bytes(32)
Cut = Callable[[bytes], list[bytes]]


def whole(data: bytes) -> list[bytes]:
    return [data]


def bytewise(data: bytes) -> list[bytes]:
    return [data[i : i + 1] for i in range(len(data))]


def key(n: int) -> SigningKey:
    return SigningKey(bytes([n]) * 32)


def feed(
    signer: SigningKey, count: int, *, after: Event | None = None, tag: str = ""
) -> list[Event]:
    """``count`` events of ``signer``'s feed, after ``after`` (or from seq 1)."""
    events: list[Event] = []
    for _ in range(count):
        prev = events[-1] if events else after
        seq = prev.seq + 1 if prev else 1
        body = encoding.encode({"v": 1, "title": f"{tag}{seq}"})
        ts = (1000 << 16) + seq
        events.append(
            create_event(
                signer,
                network=NET,
                seq=seq,
                prev=prev.id if prev else None,
                ts=ts,
                kind="report",
                body=body,
            )
        )
    return events


class Memory:
    """A node's holdings in memory, its log placed by the rule of §4.5
    (protocol/placement.py): what the sessions read (protocol.holdings.Holdings)."""

    def __init__(self, n: int, network: bytes = NET) -> None:
        self.key = key(n)
        self._network = network
        self.log: list[Event] = []
        self.feeds: dict[bytes, dict[int, Event]] = {}
        self.evidence: list[Event] = []
        self.waiting: list[Event] = []
        self.confirmed: int | None = None
        self.lie = 0  # seqs its hello adds to every author (a lying member)

    @property
    def network(self) -> bytes:
        return self._network

    @property
    def node_id(self) -> bytes:
        return self.key.public

    def hello(self) -> proto.Hello:
        heads = {a: (s + self.lie, i) for a, (s, i) in self.heads().items()}
        return proto.Hello(self.network, Frontier(heads), frozenset(e.id for e in self.evidence))

    def heads(self) -> dict[bytes, tuple[int, bytes]]:
        return {a: (max(f), f[max(f)].id) for a, f in self.feeds.items()}

    def id_at(self, author: bytes, seq: int) -> bytes | None:
        event = self.event_at(author, seq)
        return event.id if event else None

    def event_at(self, author: bytes, seq: int) -> Event | None:
        return self.feeds.get(author, {}).get(seq)

    def forks(self) -> list[Event]:
        return sorted(self.evidence, key=lambda e: (e.author, e.seq, e.id))

    def fork_seqs(self) -> dict[bytes, int]:
        out: dict[bytes, int] = {}
        for e in self.evidence:
            out[e.author] = min(out.get(e.author, e.seq), e.seq)
        return out

    def held(self, kinds: Sequence[str]) -> list[Event]:
        return [e for e in self.waiting if e.kind in kinds]

    def log_from(self, start: Mapping[bytes, int]) -> Iterator[bytes]:
        for event in list(self.log):
            if event.author in start and event.seq >= start[event.author]:
                yield event.raw

    # --- what the node does ------------------------------------------------------

    def write(self, count: int, tag: str = "") -> list[Event]:
        head = self.event_at(self.node_id, max(self.feeds.get(self.node_id, {0: None})))
        events = feed(self.key, count, after=head, tag=tag)
        self.place(events)
        return events

    def place(self, events: Sequence[Event]) -> None:
        for event in events:
            feed_ = self.feeds.get(event.author, {})
            head = feed_[max(feed_)] if feed_ else None
            decision = placement.place(
                event,
                network=self.network,
                head=Head.of(head) if head else None,
                in_log=True,
                id_at_seq=lambda e=event: self.id_at(e.author, e.seq),  # type: ignore[misc]
                head_before=lambda e=event: self._head_at(e.author, e.seq - 1),  # type: ignore[misc]
            )
            if decision.outcome is placement.Outcome.APPEND:
                self._append(event)
            elif decision.outcome is placement.Outcome.FORK:
                kept = self.fork_seqs().get(event.author)
                new = all(e.id != event.id for e in self.evidence)
                if new and placement.keeps_evidence(kept, event.seq):
                    self.evidence.append(event)
            elif decision.outcome is placement.Outcome.HOLD and event not in self.waiting:
                self.waiting.append(event)

    def _head_at(self, author: bytes, seq: int) -> Head | None:
        event = self.event_at(author, seq)
        return Head.of(event) if event else None

    def _append(self, event: Event) -> None:
        while event is not None:
            self.log.append(event)
            self.feeds.setdefault(event.author, {})[event.seq] = event
            waiting = sorted(
                (e for e in self.waiting if e.author == event.author and e.seq == event.seq + 1),
                key=lambda e: e.id,
            )
            self.waiting = [e for e in self.waiting if e not in waiting]
            follow = placement.follow_on(Head.of(event), waiting)
            self.evidence += [e for e in follow.forks if e not in self.evidence]
            event = follow.next  # type: ignore[assignment]


@functools.cache
def check(raw: bytes) -> Event | InvalidEvent:
    """An event checked on its own (§3), as the node's thread pool does."""
    try:
        return check_event(raw)
    except InvalidEvent as e:
        return e


def take(
    session: sessions.Session, memory: Memory, data: bytes, cut: Cut, *, until_hello: bool = False
) -> list[object]:
    """Feed ``data`` (then its end) to ``session`` in the pieces ``cut`` makes; place each
    batch as the node does (check, ask the session what to place, place, raise a
    breach). What the session gave, but batches."""
    seen: list[object] = []
    pieces = iter([*(piece for piece in cut(data) if piece), b""])
    while True:
        item = session.next_event()
        if item is sessions.NEED_DATA:
            session.receive_data(next(pieces))
        elif isinstance(item, sessions.Batch):
            checked = session.checked(item, [check(raw) for raw in item.raws])
            memory.place(checked.events)
            if checked.breach:
                raise checked.breach
        else:
            seen.append(item)
            if isinstance(item, proto.End) or until_hello:
                return seen


@dataclass
class Round:
    """What one round carried, for the assertions."""

    routes: list[str] = field(default_factory=list)
    sent: list[bytes] = field(default_factory=list)
    answers: list[bytes] = field(default_factory=list)
    remembered: bytes | None = None
    found: list[tuple[bytes, int]] = field(default_factory=list)


def run_round(
    client: Memory,
    server: Memory,
    cut: Cut = whole,
    *,
    remembered: bytes | None = None,
    searched: set[tuple[bytes, int]] | None = None,
    answer_ids: bool = True,
) -> Round:
    """One round, client against server, the bytes passed by hand (the node's part:
    node/sync_client.py and node/sync_server.py over HTTPS)."""
    out = Round(remembered=remembered)
    mine = sessions.Client(client, remembered=remembered, searched=searched)
    while (action := mine.next_action()) is not sessions.DONE:
        if isinstance(action, sessions.Request):
            body = action.body if isinstance(action.body, bytes) else b"".join(action.body)
            out.routes.append(action.route)
            out.sent.append(body)
            if action.route == "ids":
                answer = sessions.Server(server, "ids").answer_ids(body) if answer_ids else None
                mine.receive_ids(answer)
                continue
            theirs = sessions.Server(server, action.route)
            take(theirs, server, body, cut, until_hello=action.route == "sync")
            answer = b"".join(theirs.answer())
            out.answers.append(answer)
            take(mine, client, answer, cut)
        elif isinstance(action, sessions.Found):
            client.place([check_event(action.raw)])
            out.found.append((action.author, action.seq))
        elif isinstance(action, sessions.ConfirmFeed):
            client.confirmed = action.seq
        else:
            out.remembered = action.summary
    return out


def state_of(memory: Memory) -> tuple[list[bytes], list[bytes], list[bytes]]:
    return (
        sorted(e.id for e in memory.log),
        sorted(e.id for e in memory.evidence),
        sorted(e.id for e in memory.waiting),
    )


@functools.cache
def _forked() -> tuple[Memory, Memory]:
    la, sv = Memory(1), Memory(2)
    la.write(4, "la")
    sv.write(3, "sv")
    third = key(3)
    shared = feed(third, 2, tag="shared")
    la.place([*shared, *feed(third, 3, after=shared[-1], tag="a")])
    sv.place([*shared, *feed(third, 4, after=shared[-1], tag="b")])
    return la, sv


def two_nodes() -> tuple[Memory, Memory]:
    """LA and SV, each with a feed the other lacks, and a third author's feed that
    forked: LA holds one branch, SV the other, parted at seq 3 of 5 and 6."""
    return copy.deepcopy(_forked())


def holds_the_others_feed(a: Memory, b: Memory) -> bool:
    return all(
        a.id_at(b.node_id, s) == i for s, i in [(s, e.id) for s, e in b.feeds[b.node_id].items()]
    )


def kinds(stream: bytes) -> list[bytes]:
    return [kind for kind, _ in proto.FrameReader().feed(stream)]


# --- a full round, byte by byte ---------------------------------------------------------


@pytest.mark.parametrize("cut", [whole, bytewise], ids=["whole", "byte by byte"])
def test_a_full_round_exchanges_what_each_lacks_and_the_evidence_of_a_fork(cut: Cut) -> None:
    la, sv = two_nodes()
    done = run_round(la, sv, cut)
    # the pull, two requests to find where the third feed parted, the push
    assert done.routes == ["sync", "ids", "ids", "push"]
    assert done.found == [(key(3).public, 3)]
    assert holds_the_others_feed(la, sv)
    assert holds_the_others_feed(sv, la)
    assert la.fork_seqs() == sv.fork_seqs() == {key(3).public: 3}
    assert la.confirmed == 0  # SV held none of LA's feed: nothing to wait for
    assert done.remembered == sv.hello().summary() or done.remembered is not None


@pytest.mark.parametrize("cut", [whole, bytewise], ids=["whole", "byte by byte"])
def test_rounds_in_step_are_one_short_hello_each_way(cut: Cut) -> None:
    la, sv = Memory(1), Memory(2)
    la.write(2)
    sv.write(3)
    first = run_round(la, sv, cut)
    assert first.routes == ["sync", "push"]
    assert state_of(la) == state_of(sv)
    # SV's summary was taken before the push: the next hello is a full one, no push
    second = run_round(la, sv, cut, remembered=first.remembered)
    assert second.routes == ["sync"]
    assert len(second.sent[0]) > 90
    # in step at its end, and still: 90 bytes out, 109 back (§10.3)
    third = run_round(la, sv, cut, remembered=second.remembered)
    assert third.routes == ["sync"]
    assert [len(b) for b in third.sent + third.answers] == [90, 109]
    assert third.remembered == second.remembered == la.hello().summary()


def test_every_cut_of_every_stream_gives_the_same_round() -> None:
    la, sv = two_nodes()
    first = run_round(la, sv)
    for stream in [*first.sent, *first.answers]:
        for at in range(len(stream) + 1):
            a, b = two_nodes()

            def cut(data: bytes, at: int = at, stream: bytes = stream) -> list[bytes]:
                return [data[:at], data[at:]] if data == stream else [data]

            again = run_round(a, b, cut)
            assert again.sent == first.sent
            assert again.answers == first.answers
            assert state_of(a) == state_of(la)
            assert state_of(b) == state_of(sv)


def test_the_rounds_take_every_transition_of_the_table(monkeypatch: pytest.MonkeyPatch) -> None:
    taken: set[tuple[Role, State, Step]] = set()
    step = sessions.Session._step

    def record(self: sessions.Session, move: Step) -> None:
        before = self.state
        step(self, move)
        taken.add((self.role, before, move))

    monkeypatch.setattr(sessions.Session, "_step", record)
    run_round(*two_nodes())  # pull, search, push, and an answer with evidence
    la, sv = Memory(1), Memory(2)
    sv.write(1)
    first = run_round(la, sv)  # nothing to push
    second = run_round(la, sv, remembered=first.remembered)  # in step: short
    sv.write(1)
    run_round(la, sv, remembered=second.remembered)  # short, then full: SV has news
    # an answer to a push may carry E frames too: they are taken in, as in a pull
    a, b = Memory(1), Memory(2)
    a.write(1)
    client = sessions.Client(a)
    run_to_push(client, a, b)
    take(client, a, event_frame(feed(key(9), 1)[0]) + end_frame(1, 0), whole)
    assert client.state is State.DONE
    every = {
        (role, state, move)
        for role, table in TRANSITIONS.items()
        for state, moves in table.items()
        for move in moves
    }
    assert every - taken == set()


# --- the rules of the round ---------------------------------------------------------


def test_push_only_when_the_peer_lacks_something() -> None:
    la, sv = Memory(1), Memory(2)
    sv.write(2)
    done = run_round(la, sv)
    assert done.routes == ["sync"]  # LA holds nothing SV lacks
    la.write(1)
    done = run_round(la, sv)
    assert done.routes == ["sync", "push"]
    assert state_of(la) == state_of(sv)


def test_a_short_hello_is_sent_only_while_in_step_and_answered_with_a_short_one() -> None:
    la, sv = Memory(1), Memory(2)
    sv.write(1)
    first = run_round(la, sv)
    second = run_round(la, sv, remembered=first.remembered)
    assert [len(b) for b in second.sent] == [90]  # in step: short
    sv.write(1)  # SV has news: a short hello, another summary back, a full round
    third = run_round(la, sv, remembered=second.remembered)
    assert third.routes == ["sync", "sync"]
    assert [len(third.sent[0]), len(third.answers[0])] == [90, 109]
    assert state_of(la) == state_of(sv)
    la.write(1)  # LA wrote since: its summary changed, so a full hello (and a push)
    fourth = run_round(la, sv, remembered=third.remembered)
    assert fourth.routes == ["sync", "push"]
    assert len(fourth.sent[0]) > 90
    # a peer that does not understand short hellos is never remembered
    older = Memory(2)
    older.hello = lambda: proto.Hello(  # type: ignore[method-assign]
        NET, Frontier(older.heads()), accepts_short=False
    )
    assert run_round(la, older).remembered is None


def test_a_peer_that_does_not_answer_ids_is_not_searched() -> None:
    la, sv = two_nodes()
    searched: set[tuple[bytes, int]] = set()
    done = run_round(la, sv, searched=searched, answer_ids=False)
    assert done.routes == ["sync", "ids", "push"]
    assert done.found == []
    assert [author for author, _ in searched] == [key(3).public]  # not asked again
    again = run_round(la, sv, searched=searched)
    assert "ids" not in again.routes


def test_a_hello_that_claims_more_of_our_own_feed_than_was_sent_is_refused() -> None:
    la, liar = Memory(1), Memory(2)
    la.write(2)
    liar.place(la.log)
    liar.lie = 5  # its hello claims LA's feed up to seq 7
    with pytest.raises(SyncError, match="up to seq 7, but it sent it only up to seq 2"):
        run_round(la, liar)
    assert la.confirmed is None  # the claim changed nothing
    # unless LA's own feed forked: the evidence shows why a peer holds more
    la.evidence.append(feed(la.key, 1, tag="other copy")[0])
    run_round(la, liar)
    assert la.confirmed == 7


def test_an_invalid_event_keeps_what_came_before_it_and_breaks_the_stream() -> None:
    sv = Memory(2)
    good = feed(key(5), 3)
    bad = bytearray(feed(key(5), 4)[3].raw)
    bad[-5] ^= 1  # the body no longer matches its signed hash
    stream = b"".join(event_frame(e) for e in good) + proto.frame(proto.EVENT, bytes(bad))
    stream += event_frame(feed(key(6), 1)[0]) + end_frame(5, 0)
    server = sessions.Server(sv, "push")
    with pytest.raises(SyncError, match=r"the peer sent an invalid event \(bad-body-hash"):
        take(server, sv, stream, whole)
    assert [e.id for e in sv.log] == [e.id for e in good]
    assert server.state is State.BROKEN
    assert server.salvage() is None  # what followed it is dropped


def test_a_stream_that_breaks_off_keeps_its_whole_frames() -> None:
    sv = Memory(2)
    events = feed(key(5), 3)
    stream = b"".join(event_frame(e) for e in events)[:-10]  # the third cut in half
    server = sessions.Server(sv, "push")
    server.receive_data(stream)
    assert server.next_event() is sessions.NEED_DATA
    kept = server.salvage()  # the connection broke: the node keeps the whole frames
    assert kept is not None
    assert kept.raws == [e.raw for e in events[:2]]


def test_the_answer_to_a_push_brings_back_our_evidence_where_the_push_brought_some() -> None:
    la, sv = Memory(1), Memory(2)
    third = key(3)
    shared = feed(third, 1, tag="s")
    la.place([*shared, *feed(third, 3, after=shared[0], tag="a")])  # LA holds more
    sv.place([*shared, *feed(third, 1, after=shared[0], tag="b")])
    done = run_round(la, sv)
    assert done.routes[-1] == "push"
    assert proto.FORK in kinds(done.sent[-1])
    assert proto.FORK in kinds(done.answers[-1])  # SV's event where the feeds parted
    assert la.fork_seqs() == sv.fork_seqs() == {third.public: 2}


def test_the_side_that_holds_the_sessions_must_drive_them_in_order() -> None:
    la, sv = Memory(1), Memory(2)
    client = sessions.Client(la)
    client.next_action()  # the hello is out
    with pytest.raises(sessions.UsageError, match="awaits the peer"):
        client.next_action()
    with pytest.raises(sessions.UsageError):
        client.receive_ids(b"")
    with pytest.raises(sessions.UsageError, match="no answer"):
        sessions.Server(sv, "sync").answer()
    with pytest.raises(sessions.UsageError):
        sessions.Server(sv, "sync").answer_ids(b"")


# --- every refusal ------------------------------------------------------------------


def event_frame(event: Event) -> bytes:
    return proto.frame(proto.EVENT, event.raw)


def end_frame(events: int, forks: int) -> bytes:
    return proto.frame(proto.END, proto.End(events, forks).encode())


def run_to_push(client: sessions.Client, mine: Memory, theirs: Memory) -> None:
    """Drive ``client`` until its push is out (its answer not taken yet)."""
    while True:
        action = client.next_action()
        if isinstance(action, sessions.Request):
            body = action.body if isinstance(action.body, bytes) else b"".join(action.body)
            if action.route == "push":
                return
            server = sessions.Server(theirs, "sync")
            take(server, theirs, body, whole, until_hello=True)
            take(client, mine, b"".join(server.answer()), whole)


def refusal_of(session: sessions.Session, pieces: Sequence[bytes]) -> str:
    """Feed ``pieces``, then the stream's end, to ``session``: what it refuses them with."""
    try:
        for piece in [*pieces, b""]:
            session.receive_data(piece)
            while session.next_event() is not sessions.NEED_DATA:
                pass
    except SyncError as e:
        return e.message
    raise AssertionError("the session took it all")


def session_in(role: Role, state: State) -> tuple[sessions.Session, Memory]:
    """A session of ``role`` in ``state``, and the memory it reads."""
    mine, theirs = Memory(1), Memory(2)
    mine.write(1)
    if role is Role.SERVER:
        route = {State.SYNC_REQUEST: "sync", State.PUSH_REQUEST: "push"}[state]
        return sessions.Server(mine, route), mine  # type: ignore[arg-type]
    if state is State.PUSHING:
        client = sessions.Client(mine)
        run_to_push(client, mine, theirs)
        return client, mine
    short = state in (State.SHORT_PULL, State.SHORT_ANSWER)
    client = sessions.Client(mine, remembered=mine.hello().summary() if short else None)
    client.next_action()
    if state is State.SHORT_ANSWER:
        take(
            client,
            mine,
            proto.frame(proto.HELLO, mine.hello().short().encode()),
            whole,
            until_hello=True,
        )
    if state is State.PULLING:
        take(
            client, mine, proto.frame(proto.HELLO, theirs.hello().encode()), whole, until_hello=True
        )
    assert client.state is state
    return client, mine


def offending(step: Step, memory: Memory) -> bytes:
    event = feed(key(7), 1)[0]
    return {
        Step.HELLO: proto.frame(proto.HELLO, memory.hello().encode()),
        Step.SHORT_HELLO: proto.frame(proto.HELLO, memory.hello().short().encode()),
        Step.EVENT: event_frame(event),
        Step.FORK: proto.frame(proto.FORK, event.raw),
        Step.END: end_frame(0, 0),
        Step.EOF: b"",
    }[step]


REFUSED = [
    (role, state, step, said)
    for (role, state), steps in REFUSALS.items()
    for step, said in steps.items()
]


@pytest.mark.parametrize(
    ("role", "state", "step", "said"),
    REFUSED,
    ids=[f"{r.value} {s.value} {t.value}" for r, s, t, _ in REFUSED],
)
def test_every_step_the_table_does_not_allow_is_refused_in_its_words(
    role: Role, state: State, step: Step, said: str
) -> None:
    session, memory = session_in(role, state)
    assert refusal_of(session, [offending(step, memory)]) == said
    assert session.state is State.BROKEN
    with pytest.raises(sessions.UsageError):
        session.next_event()  # nothing more is read


def test_every_refusal_of_the_table_is_in_its_words_and_covers_every_frame() -> None:
    for (role, state), steps in REFUSALS.items():
        allowed = TRANSITIONS[role][state]
        frames = {Step.HELLO, Step.SHORT_HELLO, Step.EVENT, Step.FORK, Step.END, Step.EOF}
        assert set(steps) | set(allowed) == frames, (role, state)
        assert all(states.refusal(role, state, s) == steps[s] for s in steps)


FRAME_REFUSALS = [
    ("not a bin header", b"\x92\x01\x02", "a frame starts with byte 0x92, not a bin header"),
    ("an empty frame", b"\xc4\x00\x00", "an empty frame (every frame holds at least its type)"),
    ("an unknown type", b"\xc4\x01Q", "a frame of unknown type b'Q'"),
    (
        "a frame over its limit",
        b"\xc6" + (MAX_EVENT_SIZE + 2).to_bytes(4, "big") + proto.EVENT,
        f"a E frame of {MAX_EVENT_SIZE + 1} bytes; at most {MAX_EVENT_SIZE}",
    ),
    (
        "a length not in its shortest form",
        b"\xc5\x00\x02Zx",
        "a frame's length is not in its shortest form",
    ),
    ("a stream that ends inside a frame", b"\xc4\x05E12", "the stream ended inside a frame"),
]


@pytest.mark.parametrize(
    ("name", "data", "said"), FRAME_REFUSALS, ids=[f[0] for f in FRAME_REFUSALS]
)
def test_a_bad_frame_is_refused_before_its_body_is_buffered(
    name: str, data: bytes, said: str
) -> None:
    for role, state in ((Role.SERVER, State.PUSH_REQUEST), (Role.CLIENT, State.PULLING)):
        session, _ = session_in(role, state)
        assert refusal_of(session, bytewise(data)) == said
        assert session.state is State.BROKEN


def test_the_bundle_reader_is_the_same_reader_in_the_words_of_bundles() -> None:
    cases = [
        (b"\x92", "the bundle is damaged: a frame starts with byte 0x92"),
        (
            b"\xc6" + (bundle.MAX_HEADER + 1).to_bytes(4, "big"),
            f"the bundle has a frame of {bundle.MAX_HEADER + 1} bytes; at most {bundle.MAX_HEADER}",
        ),
        (b"\xc5\x00\x02ab", "the bundle is damaged: a frame's length is not in its shortest form"),
    ]
    for data, said in cases:
        reader = bundle.BundleReader()
        with pytest.raises(bundle.BadBundle) as refused:
            reader.feed(bundle.MAGIC + data)
        assert refused.value.message == said


def test_the_content_of_the_stream_is_checked() -> None:
    cases: list[tuple[Role, State, bytes, str]] = [
        (
            Role.CLIENT,
            State.PULL,
            proto.frame(proto.HELLO, Memory(2, OTHER_NET).hello().encode()),
            "the peer is in another network",
        ),
        (
            Role.SERVER,
            State.SYNC_REQUEST,
            proto.frame(proto.HELLO, Memory(2, OTHER_NET).hello().encode()),
            "the peer's hello is for another network",
        ),
        (
            Role.CLIENT,
            State.PULL,
            proto.frame(proto.HELLO, b"\x01"),
            "the peer's hello is not a map with a version",
        ),
        (
            Role.SERVER,
            State.PUSH_REQUEST,
            end_frame(1, 0),
            "the peer's end frame does not match what it sent",
        ),
        (
            Role.SERVER,
            State.PUSH_REQUEST,
            event_frame(feed(key(5), 1)[0]) + end_frame(0, 1),
            "the peer's end frame does not match what it sent",
        ),
        (
            Role.CLIENT,
            State.PULLING,
            proto.frame(proto.END, b"\x80"),
            "the peer's end of stream is malformed",
        ),
        (
            Role.CLIENT,
            State.SHORT_ANSWER,
            end_frame(1, 0),
            "the peer's end frame does not match what it sent",
        ),
    ]
    for role, state, data, said in cases:
        session, _ = session_in(role, state)
        assert refusal_of(session, bytewise(data)) == said, (role, state)
        assert session.state is State.BROKEN


def test_the_ids_search_refuses_what_was_not_asked_for() -> None:
    la, sv = two_nodes()
    asked: list[proto.IdsRequest] = []

    def answers(lie: Callable[[proto.IdsRequest, bytes], bytes]) -> None:
        client = sessions.Client(la)
        while (action := client.next_action()) is not sessions.DONE:
            if not isinstance(action, sessions.Request):
                continue
            assert action.route != "push", "the search was expected to fail"
            body = action.body if isinstance(action.body, bytes) else b"".join(action.body)
            if action.route == "ids":
                request = proto.IdsRequest.decode(body)
                asked.append(request)
                client.receive_ids(lie(request, sessions.Server(sv, "ids").answer_ids(body)))
            elif action.route == "sync":
                server = sessions.Server(sv, "sync")
                take(server, sv, body, whole, until_hello=True)
                take(client, la, b"".join(server.answer()), whole)

    def short(_: proto.IdsRequest, answer: bytes) -> bytes:
        return proto.IdsAnswer(()).encode()

    with pytest.raises(SyncError, match="does not answer what was asked"):
        answers(short)

    def other_event(request: proto.IdsRequest, answer: bytes) -> bytes:
        if request.event is None:
            return answer
        return proto.IdsAnswer((), feed(key(3), 1)[0].raw).encode()

    with pytest.raises(SyncError, match="another event than the one asked for"):
        answers(other_event)

    def broken_event(request: proto.IdsRequest, answer: bytes) -> bytes:
        if request.event is None:
            return answer
        raw = bytearray(proto.IdsAnswer.decode(answer, request).event or b"")
        raw[-5] ^= 1
        return proto.IdsAnswer((), bytes(raw)).encode()

    with pytest.raises(SyncError, match="the peer's event where the feeds parted"):
        answers(broken_event)
    with pytest.raises(SyncError, match="the ids request"):
        sessions.Server(sv, "ids").answer_ids(b"\x01")


def test_held_admissions_ride_first() -> None:
    la, sv = Memory(1), Memory(2)
    admin = key(8)
    admit = create_event(
        admin,
        network=NET,
        seq=2,
        prev=bytes(32),
        ts=1 << 16,
        kind=member.ADMIT,
        body=encoding.encode(
            member.action_payload(member.Admit(key(9).public, "m", bytes(32), False))
        ),
    )
    sv.waiting.append(admit)  # held here: its seq 1 is missing
    sv.write(1)
    answer = b"".join(run_round(la, sv).answers)
    assert answer.index(admit.raw) < answer.index(sv.log[0].raw)


# --- the table in docs/PROTOCOL.md ----------------------------------------------------


def test_the_table_in_the_protocol_is_the_one_the_sessions_follow() -> None:
    doc = (Path(__file__).resolve().parent.parent / "docs" / "PROTOCOL.md").read_text("utf-8")
    begin, end = "<!-- sync:transitions -->\n", "<!-- /sync:transitions -->"
    assert begin in doc, "docs/PROTOCOL.md §10.3 has no table of transitions"
    written = doc.split(begin, 1)[1].split(end, 1)[0]
    assert written == states.markdown(), "run: .venv/bin/python docs/make_sync_tables.py"
