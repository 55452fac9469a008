"""The README's first command: the four-node demo comes up, syncs, serves its four web
views, relays a report posted from another terminal along the line, and stops cleanly
on Ctrl-C, deleting its folders."""

from __future__ import annotations

import re
import shlex
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from tests.helpers import ROOT
from tests.web_owner import owner_opener

NAMES = ("Los Angeles", "El Salvador", "India", "South Africa")
#: a web view's address as the demo prints it: with its one-time token
ADDRESS = r"http://127\.0\.0\.1:\d+/\?token=[A-Za-z0-9_-]{43}"


def fetch(opener: urllib.request.OpenerDirector, url: str) -> str:
    with opener.open(url, timeout=10) as response:
        assert response.status == 200
        return str(response.read().decode("utf-8"))


def test_the_four_node_demo_comes_up_synced_with_four_web_views() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "node", "demo", "--once"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "[6/6] Synced." in result.stdout
    urls = re.findall(ADDRESS, result.stdout)
    assert len(set(urls)) == 4
    for name in NAMES:
        assert name in result.stdout
    assert "Traceback" not in result.stderr


def test_the_demo_runs_until_ctrl_c_and_relays_a_post_along_the_line() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "node", "demo"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    try:
        lines = []
        for line in proc.stdout:  # the progress lines, the addresses, what to try
            lines.append(line)
            if "Ctrl-C stops the demo" in line:
                break
        out = "".join(lines)
        assert "[6/6] Synced." in out, out
        printed = dict(re.findall(rf"^  (\S.*?)\s+({ADDRESS})$", out, re.M))
        assert set(printed) == set(NAMES), out
        # each printed address opens (its token traded for a cookie the opener keeps)
        openers = {name: owner_opener(address) for name, address in printed.items()}
        urls = {name: address.partition("?")[0] for name, address in printed.items()}
        folder = Path(re.search(r"Making four nodes in (\S+)", out).group(1))  # type: ignore[union-attr]
        assert folder.is_dir()

        # every web view shows the four collectives' reports, but only its own contacts
        for name, url in urls.items():
            assert all(n in fetch(openers[name], url + "reports") for n in NAMES), name
        contacts = fetch(openers["Los Angeles"], urls["Los Angeles"] + "contacts")
        assert "Maria Gonzalez" in contacts
        assert "Thandiwe Mokoena" not in contacts
        # followed up: its notes in order, due today
        assert contacts.index("Came with two neighbours.") < contacts.index("Called: she comes")
        due = fetch(openers["Los Angeles"], urls["Los Angeles"] + "contacts?overdue=1")
        assert "Maria Gonzalez" not in due  # due today, not late
        queue = fetch(openers["Los Angeles"], urls["Los Angeles"] + "reports?state=for-paper")
        assert "Tenants&#39; meeting in Boyle Heights" in queue
        assert "Rent strike" not in queue
        tagged = fetch(openers["El Salvador"], urls["El Salvador"] + "plans?tags=housing")
        assert "Print leaflets for Saturday" in tagged
        assert "Llamar a la cooperativa" not in tagged
        # the calendar: El Salvador's shifts this week and Los Angeles' discussion group
        # this month, on India's node, and the same in its feed
        week = fetch(openers["India"], urls["India"] + "calendar")
        assert "Puerta de la maquila, turno de la mañana" in week
        month = fetch(openers["India"], urls["India"] + "calendar?view=month")
        assert "Discussion group: Capital, chapter 1" in month
        feed = fetch(openers["India"], urls["India"] + "calendar.ics")
        assert feed.startswith("BEGIN:VCALENDAR")
        assert "SUMMARY:Discussion group: Capital\\, chapter 1" in feed

        # "Try, in another terminal": the command the demo prints, as printed
        command = out.split("Try, in another terminal (the folders are above):\n", 1)[1]
        command = command.split("\nand watch it appear", 1)[0].replace("\\\n", " ")
        posted = subprocess.run(
            shlex.split(command), cwd=ROOT, capture_output=True, text=True, timeout=60, check=False
        )
        assert posted.returncode == 0, posted.stderr
        deadline = time.monotonic() + 60
        while "desde ZA" not in fetch(
            openers["Los Angeles"], urls["Los Angeles"] + "reports?q=Hola"
        ):
            assert time.monotonic() < deadline, "ZA's report did not reach LA through IN and SV"
            time.sleep(0.2)
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            rest, err = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            rest, err = proc.communicate()
    assert proc.returncode == 0, err
    assert "Stopping…" in rest
    assert "Traceback" not in err
    assert not folder.exists()  # the demo deleted its folders
