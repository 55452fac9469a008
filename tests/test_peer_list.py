"""The peer list as a user keeps it (docs/CLI.md, `peer add`, `peer remove`): bad
addresses refused with one line, a missing port warned of, an address removed however
it was learnt, and a running `serve` (its own process) that stops dialling a removed
address without a restart. Every command is its own process."""

from __future__ import annotations

import json
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from node import network
from tests.helpers import commune, refused
from tests.net import ClosingPort, close_all, free_port, make_network, serve_process, wait_until

BAD = {
    "http://203.0.113.7:8470": "HTTPS only",
    "ftp://203.0.113.7:8470": "is not a peer address",
    "203.0.113.7:8470": "is not a peer address",
    "https://": "is not a peer address",
    "https://203.0.113.7:99999": "has no valid port",
    "https://203.0.113.7:port": "has no valid port",
    "https://203.0.113.7:0": "has no valid port",
    "https://203.0.113.7:8470/commune": "nothing may follow HOST:PORT",
    "https://203.0.113.7:8470?x=1": "nothing may follow HOST:PORT",
    "https://ana:secret@203.0.113.7:8470": "no user name or password",
    "https://203.0.113.7 :8470": "is not a peer address",
}


def ok(home: Path, *args: str) -> tuple[str, str]:
    result = commune(home, *args)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    return result.stdout, result.stderr


def warnings(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("warning:")]


def listed(home: Path) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = json.loads(ok(home, "peer", "list", "--json")[0])
    return rows


@pytest.fixture
def homes(tmp_path: Path) -> tuple[Path, Path]:
    """Los Angeles (the founder) and El Salvador, which publishes where it listens."""
    members = make_network(tmp_path, ["Los Angeles", "El Salvador"])
    la, sv = members
    network.publish_addresses(sv.node, sv.keys, ["https://sv.example.org:8470"])
    la.node.ingest([e.raw for e in sv.node.store.events()])
    close_all(members)
    return la.home.path, sv.home.path


def test_peer_add_refuses_what_is_not_an_address_and_changes_nothing(
    homes: tuple[Path, Path],
) -> None:
    la, _ = homes
    before = listed(la)
    for url, why in BAD.items():
        line = refused(la, "peer", "add", url)
        assert repr(url.strip()) in line, line  # it names what was given
        assert why in line, line
        assert "https://HOST:PORT" in line
    assert listed(la) == before


def test_peer_add_warns_of_a_missing_port_and_still_adds(homes: tuple[Path, Path]) -> None:
    la, _ = homes
    out, err = ok(la, "peer", "add", "https://LA-Office.example.org/")
    assert out.strip() == "Will sync with https://la-office.example.org."
    [warning] = warnings(err)
    assert "https://la-office.example.org names no port, so it is dialled on 443" in warning
    assert "not on 8470 where `commune serve` listens by default" in warning
    assert "`commune peer remove https://la-office.example.org`" in warning
    assert "`commune peer add https://la-office.example.org:8470`" in warning
    # with a port: no warning
    out, err = ok(la, "peer", "add", "https://la-office.example.org:8470")
    assert warnings(err) == []
    urls = [row["url"] for row in listed(la)]
    assert "https://la-office.example.org" in urls
    assert "https://la-office.example.org:8470" in urls
    # the warning's advice works
    out, _ = ok(la, "peer", "remove", "https://la-office.example.org")
    assert out.strip() == "Removed https://la-office.example.org (given by hand)."
    urls = [row["url"] for row in listed(la)]
    assert "https://la-office.example.org" not in urls
    assert "https://la-office.example.org:8470" in urls


def test_removing_an_address_not_in_the_list_is_one_line_and_changes_nothing(
    homes: tuple[Path, Path],
) -> None:
    la, _ = homes
    ok(la, "peer", "add", "https://203.0.113.7:8470")
    before = listed(la)
    line = refused(la, "peer", "remove", "https://203.0.113.8:8470")
    assert line == (
        "error: https://203.0.113.8:8470 is not in this node's peer list (`commune peer "
        "list` shows it); nothing changed"
    )
    assert "is not a peer address" in refused(la, "peer", "remove", "nonsense")
    assert listed(la) == before


def test_an_address_learnt_from_the_log_is_removed_until_added_again(
    homes: tuple[Path, Path], tmp_path: Path
) -> None:
    la, _ = homes
    [row] = [r for r in listed(la) if r["source"] == "log"]
    assert row["url"] == "https://sv.example.org:8470"
    assert row["name"] == "El Salvador"
    # written differently from the list (case, a trailing /): still found
    out, _ = ok(la, "peer", "remove", "https://SV.example.org:8470/")
    assert out.strip() == (
        "Removed https://sv.example.org:8470 (published by El Salvador; `commune peer add` "
        "brings it back, and a new address it publishes is used)."
    )
    assert all(r["url"] != row["url"] for r in listed(la))
    _, err = ok(la, "peer", "list")
    assert (
        "(not dialled, taken off with `peer remove`: https://sv.example.org:8470, from the "
        "log; `commune peer add URL` brings it back)"
    ) in err.splitlines()
    _, status = ok(la, "status")
    assert "sv.example.org" not in status
    # the log still holds it, and `sync` does not dial it
    assert "this node knows no peer yet" in refused(la, "sync")
    # `peer add` brings it back
    ok(la, "peer", "add", row["url"])
    assert row["url"] in [r["url"] for r in listed(la)]
    # an address in the settings file: removed, with a warning that serve adds it back
    ok(la, "peer", "add", "https://203.0.113.9:8470")
    settings = tmp_path / "node.toml"
    settings.write_text('[peers]\nurls = ["https://203.0.113.9:8470"]\n', encoding="utf-8")
    out, err = ok(la, "peer", "remove", "https://203.0.113.9:8470", "--config", str(settings))
    assert out.strip() == "Removed https://203.0.113.9:8470 (given by hand)."
    [warning] = warnings(err)
    assert f"{settings} lists it in [peers] urls: take it out there too" in warning


def status_peer(home: Path, url: str) -> dict[str, Any] | None:
    peers = json.loads(ok(home, "status", "--json")[0])["peers"]
    return next((p for p in peers if p["url"] == url), None)


def test_a_running_serve_stops_dialling_a_removed_peer(homes: tuple[Path, Path]) -> None:
    la, _ = homes
    ok(la, "peer", "remove", "https://sv.example.org:8470")  # not reachable from a test
    typo = ClosingPort()
    url = f"https://127.0.0.1:{typo.port}"
    ok(la, "peer", "add", url)
    server = serve_process(la, free_port())
    try:
        # serve dials it and fails (the port closes every connection at once)
        wait_until(lambda: typo.accepted >= 1, 30, "serve dialling the mistyped peer")
        wait_until(
            lambda: (status_peer(la, url) or {}).get("failures", 0) >= 1,
            what="a failed round recorded",
        )
        # serve has scheduled its next try (status shows when)
        wait_until(
            lambda: (status_peer(la, url) or {}).get("next_try") is not None,
            what="the next try scheduled",
        )
        # removed from the command line while serve runs
        next_try = float((status_peer(la, url) or {})["next_try"])
        out, _ = ok(la, "peer", "remove", url)
        assert out.strip() == f"Removed {url} (given by hand)."
        assert status_peer(la, url) is None
        # serve follows within seconds, without a restart: the peer leaves the gauges
        # of its web view's /metrics (the scheduler's own list; the counters since the
        # process started keep its past rounds)
        address = server.web_address  # type: ignore[attr-defined]
        token = (la / "metrics-token").read_text(encoding="ascii").strip()

        def scheduled() -> bool:
            request = urllib.request.Request(
                address.partition("?")[0].rstrip("/") + "/metrics",
                headers={"Authorization": f"Bearer {token}"},
            )
            with urllib.request.urlopen(request, timeout=10) as response:
                gauges = response.read().decode()
            return f'commune_sync_failures_in_a_row{{peer="{url}"}}' in gauges

        wait_until(lambda: not scheduled(), timeout=20, what="serve dropping the removed peer")
        dials = typo.accepted
        # the try it had scheduled comes and goes without a dial
        wait_until(lambda: time.time() > next_try + 1.0, timeout=70, what="the next try's time")
        assert typo.accepted == dials
        assert server.poll() is None  # still running
    finally:
        server.terminate()
        server.wait(30)
        typo.close()


def test_remove_keeps_the_rest_of_the_list(homes: tuple[Path, Path]) -> None:
    la, _ = homes
    for n in (1, 2, 3):
        ok(la, "peer", "add", f"https://203.0.113.{n}:8470")
    ok(la, "peer", "remove", "https://203.0.113.2:8470")
    urls = [r["url"] for r in listed(la) if r["source"] == "peer add"]
    assert urls == ["https://203.0.113.1:8470", "https://203.0.113.3:8470"]
