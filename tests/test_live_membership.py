"""Membership is live in every process (issue 12, point 1): what the command line
changes while ``serve`` runs in its own process (an admission, a revocation) is
followed by that ``serve`` within about a second: its pinned certificates, its open
connections and live channels, its projections, web view and state hash."""

from __future__ import annotations

import asyncio
import contextlib
import json
from pathlib import Path

import aiohttp
import pytest

from node import daemon, network, sync
from node import peers as peer_list
from node.home import Home
from node.service import Node
from tests.net import Member, close_all, commune_async, free_port, new_member, serve_process
from tests.web_owner import current_address, let_in, owner_jar


async def _cli(home: Path, *args: str) -> str:
    code, out, err = await commune_async(home, *args)
    assert code == 0, f"commune {' '.join(args)}: {err}"
    return out


async def _admit(admin: Path, newcomer: Member) -> None:
    """``commune admit`` in its own process, then the newcomer joins with the invite."""
    card = newcomer.home.identity().card.to_text()
    invite = (await _cli(admin, "admit", card)).strip().splitlines()[-1]
    network.join(newcomer.node, invite)


async def _round(member: Member, url: str) -> sync.Stats:
    service = sync.Sync(member.node, member.keys)
    async with sync.client_session(service) as session:
        return await sync.sync_with(service, session, url)


async def _gets_in(member: Member, url: str, timeout: float = 5.0) -> float:
    """Wait until ``member`` completes a round with ``url`` (each try that fails is a
    refused handshake); the seconds it took."""
    outcome: list[sync.Stats] = []

    async def attempt() -> None:
        with contextlib.suppress(sync.PeerRefused):
            outcome.append(await _round(member, url))

    started = asyncio.get_running_loop().time()
    while not outcome:
        await attempt()
        if not outcome:
            if asyncio.get_running_loop().time() - started > timeout:
                raise AssertionError(f"{member.name} was not let in within {timeout} s")
            await asyncio.sleep(0.05)
    return asyncio.get_running_loop().time() - started


def _titles(out: str) -> set[str]:
    return {row["title"] for row in json.loads(out)}


async def test_admit_and_revoke_from_the_command_line_reach_a_running_serve(
    tmp_path: Path,
) -> None:
    la_home = Home(tmp_path / "la")
    la_home.init("Los Angeles", None)
    with Node.open(la_home) as la:
        network.found(la, la_home.unlock(None), "Red")
    port = free_port()
    server = serve_process(la_home.path, port)
    url = f"https://127.0.0.1:{port}"
    sv, india = new_member(tmp_path, "San Salvador"), new_member(tmp_path, "Mumbai")
    try:
        # Admitted by `commune admit` while serve runs: let in within about a second,
        # with no restart.
        for newcomer in (sv, india):
            await _admit(la_home.path, newcomer)
            peer_list.add_manual(newcomer.node, url)
            took = await _gets_in(newcomer, url)
            assert took < 3.0
        antes = sv.post("antes")
        await _round(sv, url)

        # A live channel and a kept-alive connection of SV's, open when it is revoked.
        service = sync.Sync(sv.node, sv.keys)
        async with sync.client_session(service) as session:
            await sync.sync_with(service, session, url)
            async with session.ws_connect(f"{url}{sync.PREFIX}/live") as ws:
                out = await _cli(la_home.path, "revoke", "San Salvador")
                assert "Revoked San Salvador" in out
                # closed by serve within about a second ("grew" may come first)
                message = await asyncio.wait_for(ws.receive(), timeout=5.0)
                while message.type == aiohttp.WSMsgType.TEXT:
                    message = await asyncio.wait_for(ws.receive(), timeout=5.0)
                assert message.type in (
                    aiohttp.WSMsgType.CLOSE,
                    aiohttp.WSMsgType.CLOSING,
                    aiohttp.WSMsgType.CLOSED,
                )
            # the next request cannot reuse a connection: its handshake is refused
            with pytest.raises(sync.PeerRefused):
                await sync.sync_with(service, session, url)

        # SV posts after its cutoff; Mumbai, which has not heard of the revocation yet,
        # takes it from SV and passes it on to LA's serve, which must not count it.
        sv.post("tarde")
        mumbai_from_sv = sync.Sync(india.node, india.keys)
        sv_server = sync.Server(sync.Sync(sv.node, sv.keys))
        runner, listener = await sync.start_server(sv_server, "127.0.0.1", 0)
        try:
            sv_url = f"https://127.0.0.1:{listener.sockets[0].getsockname()[1]}"
            async with sync.client_session(mumbai_from_sv) as session:
                await sync.sync_with(mumbai_from_sv, session, sv_url)
        finally:
            await sync.stop_server(runner, listener)
        assert "tarde" in {r["title"] for r in india.node.projector.rows("report")}
        await _round(india, url)  # pushes "tarde" to LA, pulls the revocation
        assert "tarde" not in {r["title"] for r in india.node.projector.rows("report")}

        shown = _titles(await _cli(la_home.path, "show", "reports", "--json"))
        assert "antes" in shown
        assert "tarde" not in shown
        # the same state as Mumbai's, without a rebuild
        assert (await _cli(la_home.path, "state-hash")).strip() == (
            india.node.projector.state_hash().hex()
        )
        async with aiohttp.ClientSession(cookie_jar=owner_jar()) as web:
            await let_in(web, server.web_address)  # type: ignore[attr-defined]
            async with web.get(server.web_url + "reports") as page:  # type: ignore[attr-defined]
                html = await page.text()
        assert page.status == 200
        assert "antes" in html
        assert "tarde" not in html
        # and the revoked node is refused for good
        with pytest.raises(sync.PeerRefused):
            await _round(sv, url)
        results = await daemon.sync_once(india.node, india.keys, [url])
        assert results[0][1] is not None  # members still get in

        # A redaction by the command line: serve's web view stops showing the text, and
        # the redaction reaches Mumbai through serve.
        await _cli(la_home.path, "redact", antes.hex())
        async with aiohttp.ClientSession(cookie_jar=owner_jar()) as web:
            await let_in(web, current_address(la_home.path))  # another browser: the file's
            async with web.get(server.web_url + "reports") as page:  # type: ignore[attr-defined]
                assert page.status == 200
                assert "antes" not in await page.text()
        assert (await daemon.sync_once(india.node, india.keys, [url]))[0][1] is not None
        assert "antes" not in {r["title"] for r in india.node.projector.rows("report")}
        assert (await _cli(la_home.path, "state-hash")).strip() == (
            india.node.projector.state_hash().hex()
        )
    finally:
        server.terminate()
        server.wait(10)
        close_all([sv, india])


def test_a_revoked_member_is_cut_off_by_every_process_that_opens_the_store(
    tmp_path: Path,
) -> None:
    """The same log, two store objects (as serve and a command have): what one commits,
    the other's membership, pins and counting follow without being told."""
    home = Home(tmp_path / "la")
    _, keys = home.init("Los Angeles", None)
    sv = new_member(tmp_path, "San Salvador")
    with Node.open(home) as first, Node.open(home) as second:
        network.found(first, keys, "Red")
        network.admit(first, keys, sv.home.identity().card.to_text(), False)
        assert sv.keys.node_id in peer_list.trusted_ids(second)
        network.revoke(first, keys, "San Salvador")
        assert sv.keys.node_id not in peer_list.trusted_ids(second)
        membership = second.membership()
        assert membership is not None
        assert membership.members[sv.keys.node_id].state == "revoked"
    close_all([sv])
