"""atheris: sneakernet bundles through the node's import path (node/bundles.py) into a
real node. Two kinds of input, by the first byte:

- even: the bytes are the bundle file as is (magic, frames, checksum);
- odd: the rest is cut into frames and written as a bundle with a correct checksum, so
  the fuzzer reaches the header and the events rather than the checksum.

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
    from protocol import bundle
    from protocol.errors import BadBundle

from tests.net import make_network

progress = _common.Progress("bundle")
WORK = Path(tempfile.mkdtemp(prefix="fuzz-bundle-"))
LA, SV = make_network(WORK, ["Los Angeles", "San Salvador"])
for i in range(4):
    SV.node.post(SV.keys, [("report", {"v": 1, "title": f"report {i}", "body": "x" * i})])
WHOLE = WORK / "whole.commune"
export_bundle(SV.node, WHOLE)
VALID = {e.id for e in SV.node.store.events()} | {e.id for e in LA.node.store.events()}
HEADER = next(iter(bundle.BundleReader().feed(WHOLE.read_bytes()))).header
PATH = WORK / "input.commune"
RECEIVER = LA.node


def seeds() -> list[bytes]:
    whole = WHOLE.read_bytes()
    reader = bundle.BundleReader()
    items = reader.feed(whole)
    events = [i.data for i in items if i.kind in ("event", "fork")]
    frames = b"".join(len(e).to_bytes(2, "big") + e for e in events)
    return [b"\x00" + whole, b"\x01" + frames, b"\x01" + frames[: len(frames) // 2]]


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
    body = data[1:] if data[0] % 2 == 0 else rebuilt(data[1:])
    PATH.write_bytes(body)
    try:
        import_bundle(RECEIVER, PATH)
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
