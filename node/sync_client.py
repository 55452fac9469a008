"""The client's round (docs/PROTOCOL.md §10.3, §10.4, §10.7): dialling a peer, and
moving the bytes of the requests the round's session asks for.

What to send and when, and what the answers mean, is the sans-I/O session's
(``protocol.session.Client``); here are the HTTP requests, the peer's certificate,
the round's time limit, a 429's wait, one more try on a connection the server had
just closed, and the introduction of a node the peer may not have pinned yet.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import time
from collections.abc import AsyncIterator, Iterable

import aiohttp
from aiohttp import hdrs

from node import coding, dial, failures
from node.errors import PeerBusy, PeerRefused
from node.intake import Outgoing, catch_up, pack, reader, take_in
from node.introduce import introduce
from node.sync_base import CLIENT_KEEPALIVE, PREFIX, Stats, Sync, read_at_most
from protocol import session as sessions
from protocol.envelope import MAX_EVENT_SIZE
from protocol.errors import SyncError

log = logging.getLogger("commune.sync")

#: A peer's Retry-After this short is waited out within the round, at most twice.
WAIT_IN_ROUND = 5.0


def client_session(
    sync: Sync, *, proxy: str | None = None, proxy_all: bool = False
) -> aiohttp.ClientSession:
    """A session that dials peers with mutual TLS, directly or through a SOCKS5 proxy:
    ``.onion`` peers always through ``proxy`` (Tor's), names resolved by it; every peer
    through it with ``proxy_all`` (node/dial.py). Its time limits are ``sync``'s."""
    limits = sync.timeouts
    timeout = aiohttp.ClientTimeout(
        total=None, connect=limits.connect, sock_connect=limits.connect, sock_read=limits.read
    )
    connector = dial.connector(
        sync.context(server=False),
        proxy=proxy,
        proxy_all=proxy_all,
        keepalive_timeout=CLIENT_KEEPALIVE,
    )
    # The codings this node decodes (node/coding.py), rather than aiohttp's default
    # "gzip, deflate", which older nodes sent without decoding either.
    headers = {hdrs.ACCEPT_ENCODING: ", ".join(sync.codings)} if sync.codings else None
    return aiohttp.ClientSession(
        connector=connector, timeout=timeout, auto_decompress=False, headers=headers
    )


def _peer_der(response: aiohttp.ClientResponse) -> bytes | None:
    """The server's certificate. The connection is released as soon as a short body has
    been read, so take the transport from the response's protocol, which it keeps
    (aiohttp has no public way to the peer's certificate of a response)."""
    conn = response.connection
    protocol = conn.protocol if conn is not None else getattr(response, "_protocol", None)
    transport = getattr(protocol, "transport", None)
    sslobj = transport.get_extra_info("ssl_object") if transport is not None else None
    if sslobj is None:
        raise PeerRefused("the connection is not mutual TLS", "tls")
    der: bytes | None = sslobj.getpeercert(binary_form=True)
    return der


def _busy(response: aiohttp.ClientResponse, stats: Stats) -> None:
    """Raise :class:`PeerBusy` for a 429 answer, with the wait it asks for."""
    if response.status != 429:
        return
    try:
        wait = float(response.headers.get("Retry-After", "1"))
    except ValueError:
        wait = 1.0
    wait = min(max(wait, 0.0), 3600.0)
    raise PeerBusy(f"{stats.peer} is busy; it asks to come back in {wait:.0f} s", wait)


async def sync_with(sync: Sync, session: aiohttp.ClientSession, url: str) -> Stats:
    """One round with the node at ``url``: pull what we lack, then push what it lacks;
    then, outside the round's time limit, what it stored behind the log goes into the
    items (node/projector.py, "Items behind the log"), whether the round completed or
    broke off (a cancelled round leaves that to the next)."""
    try:
        return await _timed_round(sync, session, url)
    finally:
        await catch_up(sync.node)


async def _timed_round(sync: Sync, session: aiohttp.ClientSession, url: str) -> Stats:
    started = time.monotonic()
    stats = Stats(peer=url)
    base = url.rstrip("/") + PREFIX
    limit = sync.timeouts.request
    try:
        async with asyncio.timeout(limit):
            await _tries(sync, session, base, url, stats)
    except SyncError as e:
        if e.message.startswith("the peer sent nothing"):
            raise PeerRefused(f"{url}: {e.message}", "slow") from None
        raise PeerRefused(f"{url} broke the sync protocol: {e.message}", "protocol") from None
    except aiohttp.ClientResponseError as e:
        raise PeerRefused(f"{url} answered {e.status} {e.message}", "http") from None
    except (aiohttp.ClientError, ConnectionError, ssl.SSLError) as e:
        # what the library says is kept as the detail; the cause says it in words
        cause = failures.classify(e, answered=stats.bytes_received > 0)
        raise PeerRefused(f"cannot sync with {url}: {e.__class__.__name__}: {e}", cause) from None
    except TimeoutError:
        cause = "slow" if stats.bytes_received else "unreachable"
        raise PeerRefused(f"{url} took longer than {limit:.0f} s", cause) from None
    stats.seconds = time.monotonic() - started
    return stats


async def _tries(
    sync: Sync, session: aiohttp.ClientSession, base: str, url: str, stats: Stats
) -> None:
    """The round, tried again when nothing at all came back: once when the server had
    just closed a kept-alive connection (it closes idle ones after KEEPALIVE), and once
    after introducing this node (§10.7) when the handshake failed, perhaps because the
    peer has not pinned this node yet."""
    reconnected = introduced = False
    waits = 0
    while True:
        try:
            await _round(sync, session, base, url, stats)
            return
        except PeerBusy as e:
            # Asked to come back soon: wait it out here, twice at most (§10.4).
            if e.retry_after > WAIT_IN_ROUND or waits >= 2:
                raise
            waits += 1
            await asyncio.sleep(e.retry_after)
        except (aiohttp.ClientError, ConnectionError, ssl.SSLError) as e:
            if stats.bytes_received:
                raise
            if isinstance(e, aiohttp.ServerDisconnectedError) and not reconnected:
                reconnected = True
                continue
            if introduced or not await introduce(sync, session, base):
                raise
            introduced = True


async def _round(
    sync: Sync, http: aiohttp.ClientSession, base: str, url: str, stats: Stats
) -> None:
    """One try of the round: each request the session asks for, and each of its duties
    (§10.3: pull, with a short hello first when the two were in step at the end of the
    last round; the search for where forked feeds parted; a push if the peer lacks
    anything)."""
    session = sessions.Client(
        sync, remembered=sync.in_step.pop(url, None), searched=sync.searched.setdefault(url, set())
    )
    while (action := session.next_action()) is not sessions.DONE:
        if isinstance(action, sessions.Request):
            if action.route == "ids":
                session.receive_ids(await _ask_ids(http, base, action, stats))
            else:
                await _exchange(sync, http, base, session, action, stats=stats)
        elif isinstance(action, sessions.Found):
            result = sync.node.ingest([action.raw])
            stats.add(result)
            if result.forks:
                log.warning(
                    "found where %s…'s feed forked: seq %d", action.author.hex()[:12], action.seq
                )
        elif isinstance(action, sessions.ConfirmFeed):
            sync.node.confirm_feed(action.seq)
        else:
            sync.in_step[url] = action.summary


async def _exchange(
    sync: Sync,
    http: aiohttp.ClientSession,
    base: str,
    session: sessions.Client,
    request: sessions.Request,
    *,
    stats: Stats,
) -> None:
    """A pull (the hello) or a push (frames streamed from the store, coded when the
    peer's hello listed a coding and it pays), and its answer taken into the session."""
    headers: dict[str, str] = {}
    if isinstance(request.body, bytes):
        data: bytes | AsyncIterator[bytes] = request.body
        stats.bytes_sent += len(request.body)
    else:
        theirs = session.theirs.codings if session.theirs is not None else ()
        body = Outgoing(pack(request.body, stats), coding.common(theirs, sync.codings), stats)
        if body.coding is not None:
            headers[hdrs.CONTENT_ENCODING] = body.coding
        data = _stream(body)
    async with http.post(f"{base}/{request.route}", data=data, headers=headers) as response:
        if response.status != 200:
            _busy(response, stats)
            text = (await response.content.read(300)).decode("utf-8", "replace")
            what = "the sync" if request.route == "sync" else "what we sent"
            raise PeerRefused(f"{stats.peer} refused {what}: {response.status} {text}", "http")
        if request.route == "sync":
            stats.node_id = sync.identify(_peer_der(response))
        # only a coding this node listed: SyncError otherwise
        coded = coding.coding_of(response.headers.get(hdrs.CONTENT_ENCODING), sync.codings)
        read = reader(response.content.readany, coded, stats)
        await take_in(sync, session, read, stats, sync.timeouts.read)


async def _stream(body: Iterable[bytes]) -> AsyncIterator[bytes]:
    for data in body:
        yield data
        await asyncio.sleep(0)  # let other peers run between chunks


async def _ask_ids(
    http: aiohttp.ClientSession, base: str, request: sessions.Request, stats: Stats
) -> bytes | None:
    """The answer's body; None when the peer does not answer ids (404: an older node)."""
    assert isinstance(request.body, bytes)
    stats.bytes_sent += len(request.body)
    async with http.post(f"{base}/ids", data=request.body) as response:
        if response.status == 404:
            return None  # an older node
        body = await read_at_most(response.content, 2 * MAX_EVENT_SIZE)
        stats.bytes_received += len(body)
        if response.status != 200:
            _busy(response, stats)
            raise PeerRefused(f"{stats.peer} refused an ids request: {response.status}", "http")
    return body
