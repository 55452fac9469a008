"""Sealed bundles through the real command line (docs/PROTOCOL.md §9.4, docs/CLI.md):
each command a separate process on real node folders. A bundle found on a USB stick
shows nothing; its members import it and converge; anyone else is told it is not for
them; any damage changes nothing; a big one goes through in bounded memory.

The format and its reader are tested byte by byte in tests/test_sealed_bundles.py."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from node.home import Home
from protocol import sealedbundle
from protocol.bundle import MAGIC
from tests.helpers import ROOT, commune, refused

CHUNK = sealedbundle.CHUNK_SIZE + 16
NETWORK = "Red Xochiquetzal"
NAMES = {"la": "Los Angeles Inquilinos", "sv": "San Salvador Mercado", "za": "Soweto Kitchen"}
#: unique strings posted in reports, plans and contacts, which no bundle may show
MARKERS = [
    "MARKER-report-title-5f1c",
    "MARKER-report-body-93ae",
    "MARKER-plan-title-0b7d",
    "MARKER-plan-owner-c24e",
    "MARKER-contact-name-7a10",
    "MARKER-sv-report-e6f3",
]


def ok(home: Path, *args: str) -> str:
    result = commune(home, *args)
    assert result.returncode == 0, result.stderr
    return result.stdout


def js(home: Path, *args: str) -> Any:
    return json.loads(ok(home, *args, "--json"))


def init(home: Path, name: str) -> str:
    """A new node; its id."""
    result = commune(home, "init", "--name", name, "--insecure-no-passphrase")
    assert result.returncode == 0, result.stderr
    lines = (result.stdout + result.stderr).splitlines()
    return next(line.split()[-1] for line in lines if line.startswith("Node id:"))


def admit(admin: Path, newcomer: Path) -> None:
    invite = ok(admin, "admit", ok(newcomer, "card").strip()).strip()
    ok(newcomer, "join", invite)


def unchanged(home: Path) -> tuple[str, str]:
    return ok(home, "state-hash"), ok(home, "log", "--json")


def _bulk(folder: Path, count: int, size: int, first: int = 0) -> Path:
    """A JSON lines file of ``count`` reports of about ``size`` characters each."""
    rows = folder / f"reports-{first}-{count}.jsonl"
    with rows.open("w", encoding="utf-8") as f:
        for i in range(first, first + count):
            body = " ".join(f"palabra{i}-{j}" for j in range(size // 14))[:size]
            f.write(json.dumps({"title": f"MARKER-bulk-{i}", "body": body}) + "\n")
    return rows


@pytest.fixture(scope="module")
def network(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """LA founds the network and admits SV and ZA; both post with markers (LA also 20
    long reports, so that its bundles have several chunks), and SV's posts reach LA.
    Tests work on copies of the folders, which export and import but do not post (a
    copied folder does not write its own feed until a peer confirms it)."""
    base = tmp_path_factory.mktemp("sealed-net")
    ids = {label: init(base / label, name) for label, name in NAMES.items()}
    la, sv, za = (base / label for label in NAMES)
    ok(la, "found", NETWORK)
    admit(la, sv)
    admit(la, za)
    ok(la, "post", "report", "--title", MARKERS[0], "--body", MARKERS[1])
    ok(la, "post", "plan", "--title", MARKERS[2], "--owner", MARKERS[3])
    ok(la, "post", "contact", "--name", MARKERS[4], "--to", NAMES["sv"])
    ok(la, "post", "report", "--from", str(_bulk(base, 20, 12_000)))
    ok(sv, "post", "report", "--title", MARKERS[5], "--body", "…")
    bundle = base / "meet.commune"
    ok(sv, "export", str(bundle))
    ok(la, "import", str(bundle))
    return base, ids


def copy(network: tuple[Path, dict[str, str]], tmp_path: Path) -> tuple[Path, Path, Path]:
    base, _ = network
    homes = []
    for label in NAMES:
        shutil.copytree(base / label, tmp_path / label)
        homes.append(tmp_path / label)
    return homes[0], homes[1], homes[2]


def test_a_bundle_shows_nothing_and_its_members_converge(
    network: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    la, sv, za = copy(network, tmp_path)
    ids = network[1]
    bundle = tmp_path / "stick.commune"
    out = ok(la, "export", str(bundle))
    assert "sealed to 3 nodes" in out
    data = bundle.read_bytes()
    assert data.startswith(sealedbundle.SEALED_MAGIC)
    secrets = [*MARKERS, "MARKER-bulk-1", "palabra1-1", NETWORK, *NAMES.values()]
    for node_id in ids.values():
        secrets += [node_id, node_id[:12]]
    found = [s for s in secrets if s.encode() in data or s.encode("utf-16-le") in data]
    found += [i for i in ids.values() if bytes.fromhex(i) in data]
    assert found == []
    assert b"MARKER" not in data
    assert b"COMMUNE-BUNDLE" not in data  # the plain bundle's magic: all of it is inside
    for home in (sv, za):
        assert "0 refused" in ok(home, "import", str(bundle))
    titles = {r["title"] for r in js(za, "show", "reports")}
    assert {MARKERS[0], MARKERS[5], "MARKER-bulk-19"} <= titles
    assert ok(la, "state-hash") == ok(sv, "state-hash") == ok(za, "state-hash")
    # the contact sealed to SV is inside, still sealed: SV reads it, ZA does not
    assert MARKERS[4] in {c["name"] for c in js(sv, "show", "contacts")}
    assert MARKERS[4] not in {c["name"] for c in js(za, "show", "contacts")}
    # the exporter reads its own bundle back
    assert "0 new" in ok(la, "import", str(bundle))


def test_a_stranger_cannot_open_it(network: tuple[Path, dict[str, str]], tmp_path: Path) -> None:
    la, _, _ = copy(network, tmp_path)
    stranger = tmp_path / "stranger"
    stranger_id = init(stranger, "Desconocido")
    ok(stranger, "found", "Otra red")
    bundle = tmp_path / "stick.commune"
    ok(la, "export", str(bundle))
    before = unchanged(stranger)
    error = refused(stranger, "import", str(bundle))
    assert "this bundle is sealed to 3 nodes, and this node is not one of them" in error
    assert f"ask its sender to `commune export --to {stranger_id}`" in error
    assert unchanged(stranger) == before


def test_a_revoked_member_cannot_open_what_is_exported_after(tmp_path: Path) -> None:
    la, za = tmp_path / "la", tmp_path / "za"
    init(la, NAMES["la"])
    init(za, NAMES["za"])
    ok(la, "found", NETWORK)
    admit(la, za)
    assert f"Revoked {NAMES['za']}" in ok(la, "revoke", NAMES["za"])
    ok(la, "post", "report", "--title", "MARKER-after-revocation-8c3b", "--body", "…")
    bundle = tmp_path / "stick.commune"
    out = ok(la, "export", str(bundle))
    assert "sealed to 1 node: this node." in out
    before = unchanged(za)
    assert "not one of them" in refused(za, "import", str(bundle))
    assert unchanged(za) == before
    error = refused(la, "export", str(tmp_path / "x.commune"), "--to", NAMES["za"])
    assert NAMES["za"] in error
    assert "is revoked" in error


def test_to_limits_the_readers(network: tuple[Path, dict[str, str]], tmp_path: Path) -> None:
    la, sv, za = copy(network, tmp_path)
    ids = network[1]
    bundle = tmp_path / "for-sv.commune"
    out = ok(la, "export", str(bundle), "--to", ids["sv"][:10])
    assert f"sealed to 2 nodes: {NAMES['sv']}, this node." in out
    before = unchanged(za)
    error = refused(za, "import", str(bundle))
    assert "sealed to 2 nodes, and this node is not one of them" in error
    assert f"--to {ids['za']}" in error
    assert unchanged(za) == before
    assert "0 refused" in ok(sv, "import", str(bundle))
    assert MARKERS[2] in {p["title"] for p in js(sv, "show", "plans")}
    # by name, several times, and the errors of names that are no member's
    out = ok(la, "export", str(bundle), "--to", NAMES["sv"], "--to", ids["za"])
    assert "sealed to 3 nodes" in out
    error = refused(la, "export", str(bundle), "--to", "Atlantis")
    assert "'Atlantis'" in error
    error = refused(la, "export", str(bundle), "--to", "abcdef")
    assert "'abcdef'" in error


def test_any_damage_is_refused_as_damaged_and_changes_nothing(
    network: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    la, sv, _ = copy(network, tmp_path)
    bundle = tmp_path / "stick.commune"
    ok(la, "export", str(bundle))
    data = bundle.read_bytes()
    size = {0xC4: 1, 0xC5: 2, 0xC6: 4}[data[16]]
    start = 16 + 1 + size + int.from_bytes(data[17 : 17 + size], "big") + 32
    chunks = [data[s : s + CHUNK] for s in range(start, len(data), CHUNK)]
    assert len(chunks) >= 4
    head = data[:start]

    def flip(at: int) -> bytes:
        out = bytearray(data)
        out[at] ^= 0x20
        return bytes(out)

    variants = {
        "a byte of the header": flip(40),
        "a byte of its checksum": flip(start - 5),
        "a byte of the first chunk": flip(start + 100),
        "a byte of a tag": flip(start + CHUNK - 1),
        "a byte of the last chunk": flip(len(data) - 30),
        "cut at a chunk boundary": head + b"".join(chunks[:2]),
        "cut inside a chunk": data[: start + CHUNK + 5000],
        "cut inside the header": data[:30],
        "a chunk dropped": head + chunks[0] + b"".join(chunks[2:]),
        "two chunks swapped": head + chunks[1] + chunks[0] + b"".join(chunks[2:]),
    }
    before = unchanged(sv)
    path = tmp_path / "damaged.commune"
    for what, variant in variants.items():
        path.write_bytes(variant)
        error = refused(sv, "import", str(path))
        assert "the bundle is damaged" in error, what
        assert "nothing was imported" in error, what
    assert unchanged(sv) == before
    path.write_bytes(b"")
    assert "empty" in refused(sv, "import", str(path))
    path.write_bytes(b"%PDF-1.7\n" + bytes(100))
    assert "not a Commune bundle" in refused(sv, "import", str(path))
    assert unchanged(sv) == before
    path.write_bytes(data)
    assert "0 refused" in ok(sv, "import", str(path))
    assert unchanged(sv) != before


def test_a_plain_bundle_of_an_older_version_is_still_imported(
    network: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    la, sv, _ = copy(network, tmp_path)
    bundle = tmp_path / "stick.commune"
    ok(la, "export", str(bundle))
    # The plain bundle inside it is byte for byte what older versions wrote.
    reader = sealedbundle.SealedBundleReader(Home(la).unlock(None).sealing_secret())
    plain = reader.feed(bundle.read_bytes()) + reader.finish()
    assert plain.startswith(MAGIC)
    assert MARKERS[0].encode() in plain
    old = tmp_path / "old.commune"
    old.write_bytes(plain)
    result = commune(sv, "import", str(old))
    assert result.returncode == 0, result.stderr
    assert "0 refused" in result.stdout
    assert "this bundle was not sealed" in result.stderr
    assert MARKERS[0] in {r["title"] for r in js(sv, "show", "reports")}


#: Runs the command line as users do, with Python's allocations traced; prints the peak
#: of those (the bundle's bytes, events, batches: what our code holds) and of the
#: resident memory (which adds SQLite's cache and the libraries').
_MEASURE = """
import resource, sys, tracemalloc
tracemalloc.start()
from node.cli import main
sys.argv = ["commune", *sys.argv[1:]]
try:
    main()
finally:
    traced = tracemalloc.get_traced_memory()[1]
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    sys.stderr.write(f"\\nPEAK {traced} {rss}\\n")
"""


def _peaks(home: Path, *args: str) -> tuple[int, int]:
    """The peak of Python's allocations and of resident memory (bytes) of one command."""
    done = subprocess.run(
        [sys.executable, "-c", _MEASURE, "--home", str(home), *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    traced, rss = done.stderr.rsplit("PEAK ", 1)[1].split()
    return int(traced), int(rss)


def test_a_big_bundle_goes_through_in_bounded_memory(tmp_path: Path) -> None:
    """Bundles of about 3 MB and then 9 MB of reports: exporting and importing the big
    one holds no more than the small one (a few chunks and batches, not the file). The
    figures are printed; nothing here is timed."""
    la, sv = tmp_path / "la", tmp_path / "sv"
    init(la, NAMES["la"])
    init(sv, NAMES["sv"])
    ok(la, "found", NETWORK)
    admit(la, sv)
    ok(la, "post", "report", "--from", str(_bulk(tmp_path, 200, 15_000)))
    small = tmp_path / "small.commune"
    small_export = _peaks(la, "export", str(small))
    small_import = _peaks(sv, "import", str(small))
    # SV's bundle tells LA what SV holds, so LA's next bundle for SV has only what follows
    back = tmp_path / "back.commune"
    ok(sv, "export", str(back))
    ok(la, "import", str(back))
    ok(la, "post", "report", "--from", str(_bulk(tmp_path, 600, 15_000, first=200)))
    big = tmp_path / "big.commune"
    big_export = _peaks(la, "export", str(big), "--for", NAMES["sv"])
    big_import = _peaks(sv, "import", str(big))
    assert ok(la, "state-hash") == ok(sv, "state-hash")
    sizes = small.stat().st_size, big.stat().st_size
    mib = 1 << 20
    print(
        f"\nbundles of {sizes[0] / mib:.1f} and {sizes[1] / mib:.1f} MiB, peak of Python's "
        f"allocations (and of RSS), MiB: export {small_export[0] / mib:.1f} and "
        f"{big_export[0] / mib:.1f} ({small_export[1] / mib:.0f} and "
        f"{big_export[1] / mib:.0f}), import {small_import[0] / mib:.1f} and "
        f"{big_import[0] / mib:.1f} ({small_import[1] / mib:.0f} and "
        f"{big_import[1] / mib:.0f})"
    )
    grown = sizes[1] - sizes[0]
    assert grown > 5 * mib
    # What our code holds does not follow the file: three times the bytes add well under
    # half the difference (what varies is which batches overlap in the import's pipeline).
    assert big_export[0] - small_export[0] < grown / 2
    assert big_import[0] - small_import[0] < grown / 2


def test_a_post_quantum_network_seals_with_the_published_keys(tmp_path: Path) -> None:
    """In a network founded with --post-quantum, bundles are sealed with the hybrid
    suite to the keys members published. A member whose key has not reached the
    exporter is left out with a warning; naming it with --to seals that bundle with
    X25519 alone, with a warning: how a new member that meets the network only by
    sneakernet gets its first bundle, after which everything is post-quantum."""
    la, sv = tmp_path / "la", tmp_path / "sv"
    init(la, NAMES["la"])
    init(sv, NAMES["sv"])
    ok(la, "found", NETWORK, "--post-quantum")
    admit(la, sv)
    bundle = tmp_path / "stick.commune"

    def export(home: Path, *args: str) -> tuple[str, str, bytes]:
        result = commune(home, "export", str(bundle), *args)
        assert result.returncode == 0, result.stderr
        return result.stdout, result.stderr, bundle.read_bytes()[:8192]

    out, err, head = export(la)
    assert "sealed to 1 node: this node." in out
    assert f"left out {NAMES['sv']}" in err
    assert b"mlkem768-x25519" in head
    out, err, head = export(la, "--to", NAMES["sv"])
    assert f"sealed to 2 nodes: {NAMES['sv']}, this node." in out
    assert "sealed with X25519 alone, not post-quantum" in err
    assert b"mlkem768-x25519" not in head
    assert b"x25519" in head
    assert "0 refused" in ok(sv, "import", str(bundle))
    # SV publishes its key when it first posts; its bundle, post-quantum to LA, brings it
    ok(sv, "post", "report", "--title", "MARKER-pq-7d0e", "--body", "…")
    out, err, head = export(sv)
    assert f"sealed to 2 nodes: {NAMES['la']}, this node." in out
    assert "warning" not in err
    assert b"mlkem768-x25519" in head
    assert "0 refused" in ok(la, "import", str(bundle))
    out, err, head = export(la)
    assert f"sealed to 2 nodes: {NAMES['sv']}, this node." in out
    assert "warning" not in err
    assert b"mlkem768-x25519" in head
    assert "0 refused" in ok(sv, "import", str(bundle))
    assert ok(la, "state-hash") == ok(sv, "state-hash")
