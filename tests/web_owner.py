"""Getting into a node's web view the way its owner does (node/web/access.py): read the
address that the view keeps in ``NODE_HOME/web-address`` (or that ``serve`` printed) and
visit it once; the view trades its one-time token for a cookie, and the client keeps it.
"""

from __future__ import annotations

import http.cookiejar
import urllib.request
from pathlib import Path

import aiohttp
from yarl import URL

from node.servelock import WEB_ADDRESS_FILE, web_address
from node.web.access import SCRAPE_FILE


def address_file(home: Path) -> Path:
    return home / WEB_ADDRESS_FILE


def current_address(home: Path) -> str:
    """The address with its current one-time token, as the view keeps it."""
    found = web_address(home)
    assert found is not None, f"no web address in {address_file(home)}"
    return found


def owner_jar() -> aiohttp.CookieJar:
    """A cookie jar that keeps cookies of an IP address, as browsers do."""
    return aiohttp.CookieJar(unsafe=True)


async def let_in(session: aiohttp.ClientSession, address: str) -> str:
    """Visit ``address`` (with its token) once, as a browser does; the view's address
    without the token. The session's jar must keep IP cookies (:func:`owner_jar`)."""
    url = URL(address)
    async with session.get(url) as response:
        assert response.status == 200, (response.status, await response.text())
        assert [r.status for r in response.history] == [303]
        assert "token" not in response.url.query
    return str(url.with_query(None))


async def owner_session(home: Path) -> tuple[aiohttp.ClientSession, str]:
    """A client session let into the view of the node at ``home`` (the address from its
    file), with the view's address as its base URL; the address."""
    address = current_address(home)
    base = str(URL(address).with_query(None))
    session = aiohttp.ClientSession(base_url=base, cookie_jar=owner_jar())
    try:
        await let_in(session, address)
    except BaseException:
        await session.close()
        raise
    return session, base


def owner_opener(address: str) -> urllib.request.OpenerDirector:
    """A urllib opener let in with ``address`` (its cookie kept)."""
    opener = urllib.request.build_opener(
        urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
    )
    with opener.open(address, timeout=10) as response:
        assert response.status == 200
        assert "token=" not in response.url
    return opener


def scrape_headers(home: Path) -> dict[str, str]:
    """What a watchdog or Prometheus sends to /healthz and /metrics: the scrape token
    that the view keeps in ``NODE_HOME/metrics-token``."""
    token = (home / SCRAPE_FILE).read_text(encoding="ascii").strip()
    return {"Authorization": f"Bearer {token}"}
