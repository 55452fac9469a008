"""atheris: sneakernet bundles through the node's import path (node/bundles.py) into a
real node. Two kinds of input, by the first byte:

- 0 mod 3: the bytes are the bundle file as is (plain or sealed: magic, frames, checksum);
- 1 mod 3: the rest is cut into frames and written as a plain bundle with a correct
  checksum, so the fuzzer reaches the header and the events rather than the checksum;
- 2 mod 3: the same, then sealed to the receiver (§9.4), so the fuzzer reaches inside a
  sealed bundle too.

Anything but BadBundle is a crash. Every few seconds: ``verify`` passes and every stored
event is one of the seeds' valid events (nothing invalid was stored).

    .venv/bin/python tests/fuzz/fuzz_bundle.py -max_total_time=300 /tmp/corpus-bundle
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import _common
import atheris

with atheris.instrument_imports(include=["protocol", "node.bundles", "node.service"]):
    from node.bundles import export_bundle, import_bundle
    from protocol import bundle, sealedbundle
    from protocol.errors import BadBundle

from tests.net import make_network

progress = _common.Progress("bundle")
WORK = Path(tempfile.mkdtemp(prefix="fuzz-bundle-"))
LA, SV = make_network(WORK, ["Los Angeles", "San Salvador"])
for i in range(4):
    SV.node.post(SV.keys, [("report", {"v": 1, "title": f"report {i}", "body": "x" * i})])
WHOLE = WORK / "whole.commune"
export_bundle(SV.node, WHOLE, sealing=None)  # plain: the seeds are read from it
VALID = {e.id for e in SV.node.store.events()} | {e.id for e in LA.node.store.events()}
HEADER = next(iter(bundle.BundleReader().feed(WHOLE.read_bytes()))).header
PATH = WORK / "input.commune"
RECEIVER = LA.node
TO_RECEIVER = {LA.keys.node_id: LA.keys.sealing_public}


def seeds() -> list[bytes]:
    whole = WHOLE.read_bytes()
    reader = bundle.BundleReader()
    items = reader.feed(whole)
    events = [i.data for i in items if i.kind in ("event", "fork")]
    frames = b"".join(len(e).to_bytes(2, "big") + e for e in events)
    return [
        b"\x00" + whole,
        b"\x01" + frames,
        b"\x01" + frames[: len(frames) // 2],
        b"\x02" + frames,
        b"\x00" + sealed(whole),
    ]


def sealed(plain: bytes) -> bytes:
    return b"".join(sealedbundle.seal([plain], suite="x25519", recipients=TO_RECEIVER))


def rebuilt(data: bytes) -> bytes:
    """Frames (2-byte length, then bytes) written as a bundle with the real header's
    network and a correct checksum."""
    events: list[bytes] = []
    while len(data) >= 2:
        size = int.from_bytes(data[:2], "big")
        events.append(data[2 : 2 + size])
        data = data[2 + size :]
    assert HEADER is not None
    header = bundle.BundleHeader(
        HEADER.network, HEADER.genesis, HEADER.exporter, HEADER.frontier, len(events), 0
    )
    return b"".join(bundle.write(header, events, []))


def test_one_input(data: bytes) -> None:
    if not data:
        return
    way = data[0] % 3
    body = data[1:] if way == 0 else rebuilt(data[1:])
    PATH.write_bytes(sealed(body) if way == 2 else body)
    try:
        import_bundle(RECEIVER, PATH, LA.keys)
    except BadBundle as e:
        if not e.message:
            raise AssertionError("a refusal without a message") from e
    if progress.tick():
        check()


def check() -> None:
    faults = RECEIVER.verify()
    if faults:
        raise AssertionError(f"verify fails after an import: {faults[0]}")
    stored = {e.id for e in RECEIVER.store.events()}
    if not stored <= VALID:
        raise AssertionError(f"{len(stored - VALID)} events stored that were never valid")
    progress.figures["stored"] = len(stored)


if __name__ == "__main__":
    _common.seed(sys.argv, seeds())
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()
