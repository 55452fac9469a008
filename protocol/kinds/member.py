"""Membership kinds (docs/PROTOCOL.md §5.5): the genesis and the admins' actions.

=================  =========================================================
kind               payload (besides ``v``)
=================  =========================================================
``network``        ``name``: the network's name; ``founder_name``,
                   ``sealing_key`` and ``tls`` (64 bytes): the founder's.
                   Written by the founder with the zero network id; the
                   network id is this event's id. ``suite`` (optional):
                   ``mlkem768-x25519`` for a post-quantum network.
``member.admit``   ``node`` (32 bytes), ``name``, ``sealing_key`` (32 bytes),
                   ``admin`` (bool), ``tls`` (64 bytes: the signature of the
                   node's TLS certificate, from its card)
``member.revoke``  ``node``, ``cutoff``: the last seq of that node that
                   counts (0: none of its events)
``member.role``    ``node``, ``admin`` (bool), ``seq``: promote: admin
                   actions of ``node`` count from ``seq + 1``; demote: they
                   count up to ``seq``
``node.address``   ``addresses``: where this node can be reached (list of text)
``node.keys``      ``mlkem768-x25519``: this node's post-quantum sealing key
                   (1216 bytes), in a network founded with that suite
``network.limits`` ``events_per_day``, ``bytes_per_day``: how much of one
                   author's feed, per day of its timestamps, every node
                   takes in (§4.6); counts when its author is an admin at
                   its seq; the highest of each, and the defaults, apply
=================  =========================================================
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from crypto.errors import BadPublicKey
from crypto.sign import check_public_key
from protocol.errors import BadPayload
from protocol.kinds.base import control_char, has_version, is_int

GENESIS = "network"
ADMIT = "member.admit"
REVOKE = "member.revoke"
ROLE = "member.role"
ADDRESS = "node.address"
#: a member's public key for the post-quantum sealing suite (too long for a card)
SEALING_KEYS = "node.keys"
LIMITS = "network.limits"
ACTIONS = (ADMIT, REVOKE, ROLE)
KINDS = (GENESIS, *ACTIONS, ADDRESS, SEALING_KEYS, LIMITS)
#: What one author may add to every node's store per day of its events' timestamps,
#: unless an admin raised it (§4.6): far more than a collective writes, far less than
#: would fill a small node's disk.
DEFAULT_EVENTS_PER_DAY = 50_000
DEFAULT_BYTES_PER_DAY = 512 * 1024 * 1024
#: the most an admin can set: beyond it, a limit would bound nothing
MAX_LIMIT = 2**40
#: the sealing suites a network can choose at its founding (docs/PROTOCOL.md §11)
CLASSIC_SUITE = "x25519"
PQ_SUITE = "mlkem768-x25519"
PQ_PUBLIC_SIZE = 1184 + 32

MAX_NAME = 100
MAX_ADDRESSES = 8
MAX_ADDRESS_LEN = 200


@dataclass(frozen=True, slots=True)
class Admit:
    node: bytes
    name: str
    sealing_key: bytes
    admin: bool
    #: the signature of the node's TLS certificate (from its card)
    tls: bytes = bytes(64)


@dataclass(frozen=True, slots=True)
class Revoke:
    node: bytes
    cutoff: int


@dataclass(frozen=True, slots=True)
class Role:
    node: bytes
    admin: bool
    seq: int


Action = Admit | Revoke | Role


def _key(payload: dict[str, Any], field: str, size: int = 32) -> bytes:
    value = payload.get(field)
    if not isinstance(value, bytes) or len(value) != size:
        raise BadPayload(f"{field!r} must be {size} bytes")
    return value


def _node(payload: dict[str, Any]) -> bytes:
    node = _key(payload, "node")
    try:
        check_public_key(node)
    except BadPublicKey as e:
        raise BadPayload(f"'node' is not a usable node id: {e.message}") from None
    return node


def _name(payload: dict[str, Any], field: str = "name") -> str:
    name = payload.get(field)
    if not isinstance(name, str) or not 0 < len(name) <= MAX_NAME:
        raise BadPayload(f"{field!r} must be text of 1 to {MAX_NAME} characters")
    problem = control_char(name)
    if problem is not None:
        raise BadPayload(f"{field!r} {problem}")
    return name


def _flag(payload: dict[str, Any], field: str) -> bool:
    value = payload.get(field)
    if not isinstance(value, bool):
        raise BadPayload(f"{field!r} must be true or false")
    return value


def _seq(payload: dict[str, Any], field: str) -> int:
    value = payload.get(field)
    if not is_int(value) or not 0 <= value < 2**63:
        raise BadPayload(f"{field!r} must be a seq (0 or more)")
    return value


def _version(payload: dict[str, Any]) -> None:
    if not has_version(payload, 1):
        raise BadPayload("payload version must be 1")


@dataclass(frozen=True, slots=True)
class Genesis:
    name: str
    founder_name: str
    sealing_key: bytes
    tls: bytes = bytes(64)
    #: the network's sealing suite: "x25519", or "mlkem768-x25519" (post-quantum hybrid)
    suite: str = CLASSIC_SUITE


def parse_genesis(payload: dict[str, Any]) -> Genesis:
    _version(payload)
    founder = _name(payload, "founder_name")
    suite = payload.get("suite", CLASSIC_SUITE)
    if suite not in (CLASSIC_SUITE, PQ_SUITE):
        raise BadPayload(f"'suite' must be {CLASSIC_SUITE!r} or {PQ_SUITE!r}")
    return Genesis(
        _name(payload), founder, _key(payload, "sealing_key"), _key(payload, "tls", 64), suite
    )


def parse_action(kind: str, payload: dict[str, Any]) -> Action:
    """An admin action from its payload; :class:`BadPayload` when it is malformed."""
    _version(payload)
    if kind == ADMIT:
        return Admit(
            _node(payload),
            _name(payload),
            _key(payload, "sealing_key"),
            _flag(payload, "admin"),
            _key(payload, "tls", 64),
        )
    if kind == REVOKE:
        return Revoke(_node(payload), _seq(payload, "cutoff"))
    if kind == ROLE:
        return Role(_node(payload), _flag(payload, "admin"), _seq(payload, "seq"))
    raise BadPayload(f"{kind!r} is not an admin action")


def parse_addresses(payload: dict[str, Any]) -> tuple[str, ...]:
    _version(payload)
    addresses = payload.get("addresses")
    if (
        not isinstance(addresses, list)
        or len(addresses) > MAX_ADDRESSES
        or not all(isinstance(a, str) and 0 < len(a) <= MAX_ADDRESS_LEN for a in addresses)
    ):
        raise BadPayload(f"'addresses' must be a list of at most {MAX_ADDRESSES} texts")
    for address in addresses:
        problem = control_char(address)
        if problem is not None:
            raise BadPayload(f"the address {address[:40]!r} {problem}")
    return tuple(addresses)


def genesis_payload(genesis: Genesis) -> dict[str, Any]:
    """The genesis payload; :class:`BadPayload` when :func:`parse_genesis` would refuse
    it, so a node never writes a founding event it cannot read back."""
    payload = {
        "v": 1,
        "name": genesis.name,
        "founder_name": genesis.founder_name,
        "sealing_key": genesis.sealing_key,
        "tls": genesis.tls,
    }
    if genesis.suite != CLASSIC_SUITE:
        payload["suite"] = genesis.suite
    parse_genesis(payload)
    return payload


@dataclass(frozen=True, slots=True)
class Limits:
    events_per_day: int = DEFAULT_EVENTS_PER_DAY
    bytes_per_day: int = DEFAULT_BYTES_PER_DAY


def parse_limits(payload: dict[str, Any]) -> Limits:
    """A ``network.limits`` payload; :class:`BadPayload` when malformed."""
    _version(payload)
    values = []
    for field in ("events_per_day", "bytes_per_day"):
        value = payload.get(field)
        if not is_int(value) or not 1 <= value <= MAX_LIMIT:
            raise BadPayload(f"{field!r} must be a whole number from 1 to {MAX_LIMIT}")
        values.append(value)
    return Limits(*values)


def parse_sealing_keys(payload: dict[str, Any]) -> bytes:
    """A ``node.keys`` payload: ``{"v": 1, "mlkem768-x25519": <1216 bytes>}``."""
    _version(payload)
    return _key(payload, PQ_SUITE, PQ_PUBLIC_SIZE)


def action_payload(action: Action) -> dict[str, Any]:
    """The payload of an admin action; :class:`BadPayload` when :func:`parse_action`
    would refuse it."""
    payload: dict[str, Any]
    if isinstance(action, Admit):
        payload = {
            "v": 1,
            "node": action.node,
            "name": action.name,
            "sealing_key": action.sealing_key,
            "admin": action.admin,
            "tls": action.tls,
        }
    elif isinstance(action, Revoke):
        payload = {"v": 1, "node": action.node, "cutoff": action.cutoff}
    else:
        payload = {"v": 1, "node": action.node, "admin": action.admin, "seq": action.seq}
    parse_action(action_kind(action), payload)
    return payload


def action_kind(action: Action) -> str:
    return ADMIT if isinstance(action, Admit) else REVOKE if isinstance(action, Revoke) else ROLE
