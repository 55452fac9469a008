"""``serve``: the sync server, the periodic scheduler and the live channel, together.

- The **scheduler** syncs with every known peer each ``interval`` seconds (with jitter,
  so nodes do not all call at once), at most ``parallel`` at a time, and backs off
  exponentially from a peer that fails (up to an hour).
- The **watcher** notices when the log grows (a post from the command line, or events
  from a peer) and at once tells the peers that keep a live channel to this node, and
  syncs with the peers this node calls: so a new event crosses a line of nodes in about
  a second per hop, and every member relays everyone's events.
- The **live** channels: this node keeps a WebSocket open to each peer it calls; when
  that peer's log grows it says so, and this node pulls at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from dataclasses import dataclass, field

import aiohttp

from crypto.errors import CommuneError
from crypto.identity import NodeKeys
from node import failures, sync
from node import gate as gate_module
from node import peers as peer_list
from node.intake import catch_up
from node.records import forget_sync, record_served, record_sync
from node.service import Node
from node.waiting import wait_event

log = logging.getLogger("commune.serve")

DEFAULT_PORT = 8470
DEFAULT_INTERVAL = 60.0
JITTER = 0.2
MAX_BACKOFF = 3600.0
#: after a failed round, the next try comes after this many seconds, doubled with each
#: failure in a row, up to the interval
RETRY_FIRST = 2.0
WATCH_EVERY = 0.2
#: at least this long between two pokes for new events (seconds)
WATCH_GAP = 0.05
#: seconds the log stays still before the watcher brings items left behind it up
#: (node/projector.py, "Items behind the log"): longer than an intake's batch takes
QUIET_BEFORE_CATCH_UP = 2.0
REFRESH_PEERS_EVERY = 5.0
#: seconds an old client session is kept for the rounds still using it, once a new one
#: is made for a membership that grew
SESSION_GRACE = 60.0


@dataclass
class PeerState:
    url: str
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    failures: int = 0
    last: sync.Stats | None = None
    last_error: str = ""
    #: when the last sync round with this peer succeeded (the node's clock, seconds), or None
    last_ok: float | None = None
    #: the peer asked not to be called before this (time.monotonic)
    busy_until: float = 0.0
    #: after failures, when the next round is (the node's clock, seconds), as recorded
    next_try: float | None = None
    tasks: list[asyncio.Task[None]] = field(default_factory=list)


class Daemon:
    def __init__(
        self,
        node: Node,
        keys: NodeKeys,
        *,
        host: str = "0.0.0.0",  # noqa: S104 - peers must reach it; mutual TLS pins members
        port: int = DEFAULT_PORT,
        interval: float = DEFAULT_INTERVAL,
        parallel: int = 4,
        proxy: str | None = None,
        proxy_all: bool = False,
        gate: gate_module.Limits | None = None,
        timeouts: sync.Timeouts | None = None,
    ) -> None:
        self.node = node
        #: a SOCKS5 proxy (Tor's) for .onion peers, or for every peer with proxy_all
        self.proxy, self.proxy_all = proxy, proxy_all
        #: this node's side of sync, with the time limits of both server and client
        self.sync = sync.Sync(node, keys, timeouts)
        self.server = sync.Server(self.sync, gate)
        self.server.on_served = self._served
        self.host, self.port = host, port
        self.interval = interval
        self.limit = asyncio.Semaphore(parallel)
        self.peers: dict[str, PeerState] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._session: aiohttp.ClientSession | None = None
        #: sessions of an older membership, kept a while for the rounds still on them
        self._retired: list[aiohttp.ClientSession] = []
        self._closing: set[asyncio.Task[None]] = set()
        self._trust: frozenset[bytes] = frozenset()
        self._listening: tuple[object, object] | None = None
        self._refresh_wake = asyncio.Event()
        #: set when a sync in this process stored something: the watcher looks at once
        self._grew = asyncio.Event()
        self.sync.on_grew = self._grew.set
        self._stopping = False
        self.rounds = 0

    def _served(self, caller: bytes, route: str, stats: sync.Stats | None, error: str) -> None:
        record_served(self.node, caller, route, stats, error)

    async def start(self) -> None:
        runner, listener = await sync.start_server(self.server, self.host, self.port)
        self._listening = (runner, listener)
        if self.port == 0:
            sockets = listener.sockets
            self.port = sockets[0].getsockname()[1]
        self._tasks.append(asyncio.create_task(self._watch(), name="watch"))
        self._tasks.append(asyncio.create_task(self._refresh(), name="peers"))

    @property
    def url(self) -> str:
        host = "127.0.0.1" if self.host in ("0.0.0.0", "") else self.host  # noqa: S104
        return f"https://{host}:{self.port}"

    async def stop(self) -> None:
        self._stopping = True
        tasks = [*self._tasks, *(t for p in self.peers.values() for t in p.tasks)]
        # A library may turn a cancellation into an error of its own and go on, so the
        # loops also check _stopping; and nothing here waits for ever.
        for _ in range(10):
            pending = [t for t in tasks if not t.done()]
            if not pending:
                break
            for task in pending:
                task.cancel()
            await asyncio.wait(pending, timeout=1.0)
        for task in tasks:
            if task.done() and not task.cancelled():
                task.exception()  # retrieved: no "never retrieved" warning
        for ws in list(self.server.live):
            await ws.close()
        for old in [*self._retired, *([self._session] if self._session else [])]:
            await old.close()
        self._retired.clear()
        if self._listening is not None:
            runner, listener = self._listening
            await sync.stop_server(runner, listener)  # type: ignore[arg-type]

    def session(self) -> aiohttp.ClientSession:
        """One client session, made again when the membership (the pinned list) changes.
        When someone left it (revoked, forked), the old session is closed at once, with
        its connections to that node; when it only grew, rounds still running on the old
        one are let finish first."""
        trust = frozenset(peer_list.trusted_ids(self.node))
        if self._session is None or trust != self._trust:
            if self._session is not None:
                old = self._session
                loop = asyncio.get_running_loop()
                self._retired.append(old)
                grace = 0.0 if self._trust - trust else SESSION_GRACE
                loop.call_later(grace, self._retire_later, old)
            self._session = sync.client_session(
                self.sync, proxy=self.proxy, proxy_all=self.proxy_all
            )
            self._trust = trust
        return self._session

    def _retire_later(self, session: aiohttp.ClientSession) -> None:
        if session in self._retired:
            self._retired.remove(session)
            task = asyncio.get_running_loop().create_task(session.close())
            self._closing.add(task)
            task.add_done_callback(self._closing.discard)

    def poke(self) -> None:
        """Sync with every peer now (the log grew)."""
        for state in self.peers.values():
            state.wake.set()

    # --- the parts ---------------------------------------------------------------

    async def _watch(self) -> None:
        mark = None
        changed = time.monotonic()
        trusted = frozenset(peer_list.trusted_ids(self.node))
        while not self._stopping:
            # The membership, whichever process changed it (an admit or a revoke from
            # the command line): a node no longer trusted is cut off at once.
            now_trusted = frozenset(peer_list.trusted_ids(self.node))
            if now_trusted != trusted:
                trusted = now_trusted
                dropped = await self.server.drop_untrusted(trusted)
                if dropped:
                    log.info("closed %d connections of nodes no longer members", dropped)
                if self._session is not None:
                    self.session()  # a new client session, pinned to today's members
                self.refresh_peers()
            now = self.node.store.log_mark()
            if mark is not None and now != mark:
                changed = time.monotonic()
                await self.server.tell_live()
                self.poke()
                self.refresh_peers()  # the log may name new members' addresses
                await asyncio.sleep(WATCH_GAP)  # a large transfer: not a poke per batch
            elif (
                time.monotonic() - changed > QUIET_BEFORE_CATCH_UP
                and self.node.projector.held_upto() is not None
            ):
                # Items left behind the log by an intake that stopped before they
                # followed (a round cut short by its time limit, a peer's push): they
                # follow once the log has been still a while, not between the batches of
                # an intake still going (which would take its thread's time).
                await catch_up(self.node)
            mark = now
            # Another process's writes (a post) are seen within WATCH_EVERY; what a
            # sync here stored is passed on at once (a relay adds no polling delay).
            await wait_event(self._grew, WATCH_EVERY)
            self._grew.clear()

    async def _refresh(self) -> None:
        while not self._stopping:
            known = peer_list.known_peers(self.node)
            # A peer taken off the list (`peer remove`, from any process) is no longer
            # dialled: its round and live channel end now.
            for url in set(self.peers) - {peer.url for peer in known}:
                gone = self.peers.pop(url)
                for task in gone.tasks:
                    task.cancel()
                await asyncio.wait(gone.tasks, timeout=5.0)
                self.sync.in_step.pop(url, None)
                # a round that ended after the removal wrote its record again
                with contextlib.suppress(CommuneError), self.node.store.write():
                    forget_sync(self.node.store, url)
                log.info("stopped syncing with a peer taken off the list")
            for peer in known:
                if peer.url == self.url or peer.url in self.peers:
                    continue
                state = PeerState(peer.url)
                state.wake.set()  # a first round at once
                state.tasks.append(asyncio.create_task(self._peer_loop(state), name=peer.url))
                state.tasks.append(asyncio.create_task(self._live_loop(state), name=peer.url))
                self.peers[peer.url] = state
            await wait_event(self._refresh_wake, REFRESH_PEERS_EVERY)
            self._refresh_wake.clear()

    def refresh_peers(self) -> None:
        """Look at the known peers again now (one was added or removed)."""
        self._refresh_wake.set()

    def _delay(self, state: PeerState, failed: int | None = None) -> float:
        """Seconds until the next round with a peer: the interval; after ``failed``
        rounds in a row (the peer's own by default), RETRY_FIRST doubled with each, never more
        than the interval (a link that comes back is tried again within one interval);
        all with jitter."""
        spread: float = random.uniform(1 - JITTER, 1 + JITTER)  # noqa: S311
        failed = state.failures if failed is None else failed
        if failed == 0:
            return self.interval * spread
        backoff = RETRY_FIRST * 2.0 ** min(failed - 1, 16)
        return min(self.interval, backoff) * spread

    async def _peer_loop(self, state: PeerState) -> None:
        while not self._stopping:
            if state.failures or state.busy_until > time.monotonic():
                # Backing off (or asked to wait): news does not bring the next try
                # nearer; failures count attempts in time, not pokes. The next try is
                # the one the record shows (status, the web view, /metrics).
                wait = self._delay(state)
                if state.next_try is not None:
                    # never longer than a round's longest wait: a clock set back
                    # must not hold the peer off for as long
                    longest = self.interval * (1 + JITTER)
                    wait = min(state.next_try - self.node.clock(), longest)
                wait = max(wait, state.busy_until - time.monotonic())
                await asyncio.sleep(max(0.0, wait))
            else:
                await wait_event(state.wake, self._delay(state))
            state.wake.clear()
            if self._stopping:
                return
            async with self.limit:
                await self.round(state)

    async def round(self, state: PeerState) -> None:
        try:
            stats = await sync.sync_with(self.sync, self.session(), state.url)
        except sync.PeerBusy as e:
            # Not a failure: the peer asked to come back later (429, Retry-After).
            state.busy_until = time.monotonic() + e.retry_after
            state.last_error = e.message
            return
        except Exception as e:
            failure = failures.of(e)
            state.last_error = failure.sentence
            # logs sync.failed; the record counts the failures in a row (with those of
            # `sync` and `doctor` run beside serve) and keeps when the next try is, so
            # that status, the web view and /metrics show the same numbers
            record = record_sync(
                self.node, state.url, None, failure, retry=lambda n: self._delay(state, n)
            )
            state.failures = int(record["failures"])
            state.next_try = record.get("next_try")
            return
        state.failures = 0
        state.next_try = None
        state.last, state.last_error = stats, ""
        record_sync(self.node, state.url, stats)
        state.last_ok = self.node.clock()
        self.rounds += 1

    async def _live_loop(self, state: PeerState) -> None:
        broken = 0
        while not self._stopping:
            try:
                async with self.session().ws_connect(
                    state.url + sync.PREFIX + "/live", heartbeat=30.0, max_msg_size=1024
                ) as ws:
                    broken = 0
                    async for _ in ws:
                        self.sync.in_step.pop(state.url, None)  # no short hello: it grew
                        state.wake.set()  # the peer's log grew: pull now
            except (aiohttp.ClientError, ConnectionError, OSError, TimeoutError):
                broken += 1
            spread = random.uniform(0.8, 1.2)  # noqa: S311
            await asyncio.sleep(min(MAX_BACKOFF, 2.0 * 2 ** min(broken, 12) * spread))


async def sync_once(
    node: Node,
    keys: NodeKeys,
    urls: list[str] | None = None,
    *,
    progress: bool = False,
    proxy: str | None = None,
    proxy_all: bool = False,
    timeouts: sync.Timeouts | None = None,
) -> list[tuple[str, sync.Stats | None, failures.Failure | None]]:
    """One round with each peer (or the given URLs): (url, stats, None), or (url, None,
    why it failed). Peers are dialled through ``proxy``, within ``timeouts``, as in
    :class:`Daemon`."""
    service = sync.Sync(node, keys, timeouts)
    if progress:
        service.on_progress = _print_progress
    targets = urls if urls is not None else [p.url for p in peer_list.known_peers(node)]
    out: list[tuple[str, sync.Stats | None, failures.Failure | None]] = []
    async with sync.client_session(service, proxy=proxy, proxy_all=proxy_all) as session:
        for url in targets:
            try:
                stats = await sync.sync_with(service, session, url)
            except Exception as e:
                failure = failures.of(e)
                record_sync(node, url, None, failure)
                out.append((url, None, failure))
            else:
                record_sync(node, url, stats)
                out.append((url, stats, None))
    return out


_last_print = [0.0]


def _print_progress(peer: str, received: int) -> None:
    now = time.monotonic()
    if now - _last_print[0] >= 1.0:
        _last_print[0] = now
        print(f"  {peer}: {received} events received so far…", flush=True)
