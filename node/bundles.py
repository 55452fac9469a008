"""`export` and `import`: sneakernet bundles (docs/PROTOCOL.md §9) in files.

A bundle is sealed (§9.4) to the network's current members, or to the members named,
and always to this node: the file is encrypted straight into the temporary file that
``write_private`` renames into place, in chunks, so no plaintext of it touches the disk
and memory does not grow with it. Import opens it with this node's sealing key, chunk
by chunk, on each of its passes over the file.

Import checks every event exactly as sync does (it goes through ``Node.ingest``), after
two checks that make a damaged bundle change nothing: the whole file opens and its
trailer checksum matches (truncation, alteration), and every event is valid on its own
(signature, encoding). A plain bundle, as older versions wrote, is still read.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from crypto.identity import NodeKeys
from crypto.seal import SealingSecret
from node import network, private
from node.errors import CannotAddress
from node.home import write_private
from node.service import IngestResult, Node, check_many
from protocol import encoding, sealedbundle
from protocol.bundle import BundleHeader, Item, write
from protocol.errors import BadBundle, DamagedBundle, InvalidEvent, NotSealedToThisNode
from protocol.frontier import Frontier
from protocol.kinds import member as member_kinds
from protocol.membership import Member

#: Events are ingested in batches of at most CHUNK events and CHUNK_BYTES bytes (a batch
#: is held in memory, and the next one is checked while it is stored).
CHUNK = 2000
CHUNK_BYTES = 1 << 20
#: Export reads the log this many events at a time (at most 64 KiB each).
EXPORT_BATCH = 100
READ_SIZE = 256 << 10


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


@dataclass(frozen=True, slots=True)
class Sealing:
    """Whom a bundle is sealed to: node id → public key in ``suite``, with their names,
    and what the user should know (members left out, a suite weaker than the network's)."""

    suite: str
    recipients: dict[bytes, bytes]
    names: dict[bytes, str]
    warnings: list[str] = field(default_factory=list)


def _label(member: Member) -> str:
    return f"{member.name} ({member.node_id.hex()[:12]}…)"


def sealing_for(node: Node, keys: NodeKeys, to: Sequence[str] = ()) -> Sealing:
    """This node and the members named in ``to`` (node id, id prefix or name), or, when
    ``to`` is empty, this node and every current member (admitted: not revoked, not
    forked); a named member that is not current is refused.

    The suite is the network's (§11.2). In a post-quantum network a member is sealed to
    with the hybrid key it published; one whose key has not reached this node is left
    out, with a warning, since no bundle is sealed with a weaker suite unasked. Naming
    such a member in ``to`` is asking: the whole bundle is then sealed with the classic
    suite, with a warning (how a new member and the network exchange their first
    bundles when they meet only by sneakernet)."""
    membership = node.membership()
    if membership is None or node.projector.genesis() is None:
        raise BadBundle("this node belongs to no network yet: there is nothing to export")
    if to:
        chosen = [network.resolve(membership, text) for text in to]
    else:
        chosen = [m for m in membership.members.values() if m.state == "admitted"]
    chosen = [m for m in chosen if m.node_id != keys.node_id]
    for member in chosen:
        if member.state != "admitted":
            raise CannotAddress(
                f"{_label(member)} is {member.state}: bundles are never sealed to it"
            )
    suite = private.suite(node)
    warnings: list[str] = []
    published = {} if suite == member_kinds.CLASSIC_SUITE else private.pq_keys(node)
    unpublished = [
        m for m in chosen if suite != member_kinds.CLASSIC_SUITE and m.node_id not in published
    ]
    if unpublished and to:
        suite = member_kinds.CLASSIC_SUITE
        warnings.append(
            f"{', '.join(_label(m) for m in unpublished)} ha"
            f"{'s' if len(unpublished) == 1 else 've'} no post-quantum sealing key that this "
            "node knows of, so this bundle is sealed with X25519 alone, not post-quantum: "
            "a quantum computer could one day open it. Once a bundle or sync from "
            f"{'it' if len(unpublished) == 1 else 'them'} brings the key here, bundles are "
            "post-quantum again"
        )
    elif unpublished:
        for member in unpublished:
            warnings.append(
                f"left out {_label(member)}: no post-quantum sealing key of it has reached "
                "this node yet, so it cannot open this bundle (`export --to` it seals one "
                "for it with X25519 alone)"
            )
        gone = {m.node_id for m in unpublished}
        chosen = [m for m in chosen if m.node_id not in gone]
    classic = suite == member_kinds.CLASSIC_SUITE
    recipients = {keys.node_id: keys.sealing_public if classic else keys.pq_sealing_public}
    names = {keys.node_id: "this node"}
    for member in chosen:
        recipients[member.node_id] = member.sealing_key if classic else published[member.node_id]
        names[member.node_id] = member.name
    if len(recipients) > sealedbundle.MAX_RECIPIENTS:
        raise CannotAddress(
            f"a bundle is sealed to at most {sealedbundle.MAX_RECIPIENTS} nodes, and this "
            f"one would be for {len(recipients)}: name those it is for with --to"
        )
    return Sealing(suite, recipients, names, warnings)


def export_bundle(
    node: Node, path: Path, lacking: Frontier | None = None, *, sealing: Sealing | None
) -> BundleHeader:
    """Write the events of the log ``lacking`` does not have (all, when None), and all
    fork evidence, to ``path``: sealed with ``sealing`` (§9.4), or plain (§9.1) when it
    is None, as only tests and older versions write."""
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
        for start in range(0, len(wanted), EXPORT_BATCH):
            yield from node.store.raws_at_rowids(wanted[start : start + EXPORT_BATCH])

    pieces = write(header, events(), forks)
    if sealing is not None:
        pieces = sealedbundle.seal(pieces, suite=sealing.suite, recipients=sealing.recipients)
    try:
        write_private(path, pieces)
    except OSError as e:
        raise BadBundle(f"cannot write {path}: {e.strerror}") from None
    return header


@dataclass(frozen=True, slots=True)
class Imported:
    """What an import read and did."""

    header: BundleHeader
    result: IngestResult
    #: False for a plain bundle, as older versions wrote
    sealed: bool
    #: how many nodes a sealed bundle is for (0 for a plain one)
    recipients: int


def _items(
    f: BinaryIO, path: Path, node: Node, reader: sealedbundle.BundleFileReader
) -> Iterator[Item]:
    """One pass over the whole file, from its start, opened when sealed."""
    try:
        f.seek(0)
        while chunk := f.read(READ_SIZE):
            yield from reader.feed(chunk)
        yield from reader.finish()
    except OSError as e:
        raise BadBundle(f"cannot read {path}: {e.strerror}") from None
    except NotSealedToThisNode as e:
        raise NotSealedToThisNode(
            f"{e.message}: ask its sender to `commune export --to {node.node_id.hex()}`"
        ) from None


def _pass(f: BinaryIO, path: Path, node: Node, secret: SealingSecret | None) -> Iterator[Item]:
    return _items(f, path, node, sealedbundle.BundleFileReader(secret))


def _event_chunks(items: Iterator[Item]) -> Iterator[list[bytes]]:
    chunk: list[bytes] = []
    size = 0
    for item in items:
        if item.kind in ("event", "fork"):
            chunk.append(item.data)
            size += len(item.data)
            if len(chunk) >= CHUNK or size >= CHUNK_BYTES:
                yield chunk
                chunk, size = [], 0
    if chunk:
        yield chunk


def _first_pass(
    f: BinaryIO, path: Path, node: Node, secret: SealingSecret | None
) -> tuple[BundleHeader, bool, int]:
    """The whole file read once: the bundle's header, whether it was sealed, and to how
    many nodes."""
    reader = sealedbundle.BundleFileReader(secret)
    header: BundleHeader | None = None
    try:
        for item in _items(f, path, node, reader):
            header = item.header or header
    except DamagedBundle as e:
        raise DamagedBundle(f"{e.message}; nothing was imported") from None
    assert header is not None  # the reader raised otherwise
    outer = reader.header
    return header, bool(reader.sealed), 0 if outer is None else outer.recipients


def import_bundle(node: Node, path: Path, keys: NodeKeys | None = None) -> Imported:
    """Take in the bundle at ``path``; a sealed one opens with ``keys``."""
    secret = None if keys is None else keys.sealing_secret()
    try:
        f = path.open("rb")
    except OSError as e:
        raise BadBundle(f"cannot read {path}: {e.strerror}") from None
    with f:
        return _import(node, f, path, secret)


def _import(node: Node, f: BinaryIO, path: Path, secret: SealingSecret | None) -> Imported:
    # 1. The whole file opens and is intact (its checksum), and is for this network.
    header, sealed, recipients = _first_pass(f, path, node, secret)
    if node.network != header.network:
        if node.projector.genesis() is None:
            raise BadBundle("this node belongs to no network yet: join it first (`commune join`)")
        raise BadBundle("this bundle is from another network; nothing was imported")
    # 2. Every event is valid on its own; one bad event refuses the whole bundle.
    position = 0
    for chunk in _event_chunks(_pass(f, path, node, secret)):
        for outcome in check_many(chunk):
            position += 1
            if isinstance(outcome, InvalidEvent):
                raise BadBundle(
                    f"event {position} of the bundle is refused ({outcome.code}: "
                    f"{outcome.message}); nothing was imported"
                )
    # 3. Through the one ingest path, in chunks.
    total = IngestResult()
    for result in node.ingest_batches(_event_chunks(_pass(f, path, node, secret))):
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
    return Imported(header, total, sealed, recipients)
