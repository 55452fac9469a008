"""Introductions (docs/PROTOCOL.md §6.3, §10.7): a node that a member has not pinned
yet proves its admission, on a connection where it shows no certificate but checks
the server's. Both sides: :func:`introduce`, which the client tries when a handshake
failed, and :class:`Introductions`, the server's route and its rate per address.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import time
from typing import NoReturn

import aiohttp
from aiohttp import web

from crypto import tls
from node import transport
from node.errors import PeerRefused
from node.peers import trusted_certificates
from node.service import Node
from node.sync_base import PREFIX, Sync, read_at_most
from protocol import admission, encoding
from protocol.envelope import MAX_EVENT_SIZE
from protocol.errors import EncodingError

log = logging.getLogger("commune.sync")

#: Introductions one source address may make a minute.
INTRO_RATE = 10


def hang_up(request: web.Request) -> NoReturn:
    """Close the connection without an answer: what a stranger gets."""
    if request.transport is not None:
        request.transport.abort()
    raise web.HTTPForbidden()  # never sent: the connection is gone


class Introductions:
    """The server's side: who may introduce itself how often, what it is told."""

    def __init__(self, sync: Sync) -> None:
        self.sync = sync
        #: introductions by source address this minute: (minute's start, count)
        self.by_address: dict[str, tuple[float, int]] = {}

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """A node this one does not know yet proves its admission (§6.3, §10.7): the
        proof is checked by the membership rules against what this node holds, and kept
        (placed in the log, or held until it can be); the node is pinned from then on
        and connects again with its certificate. Anything but a well-formed proof for
        this network gets a closed connection; a proof that does not admit its node, a
        short refusal."""
        node = self.sync.node
        address = request.remote or "?"
        if not self.allowed(address):
            hang_up(request)
        try:
            async with asyncio.timeout(self.sync.timeouts.read):
                body = await request.content.read(admission.MAX_PROOF_BYTES + 2048)
            intro = admission.Introduction.decode(body)
        except (TimeoutError, admission.ProofRefused, aiohttp.ClientPayloadError):
            hang_up(request)
        known = node.projector.known()
        if known is None or intro.network != node.network:
            hang_up(request)
        evidence = self.fork_evidence(intro.node)
        if evidence:
            # Another copy of that node's key wrote its feed too: say so, with the two
            # signed events that show it, so the copy shut out learns why (§10.7).
            log.warning("node %s… introduced itself, but its feed forked", intro.node.hex()[:12])
            answer = web.Response(
                status=409,
                body=encoding.encode(evidence),
                content_type="application/x-commune-fork",
            )
            answer.force_close()
            return answer
        try:
            events = await asyncio.to_thread(admission.check, known, intro.proof, intro.node)
        except admission.ProofRefused as e:
            log.warning("refused an introduction: %s", e.message)
            refusal = web.HTTPForbidden(text=e.message)
            refusal.force_close()
            raise refusal from None
        result = node.ingest([e.raw for e in events])
        if (result.new or result.held) and self.sync.on_grew is not None:
            self.sync.on_grew()
        log.info("node %s… introduced itself with a proof of admission", intro.node.hex()[:12])
        response = web.Response(text="welcome: connect again with this node's certificate")
        response.force_close()
        return response

    def fork_evidence(self, node_id: bytes) -> list[bytes]:
        """The two events that show ``node_id``'s feed forked (ours at the lowest forked
        seq, and the evidence kept there), or nothing."""
        seq = self.sync.node.store.fork_seqs().get(node_id)
        if seq is None:
            return []
        store = self.sync.node.store
        event = store.event_at(node_id, seq)
        kept = [f for f in store.forks() if f.author == node_id and f.seq == seq]
        return [e.raw for e in [*([event] if event else []), *kept[:1]]]

    def allowed(self, address: str) -> bool:
        """At most INTRO_RATE introductions a minute from one address: each costs up to
        MAX_PROOF_EVENTS signature checks, and whoever sends one is not known yet."""
        now = time.monotonic()
        start, count = self.by_address.get(address, (now, 0))
        if now - start > 60.0:
            start, count = now, 0
        if count >= INTRO_RATE:
            return False
        if len(self.by_address) >= 4096:
            self.by_address.clear()
        self.by_address[address] = (start, count + 1)
        return True


async def introduce(sync: Sync, session: aiohttp.ClientSession, base: str) -> bool:
    """Tell the member at ``base`` the proof of this node's admission, over a connection
    on which this node shows no certificate but checks the server's (§10.7): only a
    member this node knows hears it. True when it was accepted; False when there is no
    proof to give, or the server could not be reached or is not a member this node
    knows; :class:`PeerRefused` when the server refused the proof, saying why."""
    node = sync.node
    known = node.projector.known()
    proof = node.projector.proof_for(node.node_id)
    if known is None or (not proof and node.node_id != known.genesis.author):
        return False  # no proof to give (the founder's is the genesis itself)
    intro = admission.Introduction(node.network, node.node_id, tuple(e.raw for e in proof))
    context = transport.introduction_context(
        trusted_certificates(node), tls.server_name(node.network)
    )
    where = base.removesuffix(PREFIX)
    try:
        async with session.post(f"{base}/introduce", data=intro.encode(), ssl=context) as answer:
            body = await read_at_most(answer.content, 2 * MAX_EVENT_SIZE + 1024)
            if answer.status == 200:
                log.info("introduced this node to %s", where)
                return True
    except (aiohttp.ClientError, ConnectionError, ssl.SSLError, TimeoutError):
        return False
    if answer.status == 409:
        _take_own_fork(node, body, where)
    text = body[:300].decode("utf-8", "replace")
    refused = f"{where} refused this node's proof of admission: {text}"
    raise PeerRefused(refused, "refused-admission")


def _take_own_fork(node: Node, body: bytes, where: str) -> NoReturn:
    """A member refused this node because its feed forked: keep the evidence it sent
    (checked like any event) and say in words what happened and what to do."""
    try:
        raws = encoding.decode(body)
    except EncodingError:
        raws = []
    if isinstance(raws, list) and len(raws) <= 2 and all(isinstance(r, bytes) for r in raws):
        node.ingest(raws)
    seq = node.store.fork_seqs().get(node.node_id)
    at = f" at seq {seq}" if seq is not None else ""
    raise PeerRefused(
        f"{where} refuses this node: its feed forked{at}, so another copy of this node's "
        "key (a copied folder, or a restored backup run beside it) wrote events too, and "
        "the network stops counting this node from there. Stop every copy but one; the "
        "collective needs a new node (`commune init` in a new folder), admitted by an admin"
    )
