"""The placement rule of docs/PROTOCOL.md §4.5, as the pure functions of
protocol/placement.py: every outcome, with no store."""

from __future__ import annotations

from protocol.chain import Head
from protocol.placement import Decision, Outcome, follow_on, keeps_evidence, place
from protocol.validate import check_event
from tests.helpers import feed, fixed_key, forge, payload

SV = fixed_key(31)
NET = bytes(range(32))


def _place(
    event_raw: bytes, head: Head | None, *, in_log: bool = True, at: bytes | None = None
) -> Decision:
    event = check_event(event_raw)
    events = FEED
    before = Head.of(events[event.seq - 2]) if event.seq > 1 else None
    return place(
        event,
        network=NET,
        head=head,
        in_log=in_log,
        id_at_seq=lambda: at,
        head_before=lambda: before,
    )


FEED = feed(SV, 4, network=NET)


def test_every_outcome_of_the_rule() -> None:
    head2 = Head.of(FEED[1])
    cases = [
        (FEED[2].raw, head2, {}, Outcome.APPEND, ""),
        (FEED[3].raw, head2, {}, Outcome.HOLD, "gap"),
        (FEED[2].raw, head2, {"in_log": False}, Outcome.HOLD, "not-admitted"),
        (FEED[1].raw, head2, {"at": FEED[1].id}, Outcome.KNOWN, ""),
        (
            forge(SV, network=NET, seq=2, prev=FEED[0].id, ts=FEED[0].ts + 7, body=payload("b")),
            head2,
            {"at": FEED[1].id},
            Outcome.FORK,
            "",
        ),
        (
            forge(SV, network=NET, seq=3, prev=bytes(32), ts=FEED[1].ts + 1),
            head2,
            {},
            Outcome.FORK,
            "",
        ),
        (
            forge(SV, network=NET, seq=3, prev=FEED[1].id, ts=FEED[0].ts),
            head2,
            {},
            Outcome.REFUSE,
            "",
        ),
        (feed(SV, 1, network=bytes([7] * 32))[0].raw, None, {}, Outcome.REFUSE, ""),
    ]
    for raw, head, options, outcome, reason in cases:
        decision = _place(raw, head, **options)
        assert decision.outcome is outcome, (decision, outcome)
        assert decision.reason == reason


def test_follow_ons_and_evidence() -> None:
    head = Head.of(FEED[1])
    other = forge(SV, network=NET, seq=3, prev=FEED[1].id, ts=FEED[1].ts + 9, body=payload("o"))
    wrong_prev = forge(SV, network=NET, seq=3, prev=bytes(32), ts=FEED[1].ts + 1)
    backwards = forge(SV, network=NET, seq=3, prev=FEED[1].id, ts=FEED[0].ts, body=payload("x"))
    waiting = sorted(
        [FEED[2], check_event(other), check_event(wrong_prev), check_event(backwards)],
        key=lambda e: e.id,
    )
    out = follow_on(head, waiting)
    assert out.next is not None
    assert out.next.id in {FEED[2].id, check_event(other).id}
    assert {e.id for e in out.forks} == {
        FEED[2].id,
        check_event(other).id,
        check_event(wrong_prev).id,
    } - {out.next.id}
    assert [e.id for e, _ in out.refused] == [check_event(backwards).id]
    assert keeps_evidence(None, 3)
    assert keeps_evidence(5, 3)
    assert not keeps_evidence(3, 3)
    assert not keeps_evidence(2, 3)
