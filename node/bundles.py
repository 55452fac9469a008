"""`export` and `import`: sneakernet bundles (docs/PROTOCOL.md §9) in files.

Import checks every event exactly as sync does (it goes through ``Node.ingest``), after
two checks that make a damaged bundle change nothing: the trailer checksum (truncation,
alteration) and every event's own validity (signature, encoding).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from node.home import write_private
from node.service import IngestResult, Node, check_many
from protocol import encoding
from protocol.bundle import BundleHeader, BundleReader, Item, write
from protocol.errors import BadBundle, InvalidEvent
from protocol.frontier import Frontier

CHUNK = 2000
READ_SIZE = 1 << 20


def own_frontier(node: Node) -> Frontier:
    """What this node's log holds: per author, the last seq and its id. The whole log
    travels, events past a cutoff too (they are evidence; every node decides the same
    way that they do not count, §5.5)."""
    return Frontier({author: (head.seq, head.id) for author, head in node.store.heads().items()})


def known_frontier(node: Node, peer: bytes) -> Frontier:
    """The last frontier this node learnt of ``peer`` (from its bundle, or a sync)."""
    value = node.store.get_meta(f"frontier:{peer.hex()}")
    return (
        Frontier() if value is None else Frontier.from_value(encoding.decode(bytes.fromhex(value)))
    )


def remember_frontier(node: Node, peer: bytes, frontier: Frontier) -> None:
    with node.store.write():
        node.store.set_meta(f"frontier:{peer.hex()}", encoding.encode(frontier.to_value()).hex())


def export_bundle(node: Node, path: Path, lacking: Frontier | None = None) -> BundleHeader:
    """Write the events of the log ``lacking`` does not have (all, when None), and all
    fork evidence, to ``path``."""
    genesis = node.projector.genesis()
    if genesis is None:
        raise BadBundle("this node belongs to no network yet: there is nothing to export")
    lacking = lacking or Frontier()
    wanted = node.store.rowids_lacking(lacking.lacks)
    forks = [f.raw for f in node.store.forks()]
    header = BundleHeader(
        node.network, genesis.raw, node.node_id, own_frontier(node), len(wanted), len(forks)
    )

    def events() -> Iterator[bytes]:
        for start in range(0, len(wanted), CHUNK):
            yield from node.store.raws_at_rowids(wanted[start : start + CHUNK])

    try:
        write_private(path, write(header, events(), forks))
    except OSError as e:
        raise BadBundle(f"cannot write {path}: {e.strerror}") from None
    return header


def _items(path: Path) -> Iterator[Item]:
    reader = BundleReader()
    try:
        with path.open("rb") as f:
            while chunk := f.read(READ_SIZE):
                yield from reader.feed(chunk)
    except OSError as e:
        raise BadBundle(f"cannot read {path}: {e.strerror}") from None
    reader.finish()


def _event_chunks(path: Path) -> Iterator[list[bytes]]:
    chunk: list[bytes] = []
    for item in _items(path):
        if item.kind in ("event", "fork"):
            chunk.append(item.data)
            if len(chunk) >= CHUNK:
                yield chunk
                chunk = []
    if chunk:
        yield chunk


def import_bundle(node: Node, path: Path) -> tuple[BundleHeader, IngestResult]:
    # 1. The whole file is intact (its checksum) and is for this network.
    header: BundleHeader | None = None
    for item in _items(path):
        if item.header is not None:
            header = item.header
    assert header is not None  # _items raised otherwise
    if node.network != header.network:
        if node.projector.genesis() is None:
            raise BadBundle("this node belongs to no network yet: join it first (`commune join`)")
        raise BadBundle("this bundle is from another network; nothing was imported")
    # 2. Every event is valid on its own; one bad event refuses the whole bundle.
    position = 0
    for chunk in _event_chunks(path):
        for outcome in check_many(chunk):
            position += 1
            if isinstance(outcome, InvalidEvent):
                raise BadBundle(
                    f"event {position} of the bundle is refused ({outcome.code}: "
                    f"{outcome.message}); nothing was imported"
                )
    # 3. Through the one ingest path, in chunks.
    total = IngestResult()
    for result in node.ingest_batches(_event_chunks(path)):
        total.new += result.new
        total.known += result.known
        total.forks += result.forks
        total.uncounted += result.uncounted
        total.held_ids |= result.held_ids
        total.refused.update(result.refused)
        total.errors.extend(result.errors[: max(0, 20 - len(total.errors))])
    # A later chunk may have released what an earlier one held.
    total.held = node.store.still_held(total.held_ids)
    remember_frontier(node, header.exporter, header.frontier)
    return header, total
