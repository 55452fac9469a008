"""The web view is its owner's only (node/web/access.py), over real HTTP: the one-time
token that a browser trades for a cookie, the refusal page for everyone else, the address
file (0600, rewritten, removed), the scrape token of /healthz and /metrics; a real
``serve`` read by another local account (``nobody``), and a real browser."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from yarl import URL

from node.web import SECURITY_HEADERS, address, start_web
from node.web.access import SCRAPE_FILE
from tests.helpers import ROOT
from tests.net import Member, close_all, commune_async, free_port, make_network, serve_process
from tests.web_owner import (
    address_file,
    current_address,
    let_in,
    owner_jar,
    owner_session,
    scrape_headers,
)

NAMES = ("Los Angeles", "El Salvador")
CHROMIUM = Path("/usr/bin/chromium")
#: a Python with nothing but its standard library, that another account may run
PLAIN_PYTHON = Path("/usr/bin/python3")
NOBODY = 65534


def _marker() -> str:
    return f"marker-{uuid.uuid4().hex}"


def _data_paths(report: bytes) -> list[str]:
    """Every route that shows something of the node."""
    return [
        "/",
        "/reports",
        "/plans",
        "/contacts",
        "/events",
        f"/event/{report.hex()}",
        "/activity",
        "/live",
        "/healthz",
        "/metrics",
        "/nowhere",
        "/reports?q=marker",
    ]


def assert_refused(status: int, html: str, headers: Any, home: Path, *secrets: str) -> None:
    """The refusal page: 403, the security headers, where the address is, and nothing
    of the node."""
    assert status == 403
    for name, value in SECURITY_HEADERS.items():
        assert headers.get(name) == value, name
    assert headers["Content-Type"].startswith("text/html")
    assert "This page is private" in html
    assert str(address_file(home)) in html
    assert "commune serve" in html
    assert "commune status" in html
    for secret in (*secrets, "Red", *NAMES):
        assert secret not in html, secret


@dataclass
class View:
    la: Member
    members: list[Member]
    runner: aiohttp.web.AppRunner
    base: str
    marker: str
    report: bytes

    @property
    def home(self) -> Path:
        return self.la.home.path

    def secrets(self) -> tuple[str, ...]:
        return (self.marker, self.la.node.node_id.hex())


@pytest.fixture
async def view(tmp_path: Path) -> AsyncIterator[View]:
    members = make_network(tmp_path, list(NAMES))
    la = members[0]
    marker = _marker()
    report = la.post(marker)
    runner, port = await start_web(la.node, la.keys, host="127.0.0.1", port=0)
    try:
        yield View(la, members, runner, f"http://127.0.0.1:{port}/", marker, report)
    finally:
        await runner.cleanup()
        close_all(members)


def stranger() -> aiohttp.ClientSession:
    """A client with no cookie (it would keep one, as a browser does)."""
    return aiohttp.ClientSession(cookie_jar=owner_jar())


# --- without the cookie: the refusal page -----------------------------------------------


async def test_without_the_cookie_every_route_gets_the_refusal_page(view: View) -> None:
    async with stranger() as client:
        for path in _data_paths(view.report):
            for lang in ("en", "es"):
                headers = {"Accept-Language": lang}
                async with client.get(view.base + path.lstrip("/"), headers=headers) as page:
                    html = await page.text()
                    if lang == "en":
                        assert_refused(page.status, html, page.headers, view.home, *view.secrets())
                    else:
                        assert page.status == 403
                        assert "Esta página es privada" in html
                        assert str(address_file(view.home)) in html
                        assert view.marker not in html
            async with client.head(view.base + path.lstrip("/")) as page:
                assert page.status == 403, path
                assert page.headers["X-Frame-Options"] == "DENY"
        # a cookie of the right name with a made-up value, or the scrape token where it
        # does not open, is refused the same
        name = f"commune-{URL(view.base).port}"
        async with client.get(view.base, cookies={name: "guessed"}) as page:
            assert_refused(page.status, await page.text(), page.headers, view.home, view.marker)
        async with client.get(view.base, headers=scrape_headers(view.home)) as page:
            assert_refused(page.status, await page.text(), page.headers, view.home, view.marker)
        async with client.get(view.base + "metrics", headers={"Authorization": "Bearer x"}) as r:
            assert r.status == 403
        # static files hold no data: open to anyone
        async with client.get(view.base + "static/style.css") as css:
            assert css.status == 200
            assert (
                css.headers["Content-Security-Policy"]
                == (SECURITY_HEADERS["Content-Security-Policy"])
            )
        assert client.cookie_jar.filter_cookies(URL(view.base)) == {}


async def test_host_method_and_read_only_rules_come_first_and_spend_no_token(view: View) -> None:
    token_address = current_address(view.home)
    async with stranger() as client:
        async with client.get(token_address, headers={"Host": "evil.example"}) as page:
            assert page.status == 421
        for method in ("POST", "PUT", "DELETE"):
            async with client.request(method, token_address) as page:
                assert page.status == 405
                assert page.headers["Allow"] == "GET,HEAD"
        async with client.head(token_address) as page:  # a link preview spends nothing
            assert page.status == 403
    assert current_address(view.home) == token_address
    async with stranger() as client:
        await let_in(client, token_address)  # still good


# --- the token and the cookie ----------------------------------------------------------------


async def test_the_token_is_traded_for_a_session_cookie_and_spent(view: View) -> None:
    home = view.home
    path = address_file(home)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    first = current_address(home)
    assert first == address(view.runner)
    token = URL(first).query["token"]
    assert len(token) >= 43
    async with stranger() as browser:
        # the token on any page (other parameters kept) answers 303 to it without the token
        landing = f"{view.base}reports?lang=es&token={token}&q=x"
        async with browser.get(landing, allow_redirects=False) as page:
            assert page.status == 303
            assert page.headers["Location"] == "/reports?lang=es&q=x"
            for name, value in SECURITY_HEADERS.items():
                assert page.headers[name] == value
            cookies = [c for c in page.headers.getall("Set-Cookie") if c.startswith("commune-")]
            assert len(cookies) == 1
            cookie = cookies[0]
            name, _, value = cookie.split(";")[0].partition("=")
            assert name == f"commune-{URL(view.base).port}"
            assert len(value) >= 43
            assert value != token
            attributes = {a.strip().split("=")[0].lower() for a in cookie.split(";")[1:]}
            assert {"httponly", "path", "samesite"} <= attributes
            assert "samesite=strict" in cookie.lower()
            assert "path=/" in cookie.lower()
            assert "max-age" not in attributes  # a session cookie: no expiry
            assert "expires" not in attributes
        # the file has a new address, still 0600, and the cookie opens the pages
        second = current_address(home)
        assert second != first
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        async with browser.get(view.base + "reports") as page:
            assert page.status == 200
            assert view.marker in await page.text()
        # with the cookie, a token (even a spent one) only redirects: nothing is spent
        async with browser.get(first, allow_redirects=False) as page:
            assert page.status == 303
            assert page.headers["Location"] == "/"
            assert "Set-Cookie" not in page.headers
        assert current_address(home) == second
    # the spent token lets nobody else in
    async with stranger() as other:
        async with other.get(first) as page:
            html = await page.text()
            assert_refused(page.status, html, page.headers, home, *view.secrets())
            assert "already used" in html
        async with other.get(view.base) as page:
            assert page.status == 403
        # the file's address lets a second browser in, and is spent in turn
        await let_in(other, second)
        async with other.get(view.base + f"event/{view.report.hex()}") as page:
            assert page.status == 200
            assert view.marker in await page.text()
    assert current_address(home) not in (first, second)


async def test_no_open_redirect_and_the_file_goes_when_the_view_stops(view: View) -> None:
    token = URL(current_address(view.home)).query["token"]
    async with (
        stranger() as browser,
        browser.get(f"{view.base}/evil.example/x?token={token}", allow_redirects=False) as page,
    ):
        assert page.status == 303
        assert page.headers["Location"] == "/evil.example/x"  # this host's path
    await view.runner.cleanup()
    assert not address_file(view.home).exists()


async def test_the_scrape_token_opens_healthz_and_metrics_only(view: View) -> None:
    token_file = view.home / SCRAPE_FILE
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    kept = token_file.read_text()
    async with aiohttp.ClientSession(headers=scrape_headers(view.home)) as scraper:
        async with scraper.get(view.base + "healthz") as page:
            assert page.status == 200
            assert (await page.json())["status"] == "ok"
        async with scraper.get(view.base + "metrics") as page:
            assert page.status == 200
            assert "commune_events_stored" in await page.text()
        for path in ("", "reports", f"event/{view.report.hex()}", "live"):
            async with scraper.get(view.base + path) as page:
                assert page.status == 403, path
    # the owner's cookie opens them too
    session, base = await owner_session(view.home)
    async with session, session.get(base + "metrics") as page:
        assert page.status == 200
    # kept across restarts of the view, so a scraper's settings stay good
    runner, _ = await start_web(view.la.node, None, host="127.0.0.1", port=0)
    await runner.cleanup()
    assert token_file.read_text() == kept


# --- a real serve, and another local account -------------------------------------------------


@pytest.fixture
def open_base() -> Iterator[Path]:
    """A folder that any account may cross (not list), outside pytest's private one:
    what guards the address file is then its own mode, not its folder's."""
    base = Path(tempfile.mkdtemp(prefix="commune-access-"))
    base.chmod(0o711)
    try:
        yield base
    finally:
        shutil.rmtree(base, ignore_errors=True)


NOBODY_SCRIPT = """
import json, sys, urllib.error, urllib.request
path, base, marker, event = sys.argv[1:5]
out = {}
try:
    open(path).read()
    out["read"] = "read it"
except PermissionError:
    out["read"] = "permission denied"
except OSError as e:
    out["read"] = repr(e)
pages = {}
for page in ("", "reports", "event/" + event, "metrics", "healthz", "?token=guess"):
    try:
        with urllib.request.urlopen(base + page, timeout=10) as r:
            pages[page] = [r.status, marker in r.read().decode()]
    except urllib.error.HTTPError as e:
        body = e.read().decode()
        pages[page] = [e.code, marker in body, "This page is private" in body]
out["pages"] = pages
print(json.dumps(out))
"""


def _as_nobody(*args: str) -> dict[str, Any]:
    done = subprocess.run(
        [str(PLAIN_PYTHON), "-I", "-c", NOBODY_SCRIPT, *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd="/",
        user=NOBODY,
        group=NOBODY,
        extra_groups=[],
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    return result


@pytest.mark.skipif(os.geteuid() != 0, reason="switching to another account needs root")
@pytest.mark.skipif(not PLAIN_PYTHON.exists(), reason="no system Python for another account")
async def test_a_real_serve_is_private_to_its_owner_and_not_to_nobody(open_base: Path) -> None:
    members = make_network(open_base, list(NAMES))
    la = members[0]
    marker = _marker()
    report = la.post(marker)
    home = la.home.path
    close_all(members)
    home.chmod(0o711)  # crossable by anyone: only the file's own mode is left to refuse
    server = serve_process(home, free_port())
    printed: str = server.web_address  # type: ignore[attr-defined]
    base: str = server.web_url  # type: ignore[attr-defined]
    try:
        path = address_file(home)
        assert path.read_text().strip() == printed
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        # `commune status` prints the current address, with its token, while serve runs
        code, out, err = await commune_async(home, "status")
        assert code == 0, err
        assert f"web view {printed}" in out
        _, as_json, _ = await commune_async(home, "status", "--json")
        assert json.loads(as_json)["serve"]["web_address"] == printed

        # another account on this machine: no file, no data
        seen = await asyncio.to_thread(_as_nobody, str(path), base, marker, report.hex())
        assert seen["read"] == "permission denied"
        for page, answer in seen["pages"].items():
            assert answer == [403, False, True], (page, answer)
        assert current_address(home) == printed  # a guessed token spends nothing

        # the owner gets in with the printed address, once
        async with aiohttp.ClientSession(cookie_jar=owner_jar()) as owner:
            await let_in(owner, printed)
            async with owner.get(base + "reports") as page:
                assert page.status == 200
                assert marker in await page.text()
        rewritten = current_address(home)
        assert rewritten != printed
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        code, out, _ = await commune_async(home, "status")
        assert f"web view {rewritten}" in out
    finally:
        server.terminate()
        server.wait(30)
    assert server.returncode == 0
    assert not address_file(home).exists()  # removed when serve stopped


def test_serve_leaves_no_address_file_when_it_fails_or_runs_without_the_view(
    tmp_path: Path,
) -> None:
    members = make_network(tmp_path, ["Los Angeles"])
    home = members[0].home.path
    close_all(members)
    stale = address_file(home)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        taken = busy.getsockname()[1]
        stale.write_text("http://127.0.0.1:1/?token=left-by-a-crash\n")
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "node",
                "--home",
                str(home),
                "serve",
                "--listen",
                f"127.0.0.1:{free_port()}",
                "--web",
                f"127.0.0.1:{taken}",
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert done.returncode == 1
    assert "web view" in done.stderr
    assert "Traceback" not in done.stderr
    assert not stale.exists()


# --- a real browser ---------------------------------------------------------------------------


@pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed")
async def test_a_browser_opens_the_printed_address_and_reloads_the_plain_one(
    tmp_path: Path,
) -> None:
    playwright_api = pytest.importorskip("playwright.async_api")
    from tests.test_web_browser import FLAGS  # noqa: PLC0415

    members = make_network(tmp_path, list(NAMES))
    marker = _marker()
    members[0].post(marker)
    home = members[0].home.path
    close_all(members)
    server = serve_process(home, free_port())
    printed: str = server.web_address  # type: ignore[attr-defined]
    base: str = server.web_url  # type: ignore[attr-defined]
    try:
        async with playwright_api.async_playwright() as p:
            chromium = await p.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS)
            try:
                context = await chromium.new_context()
                page = await context.new_page()
                response = await page.goto(printed)
                assert response is not None
                assert response.status == 200
                assert page.url == base  # the token left the address bar
                assert "Los Angeles" in await page.inner_text("body")
                (cookie,) = await context.cookies()
                assert cookie["httpOnly"] is True
                assert cookie["sameSite"] == "Strict"
                assert cookie["expires"] == -1  # a session cookie
                assert cookie["value"] not in printed
                response = await page.reload()
                assert response is not None
                assert response.status == 200
                response = await page.goto(base + "reports")
                assert response is not None
                assert response.status == 200
                assert marker in await page.inner_text("body")
                # another browser, with the spent address: the refusal page
                other = await chromium.new_context(locale="es-ES")
                stranger_page = await other.new_page()
                response = await stranger_page.goto(printed)
                assert response is not None
                assert response.status == 403
                text = await stranger_page.inner_text("body")
                assert "Esta página es privada" in text
                assert marker not in text
                assert "Los Angeles" not in text
                # the file's address lets it in
                response = await stranger_page.goto(current_address(home))
                assert response is not None
                assert response.status == 200
                await other.close()
                await context.close()
            finally:
                await chromium.close()
    finally:
        server.terminate()
        server.wait(30)
