"""Property fuzzing with hypothesis (issue 8): the envelope decoder, the sync frames and
hello, the bundle reader and the ingest path refuse anything bad with a typed error and
never anything else. tests/test_encoding.py already round-trips canonical values and
tests/test_validate.py flips single bytes of valid events; these go wider: arbitrary
bytes, well-formed arrays of arbitrary fields, arbitrary chunking, truncation.

The coverage-guided campaigns (atheris) are in tests/fuzz/; a short run of one is
below, the long ones are run by hand (tests/fuzz/README.md).
"""

from __future__ import annotations

import contextlib
import itertools
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crypto.errors import CommuneError
from node.bundles import export_bundle, import_bundle, sealing_for
from protocol import bundle, encoding
from protocol import sync as proto
from protocol.envelope import VERSION, decode_event
from protocol.errors import InvalidEvent, SyncError
from protocol.frontier import Frontier
from protocol.validate import check_event
from tests.helpers import ROOT, feed, fixed_key
from tests.net import close_all, make_network

KEY = fixed_key(11)
FEED = feed(KEY, 3)
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

leaf = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.text(max_size=70)
    | st.binary(max_size=70)
    | st.sampled_from([bytes(32), bytes(64), KEY.public, "report", "member.admit", 1, 2])
)
value = st.recursive(
    leaf,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=12,
)


def only_invalid_event(raw: bytes) -> None:
    """check_event either accepts (and then the bytes are exactly canonical) or raises
    an InvalidEvent with a code and a message: never another exception."""
    try:
        event = check_event(raw)
    except InvalidEvent as e:
        refusal = e
    else:
        refusal = None
    if refusal is not None:
        assert refusal.code
        assert refusal.message
        return
    assert encoding.encode(encoding.decode(raw)) == raw
    assert decode_event(event.raw).id == event.id


@SETTINGS
@given(st.binary(max_size=600))
def test_arbitrary_bytes_are_refused_with_a_typed_error(raw: bytes) -> None:
    only_invalid_event(raw)


@SETTINGS
@given(st.lists(value, min_size=10, max_size=10), st.booleans())
def test_any_ten_fields_are_refused_with_a_typed_error(fields: list[Any], versioned: bool) -> None:
    if versioned:
        fields[0] = VERSION
    try:
        raw = encoding.encode(fields)
    except CommuneError:
        return  # too deep to encode: nothing to send
    only_invalid_event(raw)


@SETTINGS
@given(st.sampled_from(FEED), st.data())
def test_splicing_events_together_is_refused_or_changes_the_id(
    event: Any, data: st.DataObject
) -> None:
    """Any cut and paste of two valid events (a header from one, a tail of another)."""
    other = data.draw(st.sampled_from(FEED))
    cut = data.draw(st.integers(0, len(event.raw)))
    paste = data.draw(st.integers(0, len(other.raw)))
    raw = event.raw[:cut] + other.raw[paste:]
    try:
        spliced = check_event(raw)
    except InvalidEvent:
        return
    assert spliced.raw in {e.raw for e in FEED}


STREAM = (
    proto.frame(proto.HELLO, proto.Hello(bytes(32), Frontier()).encode())
    + b"".join(proto.frame(proto.EVENT, e.raw) for e in FEED)
    + proto.frame(proto.END, proto.End(len(FEED), 0).encode())
)


@SETTINGS
@given(st.lists(st.integers(1, len(STREAM)), max_size=12))
def test_frames_arrive_the_same_in_any_pieces(cuts: list[int]) -> None:
    points = sorted({0, *cuts, len(STREAM)})
    reader = proto.FrameReader()
    got = []
    for start, end in itertools.pairwise(points):
        got.extend(reader.feed(STREAM[start:end]))
    reader.finish()
    assert [kind for kind, _ in got] == [proto.HELLO] + [proto.EVENT] * 3 + [proto.END]
    assert [body for _, body in got[1:4]] == [e.raw for e in FEED]


@SETTINGS
@given(st.binary(max_size=300), st.integers(0, 299), st.binary(max_size=8))
def test_mutated_sync_streams_raise_only_sync_errors(junk: bytes, at: int, patch: bytes) -> None:
    for data in (junk, STREAM[:at] + patch + STREAM[at + len(patch) :]):
        reader = proto.FrameReader()
        with contextlib.suppress(SyncError):
            for kind, body in reader.feed(data):
                if kind == proto.HELLO:
                    proto.Hello.decode(body)
                elif kind == proto.END:
                    proto.End.decode(body)
                else:
                    only_invalid_event(body)
            reader.finish()


@SETTINGS
@given(st.dictionaries(st.sampled_from(["v", "network", "frontier", "forks", "x"]), value))
def test_any_hello_map_is_refused_with_a_sync_error(doc: dict[str, Any]) -> None:
    try:
        raw = encoding.encode(doc)
    except CommuneError:
        return
    try:
        hello = proto.Hello.decode(raw)
    except SyncError:
        return
    assert len(hello.network) == 32
    assert len(hello.frontier) <= 10_000


def bundle_bytes() -> bytes:
    header = bundle.BundleHeader(bytes(32), FEED[0].raw, KEY.public, Frontier(), len(FEED), 0)
    return b"".join(bundle.write(header, [e.raw for e in FEED], []))


BUNDLE = bundle_bytes()


def read_bundle(data: bytes, cuts: list[int]) -> list[bundle.Item]:
    reader = bundle.BundleReader()
    items: list[bundle.Item] = []
    points = sorted({0, *[c for c in cuts if c < len(data)], len(data)})
    for start, end in itertools.pairwise(points):
        items.extend(reader.feed(data[start:end]))
    reader.finish()
    return items


@SETTINGS
@given(st.integers(0, len(BUNDLE) - 1), st.lists(st.integers(1, len(BUNDLE)), max_size=6))
def test_a_truncated_bundle_is_always_refused(at: int, cuts: list[int]) -> None:
    with pytest.raises(bundle.BadBundle):
        read_bundle(BUNDLE[:at], cuts)
    assert [i.kind for i in read_bundle(BUNDLE, cuts)][-1] == "end"


@SETTINGS
@given(st.integers(0, len(BUNDLE) - 1), st.binary(min_size=1, max_size=6), st.binary(max_size=200))
def test_an_altered_bundle_is_refused_with_bad_bundle(at: int, patch: bytes, junk: bytes) -> None:
    altered = BUNDLE[:at] + patch + BUNDLE[at + len(patch) :]
    for data in (altered, bundle.MAGIC + junk, junk):
        try:
            read_bundle(data, [])
        except bundle.BadBundle:
            continue
        assert data == BUNDLE  # only the untouched bundle reads to its end


@pytest.fixture(scope="module")
def receiver(tmp_path_factory: pytest.TempPathFactory) -> Any:
    base = tmp_path_factory.mktemp("fuzz-ingest")
    la, sv = members = make_network(base, ["Los Angeles", "San Salvador"])
    events = [sv.node.post(sv.keys, [("report", {"v": 1, "title": f"r{i}"})])[0] for i in range(6)]
    yield la.node, [e.raw for e in events], base, la.keys
    close_all(members)


@settings(max_examples=40, deadline=None)
@given(st.data())
def test_ingest_stores_only_valid_events_whatever_the_order(receiver: Any, data: Any) -> None:
    """A batch of valid events, duplicates and byte-mutated copies in any order: the
    log grows only by valid events of the feed, and verify passes."""
    node, raws, _, _ = receiver
    batch = data.draw(st.lists(st.sampled_from(raws), max_size=10))
    for _ in range(data.draw(st.integers(0, 3))):
        raw = bytearray(data.draw(st.sampled_from(raws)))
        raw[data.draw(st.integers(0, len(raw) - 1))] ^= data.draw(st.integers(1, 255))
        batch.insert(data.draw(st.integers(0, len(batch))), bytes(raw))
    before = {e.id for e in node.store.events()}
    node.ingest(batch)
    after = {e.raw for e in node.store.events() if e.id not in before}
    assert after <= set(raws)
    assert node.verify() == []


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 2000), st.binary(min_size=1, max_size=4))
def test_importing_an_altered_bundle_changes_nothing(receiver: Any, at: int, patch: bytes) -> None:
    """The node's import path (node/bundles.py) on a real exported bundle, altered."""
    node, _, base, keys = receiver
    path = Path(base) / "altered.commune"
    original = Path(base) / "whole.commune"
    if not original.exists():
        export_bundle(node, original, sealing=sealing_for(node, keys))
    data = original.read_bytes()
    at %= len(data)
    path.write_bytes(data[:at] + patch + data[at + len(patch) :])
    count = node.store.count()
    try:
        import_bundle(node, path, keys)
    except bundle.BadBundle:
        assert node.store.count() == count
    assert node.verify() == []


def test_a_short_atheris_run_of_the_envelope_harness(tmp_path: Path) -> None:
    """Coverage-guided, a few seconds from the seeds: the harness works, finds nothing."""
    pytest.importorskip("atheris")
    done = subprocess.run(
        [
            sys.executable,
            "tests/fuzz/fuzz_envelope.py",
            "-runs=3000",
            "-seed=1",
            f"-artifact_prefix={tmp_path}/",
            str(tmp_path / "corpus"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Done 3000 runs" in done.stderr
