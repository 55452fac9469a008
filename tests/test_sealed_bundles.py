"""Sealed bundles (docs/PROTOCOL.md §9.4): the STREAM chunks (crypto/sealedfile.py), the
file's layout and its reader (protocol/sealedbundle.py), with every kind of damage,
bounded memory, and random bytes. The command line's side is in
tests/test_sealed_bundles_cli.py."""

from __future__ import annotations

import hashlib
import itertools
import os
import random
import tracemalloc
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crypto import seal as sealing
from crypto import sealedfile
from crypto.errors import BoxFailed
from crypto.seal import SealingSecret
from protocol import bundle, encoding, sealedbundle, signed
from protocol.errors import BadBundle, DamagedBundle, NotSealedToThisNode
from protocol.frontier import Frontier
from tests.helpers import feed, fixed_key

CHUNK = sealedfile.CHUNK_SIZE
TAG = sealedfile.TAG_SIZE
ME = SealingSecret.from_secret(bytes(range(32)))
OTHER = SealingSecret.from_secret(bytes(range(32, 64)))
STRANGER = SealingSecret.from_secret(bytes(range(64, 96)))
KEY = fixed_key(21)


def to(*secrets: SealingSecret, suite: str = sealing.X25519) -> dict[bytes, bytes]:
    return {bytes([i]) * 32: s.public(suite) for i, s in enumerate(secrets)}


def plain_bundle(events: int = 3, body: int = 10) -> bytes:
    """A plain bundle (§9.1) of ``events`` events, each with about ``body`` bytes."""
    chain = feed(KEY, events, title="x" * body)
    header = bundle.BundleHeader(bytes(32), chain[0].raw, KEY.public, Frontier(), events, 0)
    return b"".join(bundle.write(header, [e.raw for e in chain], []))


def sealed(
    plain: bytes, *, recipients: dict[bytes, bytes] | None = None, suite: str = sealing.X25519
) -> bytes:
    recipients = recipients or to(ME, OTHER, suite=suite)
    return b"".join(sealedbundle.seal([plain], suite=suite, recipients=recipients))


def read(data: bytes, secret: SealingSecret | None = ME, piece: int = 1 << 20) -> list[bundle.Item]:
    reader = sealedbundle.BundleFileReader(secret)
    items: list[bundle.Item] = []
    for start in range(0, len(data), piece):
        items.extend(reader.feed(data[start : start + piece]))
    items.extend(reader.finish())
    return items


def opened(data: bytes, secret: SealingSecret = ME) -> bytes:
    reader = sealedbundle.SealedBundleReader(secret)
    return reader.feed(data) + reader.finish()


def layout(data: bytes) -> tuple[int, list[tuple[int, int]]]:
    """Where the chunks start, and each chunk's (start, end)."""
    size = {0xC4: 1, 0xC5: 2, 0xC6: 4}[data[16]]
    length = int.from_bytes(data[17 : 17 + size], "big")
    start = 16 + 1 + size + length + 32
    chunks = [(s, min(s + CHUNK + TAG, len(data))) for s in range(start, len(data), CHUNK + TAG)]
    return start, chunks


# --- the STREAM chunks -------------------------------------------------------------


@pytest.mark.parametrize("size", [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK, 3 * CHUNK + 5])
def test_the_stream_round_trips_in_pieces_of_any_size(size: int) -> None:
    key = os.urandom(32)
    plain = os.urandom(size)
    rng = random.Random(size)
    sealer = sealedfile.StreamSealer(key)
    out = bytearray()
    position = 0
    while position < size:
        step = rng.choice([1, 7, 1000, CHUNK, 2 * CHUNK + 3])
        out += sealer.update(plain[position : position + step])
        position += step
    out += sealer.finish()
    assert len(out) == sealedfile.sealed_size(size)
    opener = sealedfile.StreamOpener(key)
    back = bytearray()
    for start in range(0, len(out), 4099):
        back += opener.feed(bytes(out[start : start + 4099]))
    back += opener.finish()
    assert back == plain


def test_the_nonces_are_the_counter_and_the_last_flag() -> None:
    assert sealedfile.chunk_nonce(0, False) == bytes(12)
    assert sealedfile.chunk_nonce(1, True) == bytes(10) + b"\x01\x01"
    assert sealedfile.chunk_nonce(258, False) == bytes(9) + b"\x01\x02\x00"
    # A chunk as another implementation makes it: ChaCha20-Poly1305 with that nonce.
    from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305  # noqa: PLC0415

    key = bytes(range(32))
    sealer = sealedfile.StreamSealer(key)
    assert sealer.update(b"hello") == b""
    assert sealer.finish() == ChaCha20Poly1305(key).encrypt(bytes(11) + b"\x01", b"hello", None)


def _open_stream(key: bytes, data: bytes) -> bytes:
    opener = sealedfile.StreamOpener(key)
    return opener.feed(data) + opener.finish()


def test_a_stream_cut_at_a_chunk_boundary_or_with_a_chunk_moved_does_not_open() -> None:
    key = os.urandom(32)
    sealer = sealedfile.StreamSealer(key)
    out = sealer.update(os.urandom(3 * CHUNK + 10)) + sealer.finish()
    chunks = [out[i : i + CHUNK + TAG] for i in range(0, len(out), CHUNK + TAG)]
    assert len(chunks) == 4
    variants = {
        "cut after a chunk": b"".join(chunks[:3]),
        "cut after two": b"".join(chunks[:2]),
        "no last chunk and an empty one": b"".join(chunks[:3]) + b"",
        "a chunk dropped": b"".join([chunks[0], chunks[2], chunks[3]]),
        "two swapped": b"".join([chunks[1], chunks[0], chunks[2], chunks[3]]),
        "a chunk twice": b"".join([chunks[0], chunks[0], chunks[1], chunks[2], chunks[3]]),
        "bytes after the end": out + b"\x00",
        "a copy of the last after it": out + chunks[3],
        "cut inside the last": out[:-1],
        "only a tag": out[:TAG],
    }
    for data in variants.values():
        with pytest.raises(BoxFailed):
            _open_stream(key, data)


# --- the sealed bundle ---------------------------------------------------------------


def test_a_sealed_bundle_opens_for_each_recipient_and_reads_as_the_plain_one() -> None:
    plain = plain_bundle(5)
    data = sealed(plain)
    assert data.startswith(sealedbundle.SEALED_MAGIC)
    assert opened(data, ME) == opened(data, OTHER) == plain
    items = read(data)
    assert items == read(plain, None)
    assert [i.kind for i in items] == ["header", *["event"] * 5, "end"]


def test_its_header_is_the_documented_one() -> None:
    """§9.4 byte for byte, with a fixed file key and salt: another implementation can
    follow the spec to these bytes (HPKE's own randomness aside)."""
    plain = plain_bundle(2)
    file_key, salt = bytes(range(100, 132)), bytes(range(16))
    data = b"".join(
        sealedbundle.seal(
            [plain], suite=sealing.X25519, recipients=to(ME), file_key=file_key, salt=salt
        )
    )
    start, chunks = layout(data)
    header_frame = data[16 : start - 32]
    value = encoding.decode(encoding.decode(header_frame))
    assert sorted(value) == ["keys", "salt", "suite", "v"]
    assert (value["v"], value["suite"], value["salt"]) == (1, "x25519", salt)
    (wrapped,) = value["keys"]
    assert len(wrapped) == 32 + 32 + 16
    assert sealing.open_key("x25519", wrapped, ME, b"commune/v1/sealed-bundle-key\x00") == file_key
    digest = hashlib.sha256(
        b"commune/v1/sealed-bundle-header\x00" + sealedbundle.SEALED_MAGIC + header_frame
    ).digest()
    assert data[start - 32 : start] == digest
    key = sealedfile.payload_key(file_key, salt, b"commune/v1/sealed-bundle-payload\x00" + digest)
    opener = sealedfile.StreamOpener(key)
    assert opener.feed(data[start:]) + opener.finish() == plain
    assert len(chunks) == 1
    assert len(data) == start + len(plain) + TAG
    assert signed.SEALED_BUNDLE_KEY == b"commune/v1/sealed-bundle-key\x00"


def test_the_post_quantum_suite_seals_and_opens_too() -> None:
    plain = plain_bundle(2)
    data = sealed(plain, suite=sealing.MLKEM768_X25519)
    assert opened(data, OTHER) == plain
    with pytest.raises(NotSealedToThisNode):
        opened(data, STRANGER)


def test_a_bundle_for_others_says_so_and_reveals_nothing() -> None:
    plain = plain_bundle(3, body=50)
    data = sealed(plain)
    with pytest.raises(NotSealedToThisNode, match="sealed to 2 nodes, and this node is not"):
        read(data, STRANGER)
    with pytest.raises(BadBundle, match="needs this node's keys"):
        read(data, None)
    # nothing of the plain bundle shows: its magic, its events' text, the exporter's id
    for secret in (b"COMMUNE-BUNDLE", b"x" * 20, KEY.public, b"report"):
        assert secret not in data


def test_every_single_byte_flip_after_the_magic_is_damage() -> None:
    """Every byte of the header, its checksum and a whole chunk, flipped one at a time:
    each refused as damaged (a flip in the magic says it is not a bundle)."""
    plain = plain_bundle(3)
    data = sealed(plain)
    _, chunks = layout(data)
    assert len(chunks) == 1
    for at in range(len(data)):
        flipped = bytearray(data)
        flipped[at] ^= 0x01 if at % 2 else 0x80
        expected = DamagedBundle if at >= 16 else BadBundle
        with pytest.raises(expected):
            read(bytes(flipped))
    for at in range(16):
        flipped = bytearray(data)
        flipped[at] ^= 0xFF
        with pytest.raises(BadBundle, match=r"not a Commune bundle|format version"):
            read(bytes(flipped))


def test_truncation_dropped_swapped_or_added_chunks_are_damage() -> None:
    plain = plain_bundle(40, body=5000)  # about 200 KB: four chunks
    data = sealed(plain)
    start, chunks = layout(data)
    assert len(chunks) == 4
    parts = [data[s:e] for s, e in chunks]
    head = data[:start]
    cuts = [start, start - 1, start - 33, 17, 16, 20]
    cuts += [e for _, e in chunks[:-1]]  # at each chunk boundary
    cuts += [s + 1 for s, _ in chunks] + [s + CHUNK // 2 for s, _ in chunks[:-1]]  # inside
    cuts += [len(data) - 1, len(data) - TAG]
    for cut in cuts:
        with pytest.raises(DamagedBundle):
            read(data[:cut], piece=7919)
    for variant in (
        head + parts[0] + parts[2] + parts[3],  # one dropped
        head + parts[1] + parts[0] + parts[2] + parts[3],  # two swapped
        head + parts[0] + parts[1] + parts[1] + parts[2] + parts[3],  # one twice
        head + b"".join(parts[:3]),  # the last one dropped
        data + b"\x00",
        data + parts[3],
    ):
        with pytest.raises(DamagedBundle):
            read(variant)
    # Spliced: the chunks of another file sealed to the same nodes.
    other = sealed(plain)
    with pytest.raises(DamagedBundle):
        read(head + other[layout(other)[0] :])
    with pytest.raises(DamagedBundle):
        read(other[: layout(other)[0]] + b"".join(parts))


def _forge_header(data: bytes, change: dict[str, object]) -> bytes:
    """The file with its header changed and its checksum made to match again: what an
    attacker who is not a recipient can do."""
    start, _ = layout(data)
    value = encoding.decode(encoding.decode(data[16 : start - 32]))
    value.update(change)
    header_frame = encoding.encode(encoding.encode(value))
    digest = hashlib.sha256(
        signed.SEALED_BUNDLE_HEADER + sealedbundle.SEALED_MAGIC + header_frame
    ).digest()
    return sealedbundle.SEALED_MAGIC + header_frame + digest + data[start:]


def test_a_header_altered_on_purpose_opens_nothing() -> None:
    plain = plain_bundle(3)
    data = sealed(plain)
    start, _ = layout(data)
    keys = encoding.decode(encoding.decode(data[16 : start - 32]))["keys"]
    extra = sealing.seal_key("x25519", os.urandom(32), STRANGER.public("x25519"), b"x")
    # Another salt, a key dropped or added: the payload key changes, so no chunk opens.
    for change in (
        {"salt": os.urandom(16)},
        {"keys": keys[:1]},
        {"keys": keys[1:]},
        {"keys": sorted([*keys, extra])},
    ):
        forged = _forge_header(data, change)
        for secret in (ME, OTHER):
            with pytest.raises((DamagedBundle, NotSealedToThisNode)):
                read(forged, secret)
    # What the digest covers but the reader refuses before opening: each names it.
    refusals = {
        "version": {"v": 2},
        "suite": {"suite": "rot13"},
        "keys": {"keys": sorted(keys, reverse=True)},
        "salt": {"salt": b"short"},
    }
    for word, change in refusals.items():
        with pytest.raises(BadBundle, match=word):
            read(_forge_header(data, change))


def test_a_huge_header_is_refused_before_it_is_read() -> None:
    claim = (
        sealedbundle.SEALED_MAGIC
        + b"\xc6"
        + (sealedbundle.MAX_SEALED_HEADER + 1).to_bytes(4, "big")
    )
    reader = sealedbundle.BundleFileReader(ME)
    with pytest.raises(DamagedBundle, match="at most"):
        reader.feed(claim)
    # and the largest header there can be fits the limit
    size = sealing.sealed_key_size(sealing.MLKEM768_X25519)
    largest = sealedbundle.SealedBundleHeader(
        sealing.MLKEM768_X25519,
        tuple(i.to_bytes(2, "big") + bytes(size - 2) for i in range(sealedbundle.MAX_RECIPIENTS)),
        bytes(16),
    )
    assert len(largest.encode()) <= sealedbundle.MAX_SEALED_HEADER
    with pytest.raises(BadBundle, match="1 to 256"):
        sealed(
            plain_bundle(1),
            recipients={bytes([i % 256, i // 256]) * 16: ME.public("x25519") for i in range(257)},
        )


def test_other_files_are_named_for_what_they_are() -> None:
    with pytest.raises(BadBundle, match="empty"):
        read(b"")
    with pytest.raises(BadBundle, match="not a Commune bundle"):
        read(b"PK\x03\x04" + bytes(40))
    with pytest.raises(BadBundle, match="not a Commune bundle"):
        read(b"COMMUNE")
    with pytest.raises(BadBundle, match=r"format version \(2\)"):
        read(b"COMMUNE-SEALED\x00\x02" + bytes(40))


def _stream(total: int, piece: int = 4096) -> Iterator[bytes]:
    block = hashlib.sha256(b"seed").digest() * (piece // 32)
    for _ in range(total // piece):
        yield block


def test_memory_stays_bounded_for_a_large_bundle() -> None:
    """24 MiB through the sealer and the opener: the largest allocation at any moment
    is a few chunks, not the file."""
    total = 24 << 20
    recipients = to(ME)
    tracemalloc.start()
    try:
        sealed_size = 0
        reader = sealedbundle.SealedBundleReader(ME)
        got = 0
        for piece in sealedbundle.seal(_stream(total), suite="x25519", recipients=recipients):
            sealed_size += len(piece)
            got += len(reader.feed(piece))
        got += len(reader.finish())
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert got == total
    assert sealed_size > total
    assert peak < 2 << 20, f"peak {peak} bytes for a {total}-byte bundle"


def _read_in_pieces(data: bytes, cuts: list[int]) -> list[bundle.Item]:
    reader = sealedbundle.BundleFileReader(ME)
    points = sorted({0, *[c for c in cuts if c < len(data)], len(data)})
    items = []
    for start, end in itertools.pairwise(points):
        items.extend(reader.feed(data[start:end]))
    return items + reader.finish()


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=300), st.integers(0, 400), st.lists(st.integers(1, 400), max_size=5))
def test_the_reader_refuses_random_bytes_with_a_bundle_error(
    junk: bytes, at: int, cuts: list[int]
) -> None:
    """Random bytes, alone, after the magic, or patched into a real file, fed in random
    pieces: BadBundle (or a subclass), never another exception, never an item."""
    real = SMALL
    at %= len(real)
    for data in (
        junk,
        sealedbundle.SEALED_MAGIC + junk,
        real[:at] + junk + real[at + len(junk) :],
        real[:at] + junk,
    ):
        if data == real:
            continue
        with pytest.raises(BadBundle):
            _read_in_pieces(data, cuts)


SMALL = sealed(plain_bundle(2))


def test_the_contexts_are_listed_in_the_spec() -> None:
    """PROTOCOL.md §1 lists each new context string, its bytes and its hex."""
    from tests.helpers import ROOT  # noqa: PLC0415

    spec = (ROOT / "docs" / "PROTOCOL.md").read_text(encoding="utf-8")
    section = spec.split("## §1 ", 1)[1].split("## §2 ", 1)[0]
    for name in ("SEALED_BUNDLE_HEADER", "SEALED_BUNDLE_KEY", "SEALED_BUNDLE_PAYLOAD"):
        value = getattr(signed, name)
        assert f"| `{name}` | `{value[:-1].decode()}\\0` | {len(value)} |" in section
        assert f"{name} " in section
        assert value.hex() in section


def test_the_sealed_reader_alone_checks_its_magic() -> None:
    with pytest.raises(BadBundle, match="not a sealed Commune bundle"):
        opened(bundle.MAGIC + SMALL[16:])
