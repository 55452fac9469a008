"""The membership fold (docs/PROTOCOL.md §5.5) as a pure function."""

from __future__ import annotations

import itertools

from protocol.envelope import Event
from protocol.kinds.member import Admit, Genesis, Revoke, Role
from protocol.membership import ActionEvent, Membership, fold
from tests.helpers import feed, fixed_key

F, A, B, C, D = (fixed_key(n) for n in (1, 2, 3, 4, 5))
INFO = Genesis("Red", "Los Angeles", bytes(32))
GENESIS: Event = feed(F, 1, kind="network")[0]
_ids = itertools.count(1)


def act(author: bytes, seq: int, ts: int, action: Admit | Revoke | Role) -> ActionEvent:
    return ActionEvent(next(_ids).to_bytes(32, "big"), author, seq, ts, action)


def admit(by: bytes, seq: int, ts: int, who: bytes, admin: bool = False) -> ActionEvent:
    return act(by, seq, ts, Admit(who, f"node {who[:2].hex()}", bytes(32), admin))


def run(*actions: ActionEvent, forks: dict[bytes, int] | None = None) -> Membership:
    result = fold(GENESIS, INFO, actions, forks)
    # The answer never depends on the order the actions are given in.
    for order in itertools.islice(itertools.permutations(actions), 24):
        assert fold(GENESIS, INFO, order, forks) == result
    return result


def test_the_founder_is_the_first_admin() -> None:
    m = run()
    founder = m.get(F.public)
    assert founder is not None
    assert founder.is_admin
    assert m.network_id == GENESIS.id
    assert m.counts(F.public, 1_000_000)
    assert not m.counts(A.public, 1)


def test_an_admin_admits_and_a_plain_member_cannot() -> None:
    m = run(admit(F.public, 2, 10, A.public), admit(A.public, 1, 20, B.public))
    assert A.public in m.members
    assert B.public not in m.members  # A is not an admin


def test_revocation_cutoff_counts_by_seq_whenever_events_arrive() -> None:
    m = run(admit(F.public, 2, 10, A.public), act(F.public, 3, 20, Revoke(A.public, 4)))
    a = m.get(A.public)
    assert a is not None
    assert a.state == "revoked"
    assert m.counts(A.public, 4)
    assert not m.counts(A.public, 5)


def test_a_cutoff_voids_admin_actions_already_counted() -> None:
    """C (an admin) admits D at its seq 5, with an early timestamp; F then revokes C
    with cutoff 3. The admission of D must not count: it is above C's cutoff."""
    admit_c = admit(F.public, 2, 10, C.public, admin=True)
    admit_d = admit(C.public, 5, 15, D.public)
    revoke_c = act(F.public, 3, 30, Revoke(C.public, 3))
    m = run(admit_c, admit_d, revoke_c)
    assert D.public not in m.members
    assert admit_d.id in m.void


def test_two_admins_revoking_each_other_settle_the_same_everywhere() -> None:
    admit_a = admit(F.public, 2, 10, A.public, admin=True)
    admit_b = admit(F.public, 3, 11, B.public, admin=True)
    a_revokes_b = act(A.public, 7, 100, Revoke(B.public, 3))  # A saw B up to seq 3
    b_revokes_a = act(B.public, 4, 101, Revoke(A.public, 6))  # B saw A up to seq 6
    m = run(admit_a, admit_b, a_revokes_b, b_revokes_a)
    a, b = m.get(A.public), m.get(B.public)
    assert a is not None
    assert b is not None
    assert b.state == "revoked"  # the earlier action counts
    assert a.state == "admitted"  # the later one was made by an admin already cut off
    assert a.is_admin


def test_promote_counts_from_the_next_seq_and_demote_up_to_a_seq() -> None:
    admit_a = admit(F.public, 2, 10, A.public)
    too_early = admit(A.public, 3, 12, B.public)  # before the promotion
    promote = act(F.public, 3, 20, Role(A.public, True, 3))
    later = admit(A.public, 4, 30, C.public)
    demote = act(F.public, 4, 40, Role(A.public, False, 4))
    after_demotion = admit(A.public, 5, 50, D.public)
    m = run(admit_a, too_early, promote, later, demote, after_demotion)
    assert B.public not in m.members
    assert C.public in m.members
    assert D.public not in m.members
    a = m.get(A.public)
    assert a is not None
    assert not a.is_admin


def test_a_revoked_key_is_never_admitted_again() -> None:
    m = run(
        admit(F.public, 2, 10, A.public),
        act(F.public, 3, 20, Revoke(A.public, 0)),
        admit(F.public, 4, 30, A.public),
    )
    a = m.get(A.public)
    assert a is not None
    assert a.state == "revoked"
    assert not m.counts(A.public, 1)


def test_a_fork_freezes_the_author_before_it() -> None:
    admit_a = admit(F.public, 2, 10, A.public, admin=True)
    after_fork = admit(A.public, 6, 50, B.public)
    m = run(admit_a, after_fork, forks={A.public: 5})
    a = m.get(A.public)
    assert a is not None
    assert a.state == "forked"
    assert m.counts(A.public, 4)
    assert not m.counts(A.public, 5)
    assert B.public not in m.members
