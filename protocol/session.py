"""A sync round as a state machine, sans-I/O (docs/PROTOCOL.md §10.2, §10.3).

One session per side: a :class:`Client` for the node that starts a round, a
:class:`Server` for each request the other node answers (``/sync``, ``/push`` and
``/ids`` are separate requests, and the server keeps nothing between them). As in
h11, the caller moves the bytes and the session says what they mean:

- ``receive_data(bytes)`` takes what the peer sent, in pieces of any size, and
  ``receive_data(b"")`` says its stream ended; ``next_event()`` then gives the peer's
  :class:`Hello`, a :class:`Batch` of events to check and place, the stream's
  :class:`End`, or :data:`NEED_DATA`.
- The node checks each batch (signatures, on other cores) and tells the session what
  it found with ``checked(batch, outcomes)``, which says what to place and whether the
  peer broke the protocol; ``salvage()`` gives the whole frames not yet batched when a
  stream breaks off, so that they are kept (§10.3, "Resuming").
- ``Client.next_action()`` says what to do next: a :class:`Request` to send (its
  answer goes back to ``receive_data`` or ``receive_ids``), an event :class:`Found`
  where two branches of a feed parted, to place; :class:`ConfirmFeed` and
  :class:`InStep`, to remember; or :data:`DONE`. ``Server.answer()`` and
  ``Server.answer_ids()`` give what a server sends back.

The session reads what this node holds through :class:`~protocol.holdings.Holdings`
and never writes: storing, signature checks, timeouts and the HTTP routes are the
node's (node/sync_client.py, node/sync_server.py, node/intake.py).

Every move is a row of the one table, ``protocol.states.TRANSITIONS`` (side, state,
step → next state); a step of the peer's that the table does not allow is refused in
the words of ``protocol.states.REFUSALS`` (a :class:`SyncError`) and breaks the
session; one of this side's own is a bug here (:class:`UsageError`).

Why this module is long: the two sides share how a stream is taken in, and each
side's whole round reads best in one place.
"""

from __future__ import annotations

import enum
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from itertools import chain
from typing import Final, Literal

from protocol import holdings as held
from protocol.envelope import Event
from protocol.errors import InvalidEvent, SyncError
from protocol.holdings import Holdings
from protocol.states import OWN_STEPS, TRANSITIONS, Role, State, Step, refusal
from protocol.sync import (
    BATCH_BYTES,
    BATCH_EVENTS,
    END,
    EVENT,
    FORK,
    HELLO,
    MAX_SEARCHES,
    End,
    FrameReader,
    Hello,
    IdsAnswer,
    IdsRequest,
    frame,
)

S, T = State, Step


class UsageError(RuntimeError):
    """The node drove its own side out of order: a bug here, never the peer's fault."""


class _Need(enum.Enum):
    DATA = "need data"


class _Done(enum.Enum):
    DONE = "done"


#: ``next_event``: nothing more until more bytes come (``receive_data``).
NEED_DATA: Final = _Need.DATA
#: ``next_action``: the round is over.
DONE: Final = _Done.DONE


@dataclass(slots=True)
class Batch:
    """Events to check on their own (§3), then place (§4.5) in one transaction: at
    most BATCH_EVENTS, or about BATCH_BYTES (§10.4, Batches)."""

    raws: list[bytes] = field(default_factory=list)
    #: which came in F frames (fork evidence)
    forks: list[bool] = field(default_factory=list)
    size: int = 0


@dataclass(frozen=True, slots=True)
class Checked:
    """What to place of a checked batch (those before the first invalid event, in
    order), and the breach when it held an invalid one: place first, then raise it."""

    events: list[Event]
    breach: SyncError | None = None


@dataclass(frozen=True, slots=True)
class Request:
    """Send ``POST /commune/v1/<route>`` with this body (bytes, or frames to stream)."""

    route: Literal["sync", "push", "ids"]
    body: bytes | Iterator[bytes]


@dataclass(frozen=True, slots=True)
class Found:
    """The peer's event where two branches of ``author``'s feed parted, checked on its
    own: place it (it is fork evidence here, §4.5)."""

    raw: bytes
    author: bytes
    seq: int


@dataclass(frozen=True, slots=True)
class ConfirmFeed:
    """The pull was complete: the peer held this node's own feed up to ``seq`` and sent
    all of it (§10.5)."""

    seq: int


@dataclass(frozen=True, slots=True)
class InStep:
    """The summary of the peer's hello, to remember: while ours is the same, the next
    round starts with a short hello (§10.3, "A round that starts short")."""

    summary: bytes


class Session:
    """What both sides share: the state, and taking in one stream of frames."""

    def __init__(self, holdings: Holdings, role: Role, state: State) -> None:
        self.holdings = holdings
        self.role = role
        self.state = state
        self._moves = TRANSITIONS[role][state]
        #: the peer's hello, once read
        self.theirs: Hello | None = None
        #: (author, seq) of each event valid on its own that came in an F frame (§10.3)
        self.places: set[tuple[bytes, int]] = set()
        self._unchecked = 0
        self._stream()

    def _stream(self) -> None:
        """A new stream begins (each request's body, each answer)."""
        self._reader = FrameReader()
        self._ended = False
        self._counted = [0, 0]
        self._batch = Batch()
        self._end: End | None = None

    # --- moving ---------------------------------------------------------------

    def _step(self, step: Step) -> None:
        to = self._moves.get(step)
        if to is None:
            self._refuse(step)
        elif to is not self.state:
            self.state = to
            self._moves = TRANSITIONS[self.role][to]

    def _expect(self, step: Step) -> None:
        """Refuse ``step`` here unless the table allows it (without moving)."""
        if step not in self._moves:
            self._refuse(step)

    def _refuse(self, step: Step) -> None:
        if step in OWN_STEPS:
            raise UsageError(f"the {self.role.value} cannot {step.value} in {self.state.value}")
        state = self.state
        self._break()
        raise SyncError(refusal(self.role, state, step))

    def _break(self) -> None:
        self.state = State.BROKEN
        self._moves = TRANSITIONS[self.role][State.BROKEN]

    # --- taking a stream in -----------------------------------------------------

    def receive_data(self, data: bytes) -> None:
        """Bytes the peer sent, in pieces of any size; ``b""``: its stream ended."""
        if data:
            self._reader.receive(data)
        else:
            self._ended = True

    def next_event(self) -> Hello | Batch | End | Literal[_Need.DATA]:
        """What the bytes so far mean: the peer's hello, a full batch, the end of the
        stream (after the batch it closes), or NEED_DATA. :class:`SyncError` when the
        peer broke a rule; the session is then broken."""
        try:
            return self._next_event()
        except SyncError:
            self._break()
            raise

    def _next_event(self) -> Hello | Batch | End | Literal[_Need.DATA]:
        if self._end is not None:
            end, self._end = self._end, None
            return end
        if self.state is S.BROKEN:
            raise UsageError("the session broke: nothing more is read")
        reader, batch = self._reader, self._batch
        while True:
            parsed = reader.next()
            if parsed is None:
                if self._ended:
                    reader.finish()  # "the stream ended inside a frame"
                    self._step(T.EOF)  # never allowed: refused in the state's words
                return NEED_DATA
            kind, body = parsed
            if kind in (EVENT, FORK):
                fork = kind == FORK
                self._step(T.FORK if fork else T.EVENT)
                self._counted[fork] += 1
                batch.raws.append(body)
                batch.forks.append(fork)
                batch.size += len(body)
                if len(batch.raws) >= BATCH_EVENTS or batch.size >= BATCH_BYTES:
                    return self._take_batch()
            elif kind == HELLO:
                return self._hello(body)
            else:
                return self._end_frame(body)

    def _hello(self, body: bytes) -> Hello:
        if T.HELLO not in self._moves and T.SHORT_HELLO not in self._moves:
            self._refuse(T.HELLO)
        theirs = Hello.decode(body)
        if theirs.network != self.holdings.network:
            raise SyncError(
                "the peer is in another network"
                if self.role is Role.CLIENT
                else "the peer's hello is for another network"
            )
        self._step(T.HELLO if theirs.digest is None else T.SHORT_HELLO)
        self.theirs = theirs
        return theirs

    def _end_frame(self, body: bytes) -> Batch | End:
        self._expect(T.END)
        end = End.decode(body)
        if [end.events, end.forks] != self._counted:
            raise SyncError("the peer's end frame does not match what it sent")
        self._step(T.END)
        if self._batch.raws:
            self._end = end
            return self._take_batch()
        return end

    def _take_batch(self) -> Batch:
        batch, self._batch = self._batch, Batch()
        self._unchecked += 1
        return batch

    def checked(self, batch: Batch, outcomes: Sequence[Event | InvalidEvent]) -> Checked:
        """The node checked ``batch`` (each event on its own, §3; ``outcomes`` in its
        order): what to place, in order, and the breach if an event was invalid. Call
        it for every batch, in the order they came. What came before an invalid event
        stays; it and the rest of the stream do not (§10.4, An invalid event)."""
        self._unchecked -= 1
        bad = next((i for i, o in enumerate(outcomes) if isinstance(o, InvalidEvent)), None)
        good = [o for o in outcomes[:bad] if isinstance(o, Event)]
        for event, fork in zip(good, batch.forks, strict=False):
            if fork:
                self.places.add((event.author, event.seq))
        if bad is None:
            return Checked(good)
        error = outcomes[bad]
        assert isinstance(error, InvalidEvent)
        self._break()
        self._batch = Batch()
        return Checked(
            good, SyncError(f"the peer sent an invalid event ({error.code}: {error.message})")
        )

    def salvage(self) -> Batch | None:
        """The stream broke off (the peer broke a rule, the connection failed, the time
        ran out): the whole frames that came and are not in a batch yet, to keep."""
        if not self._batch.raws:
            return None
        return self._take_batch()

    def _require_checked(self) -> None:
        if self._unchecked:
            raise UsageError(f"{self._unchecked} batches were not checked and placed yet")


class Client(Session):
    """The side that starts a round (§10.3): pull, look for where forked feeds parted,
    push if the peer lacks anything.

    ``remembered``: the summary of this peer's hello at the end of the last round, if
    it understands short hellos (:class:`InStep`); ``searched``: the (author, seq) this
    node looked for a parting with this peer already, which the session adds to."""

    def __init__(
        self,
        holdings: Holdings,
        *,
        remembered: bytes | None = None,
        searched: set[tuple[bytes, int]] | None = None,
    ) -> None:
        super().__init__(holdings, Role.CLIENT, State.START)
        self.remembered = remembered
        self.searched = set() if searched is None else searched
        self._summary = b""
        self._duties: deque[Found | ConfirmFeed | InStep] = deque()
        #: the partings still to look for, once the pull is placed
        self._searches: deque[tuple[bytes, int]] | None = None
        self._search: held.Search | None = None
        self._searching = (b"", 0)
        self._asked: IdsRequest | None = None

    def next_action(self) -> Request | Found | ConfirmFeed | InStep | Literal[_Done.DONE]:
        """What to do next. Call it when the answer to the last request was taken in
        and its batches placed, and after each duty was done."""
        if self._duties:
            return self._duties.popleft()
        if self.state is S.START:
            return self._send_hello()
        if self.state is S.SHORT_PULLED:
            assert self.theirs is not None
            assert self.theirs.digest is not None
            if self.theirs.digest == self._summary:
                # In step at the end of the last round and still: the round is over.
                self._step(T.SAME_SUMMARY)
                return InStep(self.theirs.digest)
            self._step(T.OTHER_SUMMARY)  # the peer has something new: a full round
            self.remembered = None
            return self._send_hello()
        if self.state is S.PULLED:
            return self._after_pull()
        if self.state is S.DONE:
            return DONE
        raise UsageError(f"the client awaits the peer in {self.state.value}")

    def _send_hello(self) -> Request:
        mine = self.holdings.hello()
        self._summary = mine.summary()
        self._stream()
        if self.remembered is not None and self.remembered == self._summary:
            # In step at the end of the last round and nothing new here since: a short
            # hello; the same summary back closes the round (§10.3).
            self._step(T.SEND_SHORT_HELLO)
            return Request("sync", frame(HELLO, mine.short().encode()))
        self._step(T.SEND_HELLO)
        return Request("sync", frame(HELLO, mine.encode()))

    def _after_pull(self) -> Request | ConfirmFeed | Literal[_Done.DONE]:
        self._require_checked()
        theirs = self.theirs
        assert theirs is not None
        if self._searches is None:
            try:
                claimed = held.own_feed_claim(self.holdings, theirs)
            except SyncError:
                self._break()
                raise
            if theirs.accepts_short:
                self._duties.append(InStep(theirs.summary()))
            found = held.divergences(self.holdings, theirs)[:MAX_SEARCHES]
            self._searches = deque(found)
            return ConfirmFeed(claimed)
        while self._asked is None and self._searches:
            place = self._searches.popleft()
            if place not in self.searched:
                self._searching = place
                self._search = held.parting(self.holdings, *place)
                self._asked = next(self._search)
        if self._asked is not None:
            self._step(T.SEND_IDS_REQUEST)
            return Request("ids", self._asked.encode())
        if held.lacks_anything(self.holdings, theirs, self.places):
            self._step(T.SEND_PUSH)
            self._stream()
            return Request("push", held.outgoing(self.holdings, theirs, set(self.places)))
        self._step(T.FINISH)
        return DONE

    def receive_ids(self, body: bytes | None) -> None:
        """The answer to the ids request; None when the peer does not answer them (404:
        an older node), which ends that search."""
        if self.state is not S.SEARCHING:
            raise UsageError(f"the client asked no ids in {self.state.value}")
        assert self._search is not None
        assert self._asked is not None
        try:
            answer = None if body is None else IdsAnswer.decode(body, self._asked)
            self._step(T.IDS_ANSWER)
            self._asked = self._search.send(answer)
        except StopIteration as done:
            self.searched.add(self._searching)
            self._search = self._asked = None
            if done.value is not None:
                # where the branches parted: the peer's event there is placed here as
                # fork evidence, and ours there goes back to it with the push
                raw, seq = done.value
                author = self._searching[0]
                self._duties.append(Found(raw, author, seq))
                self.places.add((author, seq))
        except SyncError:
            self._break()
            raise


class Server(Session):
    """The side that answers one request: ``route`` is "sync", "push" or "ids"."""

    def __init__(self, holdings: Holdings, route: Literal["sync", "push", "ids"]) -> None:
        start = {"sync": S.SYNC_REQUEST, "push": S.PUSH_REQUEST, "ids": S.IDS_REQUEST}[route]
        super().__init__(holdings, Role.SERVER, start)

    def answer(self) -> Iterator[bytes]:
        """The frames of the answer, once the request was read: to a full hello, our
        hello, what the peer lacks and Z (the hello is computed now, the rest read from
        the store as it is sent); to a short hello, ours and Z(0, 0) and nothing else;
        to a push, our events where it brought fork evidence, then Z (§10.3)."""
        if self.state is S.ANSWER_SHORT:
            self._step(T.SEND_SHORT_HELLO)
            short = self.holdings.hello().short()
            return iter([frame(HELLO, short.encode()), frame(END, End(0, 0).encode())])
        if self.state is S.ANSWER_HELLO:
            assert self.theirs is not None
            self._step(T.SEND_HELLO)
            mine = frame(HELLO, self.holdings.hello().encode())
            return chain([mine], held.outgoing(self.holdings, self.theirs))
        if self.state is S.ANSWER_FORKS:
            self._require_checked()
            self._step(T.SEND_FORKS)
            return held.answer_forks(self.holdings, set(self.places))
        raise UsageError(f"the server has no answer in {self.state.value}")

    def answer_ids(self, body: bytes) -> bytes:
        """The answer to an ids request (§10.2): our ids at the seqs asked about, and our
        event at the one asked for."""
        if self.state is not S.IDS_REQUEST:
            raise UsageError(f"the server reads no ids request in {self.state.value}")
        try:
            asked = IdsRequest.decode(body)
        except SyncError:
            self._break()
            raise
        self._step(T.IDS_REQUEST)
        self._step(T.SEND_IDS_ANSWER)
        return held.answer_ids(self.holdings, asked).encode()
