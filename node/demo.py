"""`python -m node.demo`: one node, in a temporary folder, through init, post and show.

(The four-node demo with sync and the web view replaces this once those exist.)
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from node.home import Home
from node.service import Node
from protocol.kinds import POSTABLE

SAMPLE_REPORTS = [
    ("Asamblea de vecinos en Soyapango", "Cuarenta vecinos hablaron del agua y del alquiler."),
    (
        "Tenants' meeting in Boyle Heights",
        "Twelve households agreed to meet the landlord together.",
    ),
    ("मोहल्ला सभा", "हमने पानी और किराये के बारे में बात की।"),
    ("Umhlangano womphakathi eSoweto", "Abantu abangamashumi amabili baxoxe ngamanzi."),
]
SAMPLE_PLANS = [
    {"title": "Print leaflets for Saturday", "owner": "Ana", "due": "2026-12-05"},
    {"title": "Llamar a la cooperativa", "owner": "Luis", "due": "2026-12-10", "status": "doing"},
]


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="commune-demo-") as tmp:
        home = Home(Path(tmp) / "los-angeles")
        print(f"[1/4] Making a node for Los Angeles in {home.path}")
        identity, keys = home.init("Los Angeles", None)
        print(f"      node id {identity.node_id.hex()}")
        with Node.open(home) as node:
            print("[2/4] Posting reports and plans (English, Spanish, Hindi, Zulu)")
            items = [
                ("report", POSTABLE["report"].build({"title": t, "body": b}))
                for t, b in SAMPLE_REPORTS
            ]
            items += [("plan", POSTABLE["plan"].build(p)) for p in SAMPLE_PLANS]
            node.post(keys, items)
            print("[3/4] What the node shows:")
            for row in node.projector.rows("report"):
                print(f"      report: {row['title']}")
            for row in node.projector.rows("plan"):
                who = f"{row['owner']}, due {row['due']}, {row['status']}"
                print(f"      plan:   {row['title']} ({who})")
            faults = node.verify()
            digest = node.projector.state_hash().hex()[:16]
            print(f"[4/4] verify: {faults or 'ok'}; state-hash {digest}…")
    sys.exit(1 if faults else 0)


if __name__ == "__main__":
    main()
