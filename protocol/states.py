"""The sync round's states and its one table of transitions (docs/PROTOCOL.md §10.3).

:data:`TRANSITIONS` lists every move of a round, per side: in this state, this step
(a frame from the peer, a message this side sends, or a decision of the round's rules)
leads to that state. Nothing else is allowed: a step from the peer that the table does
not list breaks the protocol, in the words of :data:`REFUSALS` (§10.2). The sessions
that follow the table are in protocol/session.py; §10.3's tables are made from this
one by :func:`markdown` (docs/make_sync_tables.py writes them; tests/test_session.py
checks that they agree).
"""

from __future__ import annotations

import enum
from typing import Final


class Role(enum.Enum):
    CLIENT = "client"
    SERVER = "server"


class State(enum.Enum):
    # the client's round
    START = "START"  #: about to send a hello
    SHORT_PULL = "SHORT_PULL"  #: sent a short hello; awaits the peer's hello
    SHORT_ANSWER = "SHORT_ANSWER"  #: the peer answered short; awaits its Z, nothing else
    SHORT_PULLED = "SHORT_PULLED"  #: compares the two summaries
    PULL = "PULL"  #: sent a full hello; awaits the peer's
    PULLING = "PULLING"  #: takes E and F frames until Z
    PULLED = "PULLED"  #: the pull is placed: checks its own feed, searches, pushes
    SEARCHING = "SEARCHING"  #: an ids request is out
    PUSHING = "PUSHING"  #: the push is out; takes the answer's frames until Z
    # the server's requests
    SYNC_REQUEST = "SYNC_REQUEST"  #: awaits a /sync request's hello
    ANSWER_HELLO = "ANSWER_HELLO"  #: read a full hello: answers with its own and the rest
    ANSWER_SHORT = "ANSWER_SHORT"  #: read a short hello: answers with a short one
    PUSH_REQUEST = "PUSH_REQUEST"  #: takes a /push request's frames until Z
    ANSWER_FORKS = "ANSWER_FORKS"  #: the push is placed: answers with its own evidence
    IDS_REQUEST = "IDS_REQUEST"  #: awaits an /ids request
    ANSWER_IDS = "ANSWER_IDS"  #: answers it
    # both
    DONE = "DONE"  #: nothing more is read or sent
    BROKEN = "BROKEN"  #: a rule was broken: nothing more is read or sent


class Step(enum.Enum):
    """What moves a session: a frame or message from the peer, one this side sends, or
    a decision the rules of the round make."""

    SEND_HELLO = "send H"
    SEND_SHORT_HELLO = "send short H"
    HELLO = "H"
    SHORT_HELLO = "short H"
    EVENT = "E"
    FORK = "F"
    END = "Z"
    EOF = "end of stream"
    SAME_SUMMARY = "same summary"
    OTHER_SUMMARY = "other summary"
    SEND_IDS_REQUEST = "send ids request"
    IDS_ANSWER = "ids answer"
    SEND_PUSH = "send push"
    FINISH = "finish"
    SEND_FORKS = "send F… Z"
    IDS_REQUEST = "ids request"
    SEND_IDS_ANSWER = "send ids answer"


S, T = State, Step
#: Every move of a round, and only these (§10.3).
TRANSITIONS: Final[dict[Role, dict[State, dict[Step, State]]]] = {
    Role.CLIENT: {
        S.START: {T.SEND_SHORT_HELLO: S.SHORT_PULL, T.SEND_HELLO: S.PULL},
        S.SHORT_PULL: {T.SHORT_HELLO: S.SHORT_ANSWER},
        S.SHORT_ANSWER: {T.END: S.SHORT_PULLED},
        S.SHORT_PULLED: {T.SAME_SUMMARY: S.DONE, T.OTHER_SUMMARY: S.START},
        S.PULL: {T.HELLO: S.PULLING},
        S.PULLING: {T.EVENT: S.PULLING, T.FORK: S.PULLING, T.END: S.PULLED},
        S.PULLED: {T.SEND_IDS_REQUEST: S.SEARCHING, T.SEND_PUSH: S.PUSHING, T.FINISH: S.DONE},
        S.SEARCHING: {T.IDS_ANSWER: S.PULLED},
        S.PUSHING: {T.EVENT: S.PUSHING, T.FORK: S.PUSHING, T.END: S.DONE},
        S.DONE: {},
        S.BROKEN: {},
    },
    Role.SERVER: {
        S.SYNC_REQUEST: {T.HELLO: S.ANSWER_HELLO, T.SHORT_HELLO: S.ANSWER_SHORT},
        S.ANSWER_HELLO: {T.SEND_HELLO: S.DONE},
        S.ANSWER_SHORT: {T.SEND_SHORT_HELLO: S.DONE},
        S.PUSH_REQUEST: {T.EVENT: S.PUSH_REQUEST, T.FORK: S.PUSH_REQUEST, T.END: S.ANSWER_FORKS},
        S.ANSWER_FORKS: {T.SEND_FORKS: S.DONE},
        S.IDS_REQUEST: {T.IDS_REQUEST: S.ANSWER_IDS},
        S.ANSWER_IDS: {T.SEND_IDS_ANSWER: S.DONE},
        S.DONE: {},
        S.BROKEN: {},
    },
}
#: Steps this side takes itself; the rest come from the peer.
OWN_STEPS: Final = frozenset(
    {
        T.SEND_HELLO,
        T.SEND_SHORT_HELLO,
        T.SAME_SUMMARY,
        T.OTHER_SUMMARY,
        T.SEND_IDS_REQUEST,
        T.SEND_PUSH,
        T.FINISH,
        T.SEND_FORKS,
        T.SEND_IDS_ANSWER,
    }
)
_FRAMES = (T.HELLO, T.SHORT_HELLO, T.EVENT, T.FORK, T.END, T.EOF)
_MIDDLE = "a b'H' frame in the middle of a stream"
_BEFORE_END = "the stream ended before its end frame"
_NO_HELLO = "the peer's answer does not start with its hello"
_OTHER_KIND = "the peer's hello is not of the kind it was sent"
_NOT_FIRST = "a sync request starts with a hello"
#: What a peer is told when it sends what the state does not allow (§10.2, Refusals).
REFUSALS: Final[dict[tuple[Role, State], dict[Step, str]]] = {
    (Role.CLIENT, S.SHORT_PULL): {
        T.HELLO: _OTHER_KIND,
        **dict.fromkeys((T.EVENT, T.FORK, T.END, T.EOF), _NO_HELLO),
    },
    (Role.CLIENT, S.PULL): {
        T.SHORT_HELLO: _OTHER_KIND,
        **dict.fromkeys((T.EVENT, T.FORK, T.END, T.EOF), _NO_HELLO),
    },
    (Role.CLIENT, S.SHORT_ANSWER): {
        T.HELLO: _MIDDLE,
        T.SHORT_HELLO: _MIDDLE,
        T.EVENT: "the peer sent events after a short hello",
        T.FORK: "the peer sent events after a short hello",
        T.EOF: _BEFORE_END,
    },
    **{
        key: {T.HELLO: _MIDDLE, T.SHORT_HELLO: _MIDDLE, T.EOF: _BEFORE_END}
        for key in (
            (Role.CLIENT, S.PULLING),
            (Role.CLIENT, S.PUSHING),
            (Role.SERVER, S.PUSH_REQUEST),
        )
    },
    (Role.SERVER, S.SYNC_REQUEST): {
        **dict.fromkeys((T.EVENT, T.FORK, T.END), _NOT_FIRST),
        T.EOF: "the sync request has no hello",
    },
}


def refusal(role: Role, state: State, step: Step) -> str:
    """What breaks the protocol when the peer takes ``step`` where the table does not
    allow it."""
    said = REFUSALS.get((role, state), {}).get(step)
    return said or f"{step.value} where the {role.value} is in {state.value}"


def markdown() -> str:
    """§10.3's table of transitions and refusals, made from TRANSITIONS and REFUSALS."""
    lines = [
        "| side | state | step | next state |",
        "| --- | --- | --- | --- |",
    ]
    for role, states in TRANSITIONS.items():
        for state, moves in states.items():
            for step, to in moves.items():
                lines.append(f"| {role.value} | {state.value} | {step.value} | {to.value} |")
    lines += [
        "",
        "| side | state | the peer sends | refused with |",
        "| --- | --- | --- | --- |",
    ]
    for role, states in TRANSITIONS.items():
        for state, moves in states.items():
            if (role, state) not in REFUSALS:
                continue
            for step in _FRAMES:
                if step not in moves:
                    said = refusal(role, state, step)
                    lines.append(f'| {role.value} | {state.value} | {step.value} | "{said}" |')
    return "\n".join(lines) + "\n"
