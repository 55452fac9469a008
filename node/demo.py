"""`commune demo`: four local nodes (Los Angeles, El Salvador, India, South Africa) on
loopback ports, in temporary folders, synced in a line, each with its web view.

Los Angeles founds the network and admits the other three through cards and invites,
exactly as collectives do; each posts sample reports, plans and a contact in its own
language; they sync LA — SV — IN — ZA, so what LA writes reaches ZA through the two
others. It runs until Ctrl-C, then stops cleanly and deletes its folders.

The demo's keys have no passphrase: it is a demo, and says so.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import itertools
import signal
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web

from crypto.identity import NodeKeys
from node import network, private
from node import peers as peer_list
from node.daemon import Daemon
from node.home import Home
from node.service import Node
from node.web import address, start_web
from protocol.kinds import POSTABLE

COLLECTIVES = ["Los Angeles", "El Salvador", "India", "South Africa"]

REPORTS = {
    "Los Angeles": [
        (
            "Tenants' meeting in Boyle Heights",
            "Twelve households agreed to meet the landlord together.",
        ),
        (
            "Rent strike: week two",
            "Forty units are withholding rent. The city council hears us on Monday.",
        ),
    ],
    "El Salvador": [
        ("Asamblea de vecinos en Soyapango", "Cuarenta vecinos hablaron del agua y del alquiler."),
        ("Cortes de agua en la colonia", "Tres días sin agua. Llevamos la queja a la alcaldía."),
    ],
    "India": [
        ("मोहल्ला सभा", "हमने पानी और किराये के बारे में बात की।"),
        ("सफ़ाई कर्मचारियों की बैठक", "बीस लोग आए। अगली बैठक शनिवार को होगी।"),
    ],
    "South Africa": [
        ("Umhlangano womphakathi eSoweto", "Abantu abangamashumi amabili baxoxe ngamanzi."),
        ("Ukunqamuka kukagesi", "Sibhalele umasipala incwadi mayelana nogesi."),
    ],
}
PLANS = {
    "Los Angeles": [
        {
            "title": "Print leaflets for Saturday",
            "owner": "Ana",
            "due": "2026-12-05",
            "tags": "housing rent-strike",
        }
    ],
    "El Salvador": [
        {
            "title": "Llamar a la cooperativa",
            "owner": "Luis",
            "due": "2026-12-10",
            "status": "doing",
        }
    ],
    "India": [{"title": "नगर निगम को पत्र", "owner": "Priya", "due": "2026-11-01"}],
    "South Africa": [{"title": "Hlela umhlangano olandelayo", "owner": "Thandiwe"}],
}
#: El Salvador's shifts at the gates of the maquilas, from the Monday of the week the demo
#: starts, with members on the first slots of the first one
SHIFTS = {
    "El Salvador": [
        {
            "title": "Puerta de la maquila, turno de la mañana",
            "place": "Zona franca de San Bartolo",
            "weekdays": "mon,wed,fri",
            "start": "05:30",
            "end": "07:00",
            "zone": "America/El_Salvador",
            "needed": "2",
        },
        {
            "title": "Salida del turno de noche",
            "place": "Zona franca de San Bartolo",
            "weekdays": "tue,thu",
            "start": "21:30",
            "end": "23:00",
            "zone": "America/El_Salvador",
            "every": "2",
            "needed": "3",
        },
    ]
}
SHIFT_TAKERS = ["Luis", "Marta", "Rosa"]
#: Los Angeles' discussion group, every other Thursday from four weeks before the demo
#: starts, with the minutes and attendance of a meeting already held
MEETINGS = {
    "Los Angeles": {
        "title": "Discussion group: Capital, chapter 1",
        "place": "Boyle Heights library, room B",
        "agenda": "Read chapter 1 together\nThe March forum: who speaks",
        "zone": "America/Los_Angeles",
        "repeat": "weekly",
        "every": "2",
    }
}
MEETING_RECORD = {
    "minutes": "We read the first section aloud. Daniel prepares the forum's leaflet.",
    "attended": "Maria\nDaniel\nRosa",
    "guests": "2",
}
#: each collective's contact is followed up: its stage, who follows it up, its next step
#: (due the day the demo starts) and a first note; a second note is an edit
FOLLOW_UP = {
    "Los Angeles": ("attends", "Ana", "Invite her to the March forum", "Came with two neighbours."),
    "El Salvador": ("talked", "Luis", "Llevarlo a la asamblea", "Trabaja en el turno de noche."),
    "India": ("met", "Ravi", "मोहल्ला सभा में बुलाना", "पानी की समस्या पर बात की।"),
    "South Africa": (
        "takes-tasks",
        "Sipho",
        "Ask her to chair",
        "Wrote the letter to the council.",
    ),
}
FOLLOW_UP_NOTE = "Called: she comes on Saturday."
CONTACTS = {
    "Los Angeles": {"name": "Maria Gonzalez", "phone": "+1 213 555 0134", "place": "Boyle Heights"},
    "El Salvador": {"name": "José Martínez", "phone": "+503 7000 0000", "place": "Soyapango"},
    "India": {"name": "Priya Sharma", "phone": "+91 22 5550 1234", "place": "Dharavi"},
    "South Africa": {"name": "Thandiwe Mokoena", "phone": "+27 82 555 0147", "place": "Soweto"},
}


@dataclass
class DemoNode:
    name: str
    home: Home
    node: Node
    keys: NodeKeys
    daemon: Daemon | None = None
    web: web.AppRunner | None = None
    #: the web view's address with its one-time token (node/web/access.py)
    web_url: str = ""


def _commune() -> str:
    """How to run this install's command line from another terminal."""
    here = Path(sys.executable).parent / "commune"
    return str(here) if here.exists() else f"{sys.executable} -m node"


def step(n: int, text: str) -> None:
    print(f"[{n}/6] {text}", flush=True)


def make_nodes(base: Path) -> list[DemoNode]:
    nodes = []
    for name in COLLECTIVES:
        home = Home(base / name.lower().replace(" ", "-"))
        _, keys = home.init(name, None)
        nodes.append(DemoNode(name, home, Node.open(home), keys))
    return nodes


def found_and_admit(nodes: list[DemoNode]) -> None:
    la = nodes[0]
    network.found(la.node, la.keys, "Red de Inquilinos")
    for other in nodes[1:]:
        card = other.home.identity().card.to_text()  # the newcomer sends its card
        _, invite = network.admit(la.node, la.keys, card, False)  # LA sends the invite
        network.join(other.node, invite.to_text())  # it carries the proof of admission
    # Nothing else: each node reaches its neighbour only, and proves its admission to
    # it when that neighbour has not heard of it yet (docs/PROTOCOL.md §6.3).


def post_samples(nodes: list[DemoNode]) -> None:
    for n in nodes:
        items: list[tuple[str, Any]] = [
            ("report", POSTABLE["report"].build({"title": t, "body": b}))
            for t, b in REPORTS[n.name]
        ]
        items += [("plan", POSTABLE["plan"].build(p)) for p in PLANS[n.name]]
        posted = n.node.post(n.keys, items)
        # the first report goes to the paper with the plans it contains
        plans = " ".join(e.id.hex() for e in posted if e.kind == "plan")
        change = {"state": "for-paper", "plans": plans, "tags": "housing"}
        first = {"v": 1, "of": posted[0].id, "after": posted[-1].ts, **change}
        n.node.post(n.keys, [("report.update", first)])
        post_contact(n, datetime.date.today())
        post_shifts(n, datetime.date.today())
        post_meetings(n, datetime.date.today())


def post_contact(n: DemoNode, today: datetime.date) -> None:
    """A collective's contact, sealed to it alone, followed up: due today, with a note
    added by an edit."""
    readers = private.recipients(n.node, n.keys, [])
    stage, follower, step, note = FOLLOW_UP[n.name]
    values = {**CONTACTS[n.name], "stage": stage, "follower": follower, "next": step}
    contact = POSTABLE["contact"].build({**values, "due": today.isoformat(), "history": note})
    made = n.node.post(n.keys, [private.seal_item(n.node, n.keys, "contact", contact, readers)])
    edit = {"v": 1, "of": made[0].id, "after": made[0].ts, "history": FOLLOW_UP_NOTE}
    n.node.post(n.keys, [private.seal_item(n.node, n.keys, "contact.update", edit, readers)])


def post_shifts(n: DemoNode, today: datetime.date) -> None:
    """A collective's shifts from this week's Monday, and a few members on the first
    slots from ``today`` (each slot but one still short of people)."""
    spec = POSTABLE["shift"]
    assert spec.slots is not None
    monday = (today - datetime.timedelta(days=today.weekday())).isoformat()
    shifts = [spec.build({**s, "since": monday}) for s in SHIFTS.get(n.name, [])]
    if not shifts:
        return
    first = n.node.post(n.keys, [("shift", s) for s in shifts])[0].id
    values = {f.name: str(shifts[0].get(f.name, "")) for f in spec.fields}
    days = spec.slots.occurrences(values, today, today + datetime.timedelta(days=13))
    takes = [(days[0].slot, SHIFT_TAKERS[:2]), *((d.slot, SHIFT_TAKERS[2:]) for d in days[1:3])]
    n.node.post(
        n.keys,
        [
            ("shift.take", {"v": 1, "of": first, "date": day, "who": who})
            for day, people in takes
            for who in people
        ],
    )


def post_meetings(n: DemoNode, today: datetime.date) -> None:
    """A collective's meetings: a series begun four weeks before the last Thursday, and
    the minutes and attendance of its meeting two weeks after it began (held by now)."""
    sample = MEETINGS.get(n.name)
    if sample is None:
        return
    spec = POSTABLE["meeting"]
    began = today - datetime.timedelta(days=(today.weekday() - 3) % 7 + 28)
    values = spec.build({**sample, "when": f"{began.isoformat()} 18:30"})
    first = n.node.post(n.keys, [("meeting", values)])[0].id
    held = (began + datetime.timedelta(weeks=2)).isoformat()
    record = spec.build_occurrence(MEETING_RECORD, held)
    n.node.post(n.keys, [("meeting.update", {"v": 1, "of": first, **record})])


async def start(nodes: list[DemoNode]) -> None:
    for n in nodes:
        n.daemon = Daemon(n.node, n.keys, host="127.0.0.1", port=0, interval=30.0)
        await n.daemon.start()
        n.web, _ = await start_web(n.node, n.keys, host="127.0.0.1", port=0, daemon=n.daemon)
        n.web_url = address(n.web)
    for left, right in itertools.pairwise(nodes):  # LA — SV — IN — ZA
        assert left.daemon is not None
        peer_list.add_manual(right.node, left.daemon.url)
        assert right.daemon is not None
        right.daemon.refresh_peers()


async def until_synced(nodes: list[DemoNode], timeout: float = 60.0) -> bool:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if len({n.node.projector.state_hash() for n in nodes}) == 1:
            return True
        await asyncio.sleep(0.1)
    return False


async def stop(nodes: list[DemoNode]) -> None:
    for n in nodes:
        if n.web is not None:
            await n.web.cleanup()
        if n.daemon is not None:
            await n.daemon.stop()
        n.node.close()


async def run(base: Path, *, once: bool = False) -> int:
    step(1, f"Making four nodes in {base}")
    nodes = make_nodes(base)
    try:
        step(2, "Los Angeles founds the network and admits the others (card → invite → join)")
        found_and_admit(nodes)
        step(3, "Each posts reports, plans and a private contact (English, Spanish, Hindi, Zulu)")
        post_samples(nodes)
        step(4, "Starting their sync servers and web views; syncing in a line LA — SV — IN — ZA")
        await start(nodes)
        step(5, "Waiting until all four hold the same state…")
        synced = await until_synced(nodes)
        step(6, "Synced." if synced else "Not synced yet; they keep trying.")
        # Ctrl-C stops the demo cleanly from before the line that says so: pressed as
        # it appears, it must not find Python's default (which skipped the clean stop)
        stopping = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stopping.set)
        print()
        for n in nodes:
            print(f"  {n.name:<13} {n.web_url}")
        print(
            "\nOpen a web view: every node shows all four collectives' reports and plans, but\n"
            "only its own contacts (they are sealed to the collective that wrote them).\n"
            "Each address lets one browser in, once (it keeps a cookie, so the page reloads);\n"
            "for another browser, a node's current address is in its folder's web-address file.\n"
            "Try, in another terminal (the folders are above):\n"
            f"  {_commune()} --home {nodes[3].home.path} \\\n"
            "      post report --title Hola --body 'desde ZA'\n"
            "and watch it appear in Los Angeles' web view within a second or two, relayed by\n"
            "India and El Salvador. Ctrl-C stops the demo and deletes its folders."
        )
        if once:
            return 0 if synced else 1
        await stopping.wait()
        print("\nStopping…", flush=True)
        return 0
    finally:
        await stop(nodes)


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    once = "--once" in args  # set up, check, stop (for tests)
    print("WARNING: the demo's nodes keep their keys without a passphrase: demo only.")
    with tempfile.TemporaryDirectory(prefix="commune-demo-") as tmp:
        code = 1
        with contextlib.suppress(KeyboardInterrupt):
            code = asyncio.run(run(Path(tmp), once=once))
    sys.exit(code)


if __name__ == "__main__":
    main()
