"""Admission travels with the node (issue 12, point 2; docs/PROTOCOL.md §6.3, §10.7): a
new member syncs with any member first, not only its admitter, and is let in before
that member has seen its admission from the admin; a forged or revoked proof is
refused; a stranger gets a closed connection and not a byte."""

from __future__ import annotations

import asyncio
import json
import ssl
import subprocess
from pathlib import Path

import pytest

from crypto import tls
from node import network, sync, transport
from node import peers as peer_list
from node.home import Home
from node.service import Node
from protocol import admission, encoding
from protocol.card import Card
from protocol.envelope import create_event
from protocol.kinds import member
from tests.net import (
    Member,
    close_all,
    commune_async,
    free_port,
    new_member,
    serve_process,
    until,
)

NAMES = ["Los Angeles", "San Salvador", "Mumbai", "Johannesburg"]


async def _cli(home: Path, *args: str) -> str:
    code, out, err = await commune_async(home, *args)
    assert code == 0, f"commune {' '.join(args)}: {err}"
    return out


def _state(home: Path) -> str:
    with Node.open(Home(home)) as node:
        return node.projector.state_hash().hex()


def _titles(home: Path) -> set[str]:
    with Node.open(Home(home)) as node:
        return {r["title"] for r in node.projector.rows("report")}


async def test_four_nodes_in_a_line_joined_by_invites_converge_by_serve_alone(
    tmp_path: Path,
) -> None:
    """LA admits all three; each joins with its invite and is told only its neighbour's
    address (LA ← SV ← IN ← ZA): nobody copies a log by hand, and LA is reached by SV
    alone. Every node converges, running `serve`, in its own process."""
    homes = [tmp_path / n.split()[0].lower() for n in NAMES]
    for home, name in zip(homes, NAMES, strict=True):
        Home(home).init(name, None)
    la = homes[0]
    await _cli(la, "found", "Red")
    for home in homes[1:]:
        card = (await _cli(home, "card")).strip()
        invite = (await _cli(la, "admit", card)).strip().splitlines()[-1]
        await _cli(home, "join", invite)
    ports = [free_port() for _ in homes]
    for home, before in zip(homes[1:], ports, strict=False):
        await _cli(home, "peer", "add", f"https://127.0.0.1:{before}")
    for home, name in zip(homes, NAMES, strict=True):
        await _cli(home, "post", "report", "--title", f"desde {name}", "--body", "…")
    servers: list[subprocess.Popen[str]] = []
    try:
        for home, port in zip(homes, ports, strict=True):
            servers.append(serve_process(home, port))
        expected = {f"desde {name}" for name in NAMES}
        await until(
            lambda: all(_titles(h) == expected for h in homes), timeout=60, what="every report"
        )
        await until(lambda: len({_state(h) for h in homes}) == 1, timeout=30, what="one state")
        # and a new report crosses the whole line by the live channels
        await _cli(homes[3], "post", "report", "--title", "urgente", "--body", "…")
        await until(lambda: "urgente" in _titles(la), timeout=20, what="ZA to LA")
        for home in homes:
            code, _, err = await commune_async(home, "verify")
            assert code == 0, err
    finally:
        for server in servers:
            server.terminate()
            server.wait(10)


def _admitted_offline(tmp_path: Path) -> list[Member]:
    """LA founds the network, admits the three others (with their invites), then is
    never heard of again: the others join with the invites alone."""
    members = [new_member(tmp_path, name) for name in NAMES]
    la = members[0]
    network.found(la.node, la.keys, "Red")
    invites = []
    for m in members[1:]:
        _, invite = network.admit(la.node, la.keys, m.home.identity().card.to_text(), False)
        invites.append(invite.to_text())
    for m, invite in zip(members[1:], invites, strict=True):
        network.join(m.node, invite)
    return members


async def test_with_the_admin_offline_members_let_each_other_in_and_pass_admissions_on(
    tmp_path: Path,
) -> None:
    _, sv, india, za = members = _admitted_offline(tmp_path)
    line = [sv, india, za]
    try:
        # SV's invite was made before IN and ZA were admitted: it knows neither of them
        assert india.keys.node_id not in peer_list.trusted_ids(sv.node)
        for m in line:
            m.post(f"desde {m.name}")
            await m.start()
        peer_list.add_manual(india.node, sv.url)  # IN calls SV, ZA calls IN
        peer_list.add_manual(za.node, india.url)
        for m in line:
            assert m.daemon is not None
            m.daemon.refresh_peers()
        expected = {f"desde {m.name}" for m in line}
        await until(lambda: all(m.titles() == expected for m in line), timeout=30, what="reports")
        # SV let IN in on its proof, and learnt of ZA through IN, which passed ZA's
        # admission on with ZA's events: SV never heard from LA or ZA.
        assert india.keys.node_id in peer_list.trusted_ids(sv.node)
        assert za.keys.node_id in peer_list.trusted_ids(sv.node)
        assert len({m.state() for m in line}) == 1
        for m in line:
            assert m.node.verify() == []
    finally:
        for m in line:
            await m.stop()
        close_all(members)


async def _introduce(member: Member, url: str, proof: list[bytes], node: bytes) -> tuple[int, str]:
    """Post an introduction by hand, with no client certificate."""
    import aiohttp  # noqa: PLC0415

    intro = admission.Introduction(member.node.network, node, tuple(proof))
    context = transport.introduction_context(
        peer_list.trusted_certificates(member.node), tls.server_name(member.node.network)
    )
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{url}{sync.PREFIX}/introduce", data=intro.encode(), ssl=context) as r,
    ):
        return r.status, await r.text()


async def test_a_forged_or_revoked_proof_lets_nobody_in(tmp_path: Path) -> None:
    la, sv, india, za = members = _admitted_offline(tmp_path)
    stranger = new_member(tmp_path, "Stranger")
    try:
        await india.start()
        # SV is no admin: an admission it signs for a stranger proves nothing
        sv.post("hola")
        head = sv.node.store.head(sv.keys.node_id)
        assert head is not None
        action = member.Admit(
            stranger.keys.node_id, "Stranger", stranger.keys.sealing_public, False, bytes(64)
        )
        forged = create_event(
            sv.keys.signing,
            network=sv.node.network,
            seq=head.seq + 1,
            prev=head.id,
            ts=head.ts + 1,
            kind=member.ADMIT,
            body=encoding.encode(member.action_payload(action)),
        )
        status, text = await _introduce(za, india.url, [forged.raw], stranger.keys.node_id)
        assert status == 403
        assert "does not show this node admitted" in text
        assert stranger.keys.node_id not in peer_list.trusted_ids(india.node)
        # LA revokes ZA; IN hears of it; ZA's old proof is refused from then on
        network.revoke(la.node, la.keys, "Johannesburg")
        india.node.ingest([e.raw for e in la.node.store.events()])
        status, text = await _introduce(za, india.url, [], za.keys.node_id)
        assert status == 403
        proof = za.node.projector.proof_for(za.keys.node_id)
        assert proof
        status, text = await _introduce(za, india.url, [e.raw for e in proof], za.keys.node_id)
        assert status == 403
        assert "revoked" in text
        service = sync.Sync(za.node, za.keys)
        async with sync.client_session(service) as session:
            with pytest.raises(sync.PeerRefused, match="revoked"):
                await sync.sync_with(service, session, india.url)
        assert za.keys.node_id not in peer_list.trusted_ids(india.node)
    finally:
        await india.stop()
        close_all([*members, stranger])


async def _raw_tls(port: int, request: bytes, name: str) -> bytes:
    """A TLS 1.3 connection with no client certificate that names the network (as
    someone who holds an invite can): what the server says to ``request``."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    reader, writer = await asyncio.open_connection(
        "127.0.0.1", port, ssl=context, server_hostname=name
    )
    writer.write(request)
    await writer.drain()
    try:
        return await asyncio.wait_for(reader.read(4096), 10)
    except (ConnectionError, ssl.SSLError):
        return b""
    finally:
        writer.close()


async def test_a_stranger_without_a_certificate_gets_a_closed_connection(tmp_path: Path) -> None:
    (la,) = members = [new_member(tmp_path, "Los Angeles")]
    network.found(la.node, la.keys, "Red")
    try:
        await la.start()
        port = int(la.url.rsplit(":", 1)[1])
        for request in (
            b"GET /commune/v1/live HTTP/1.1\r\nHost: x\r\n\r\n",
            b"POST /commune/v1/sync HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc",
            b"POST /commune/v1/introduce HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello",
            b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
        ):
            assert await _raw_tls(port, request, tls.server_name(la.node.network)) == b"", request
        assert la.node.store.count() == 1  # nothing stored
    finally:
        await la.stop()
        close_all(members)


async def test_cards_and_invites_carry_advertised_addresses(tmp_path: Path) -> None:
    la_home, sv_home = tmp_path / "la", tmp_path / "sv"
    Home(la_home).init("Los Angeles", None)
    Home(sv_home).init("San Salvador", None)
    await _cli(la_home, "found", "Red")
    port = free_port()
    url = f"https://127.0.0.1:{port}"
    server = serve_process(la_home, port, advertise=url)
    try:
        assert Card.from_text(await _cli(la_home, "card")).addresses == (url,)
        card = (await _cli(sv_home, "card")).strip()
        code, out, err = await commune_async(la_home, "admit", card)
        assert code == 0, err
        assert "No member has published an address" not in err
        out = await _cli(sv_home, "join", out.strip().splitlines()[-1])
        peers = json.loads(await _cli(sv_home, "peer", "list", "--json"))
        assert url in {p["url"] for p in peers}
        # no `peer add`: SV syncs with LA at once
        await _cli(sv_home, "sync")
        assert _state(sv_home) == _state(la_home)
    finally:
        server.terminate()
        server.wait(10)
