"""Sync over HTTPS with mutual TLS 1.3 (docs/PROTOCOL.md §10): the names the rest of the
node (the daemon, the command line, status and doctor) and the tests use, from the
modules that hold them:

- ``protocol.session`` and ``protocol.holdings``: the round itself, sans-I/O: its
  states and rules, what to send and what the peer's frames mean;
- node/sync_base.py: this node's side (:class:`Sync`: trust, and what it holds, as
  the sessions ask it), the time limits (:class:`Timeouts`), :class:`Stats`, errors;
- node/intake.py: a stream's bytes into a session, its batches checked and placed;
- node/coding.py: sync bodies coded with zstd when both nodes speak it and it pays,
  decoded within the limits of an uncoded body;
- node/sync_server.py: the routes, behind the gate (node/gate.py);
- node/sync_client.py: dialling a peer and running the client's round;
- node/introduce.py: a node not pinned yet proving its admission (§10.7), both sides.
"""

from __future__ import annotations

from node.errors import PeerBusy, PeerRefused
from node.introduce import INTRO_RATE, Introductions, introduce
from node.sync_base import (
    CHUNK,
    CLIENT_KEEPALIVE,
    CONNECT_TIMEOUT,
    HANDSHAKE_TIMEOUT,
    KEEPALIVE,
    MAX_PENALTY,
    PENALTY,
    PREFIX,
    READ_TIMEOUT,
    REQUEST_TIME,
    Stats,
    Sync,
    Timeouts,
)
from node.sync_client import WAIT_IN_ROUND, client_session, sync_with
from node.sync_server import (
    MEMBER_REQUESTS,
    PEER,
    PULL_BURST,
    PULL_RATE,
    TARPIT,
    Server,
    start_server,
    stop_server,
)

__all__ = [
    "CHUNK",
    "CLIENT_KEEPALIVE",
    "CONNECT_TIMEOUT",
    "HANDSHAKE_TIMEOUT",
    "INTRO_RATE",
    "KEEPALIVE",
    "MAX_PENALTY",
    "MEMBER_REQUESTS",
    "PEER",
    "PENALTY",
    "PREFIX",
    "PULL_BURST",
    "PULL_RATE",
    "READ_TIMEOUT",
    "REQUEST_TIME",
    "TARPIT",
    "WAIT_IN_ROUND",
    "Introductions",
    "PeerBusy",
    "PeerRefused",
    "Server",
    "Stats",
    "Sync",
    "Timeouts",
    "client_session",
    "introduce",
    "start_server",
    "stop_server",
    "sync_with",
]
