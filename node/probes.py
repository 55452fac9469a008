"""``commune doctor``'s checks that need the network: a real sync round with each known
peer, and each peer's clock (by the HTTP Date of its answer). aiohttp is imported only
here, and only when doctor runs them."""

from __future__ import annotations

import asyncio
import email.utils
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from crypto.identity import NodeKeys
from node import failures, records
from node.failures import Failure
from node.service import Node
from protocol import hlc

if TYPE_CHECKING:
    from aiohttp import ClientSession

    from node.sync import Stats

from node.checks import FAIL, OK, SKIP, WARN, Check
from node.words import ago, plural, span

#: clock differences with a peer: up to a minute is fine; beyond a day, other nodes
#: mark this node's events as suspect and its clock cannot follow theirs
SKEW_WARN = 60.0
SKEW_FAIL = hlc.MAX_AHEAD_MS / 1000


@dataclass
class Probe:
    url: str
    name: str
    stats: Stats | None
    error: str
    #: this machine's clock minus the peer's, in seconds (None: not measured)
    skew: float | None = None


@dataclass(frozen=True)
class Dial:
    """How ``doctor`` reaches its peers: as ``serve`` would (its settings file's proxy)."""

    timeout: float
    proxy: str | None = None
    proxy_all: bool = False


def probe_all(node: Node, keys: NodeKeys, targets: dict[str, str], dial: Dial) -> list[Probe]:
    """Each peer of ``targets`` (its address: its name, or "") probed, all at once."""
    return asyncio.run(_probe_all(node, keys, targets, dial))


async def _probe_all(
    node: Node, keys: NodeKeys, targets: dict[str, str], dial: Dial
) -> list[Probe]:
    probes = (_probe(node, keys, url, name, dial) for url, name in targets.items())
    return list(await asyncio.gather(*probes))


async def _probe(node: Node, keys: NodeKeys, url: str, name: str, dial: Dial) -> Probe:
    """A sync round with the peer at ``url`` (recorded as ``sync`` records its rounds),
    then its time, each within ``dial.timeout``."""
    import aiohttp  # noqa: PLC0415 - aiohttp only where needed

    from node import sync  # noqa: PLC0415

    service = sync.Sync(node, keys)
    async with sync.client_session(service, proxy=dial.proxy, proxy_all=dial.proxy_all) as session:
        failure: Failure | None = None
        try:
            async with asyncio.timeout(dial.timeout):
                stats: Stats | None = await sync.sync_with(service, session, url)
        except TimeoutError:
            stats = None
            failure = Failure("unreachable", f"no answer within {dial.timeout:g} s")
        except Exception as e:  # as the scheduler: any failure is this peer's line
            stats, failure = None, failures.of(e)
        records.record_sync(node, url, stats, failure or "")
        probe = Probe(url, name, stats, failure.sentence if failure is not None else "")
        if stats is not None:
            try:
                async with asyncio.timeout(dial.timeout):
                    probe.skew = await _clock_skew(session, url)
            except (TimeoutError, OSError, ValueError, aiohttp.ClientError):
                probe.skew = None  # the time is not known, that is all
    return probe


async def _clock_skew(session: ClientSession, url: str) -> float | None:
    """This machine's clock minus the peer's, from the HTTP Date header of its answer to
    a HEAD request on the sync route (it answers 405: a member may ask; nothing is sent
    or penalised). The header counts whole seconds: good to about a second plus half the
    round trip."""
    from node import sync  # noqa: PLC0415

    before = time.time()
    async with session.head(url.rstrip("/") + sync.PREFIX + "/sync") as response:
        after = time.time()
        date = response.headers.get("Date")
    if not date:
        return None
    theirs = email.utils.parsedate_to_datetime(date).timestamp() + 0.5
    return (before + after) / 2 - theirs


def _peer_checks(probes: list[Probe]) -> list[Check]:
    out = []
    for p in probes:
        who = f"{p.url} ({p.name})" if p.name else p.url
        if p.stats is not None:
            out.append(Check("peer", OK, f"{who} answered and synced: {p.stats.summary()}"))
        else:
            out.append(
                Check(
                    "peer",
                    WARN,
                    f"{who} did not sync: {p.error}",
                    "what the sentence says; `commune sync --verbose` shows the error itself",
                )
            )
    if probes and all(p.stats is None for p in probes):
        out.append(
            Check(
                "peers",
                FAIL,
                f"none of the {len(probes)} peers could be reached: this node cannot sync",
                "check this machine's network; ask the other collectives whether their "
                "nodes run and at which address",
            )
        )
    return out


def _clock_check(probes: list[Probe], node: Node, now: float) -> Check:
    measured = [p for p in probes if p.skew is not None]
    if measured:
        worst = max(measured, key=lambda p: abs(p.skew or 0.0))
        skew = worst.skew or 0.0
        who = worst.name or worst.url
        direction = "ahead of" if skew > 0 else "behind"
        compared = f"asked {plural(len(measured), 'peer')} for the time, by HTTP Date"
        if abs(skew) < 2:
            detail = (
                f"this machine's clock agrees with its peers' within about a second ({compared})"
            )
        else:
            detail = (
                f"this machine's clock is {span(skew)} {direction} {who}'s "
                f"(the largest difference; {compared})"
            )
        if abs(skew) > SKEW_FAIL:
            return Check(
                "clock",
                FAIL,
                detail + "; other nodes mark its events as suspect",
                "set this machine's time (turn on NTP: `timedatectl set-ntp true`)",
            )
        if abs(skew) > SKEW_WARN:
            return Check(
                "clock",
                WARN,
                detail + "; event times and the order of edits will be off",
                "set this machine's time (turn on NTP: `timedatectl set-ntp true`)",
            )
        return Check("clock", OK, detail)
    # No peer answered: the newest event of another author says something, not much.
    others = [h.ts for a, h in node.store.heads().items() if a != node.node_id]
    if not others:
        return Check("clock", SKIP, "no peer answered and no other author's event to compare with")
    newest = hlc.millis(max(others)) / 1000
    ahead = newest - now
    if ahead > SKEW_WARN:
        return Check(
            "clock",
            WARN,
            f"no peer answered; the newest event of another author is dated {span(ahead)} "
            "after this machine's time: this clock may be behind (or that author's ahead)",
            "check this machine's time (NTP: `timedatectl set-ntp true`)",
        )
    return Check(
        "clock",
        SKIP,
        f"no peer answered to compare clocks with (the newest event of another author is "
        f"dated {ago(now - newest)}, which says nothing about this clock)",
    )
