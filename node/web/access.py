"""Who may read the web view: the person who runs the node, and nobody else on the machine.

The convention people know from Jupyter:

- ``serve`` prints the view's address with a one-time token
  (``http://127.0.0.1:8471/?token=...``) and writes the same address to
  ``NODE_HOME/web-address``, readable by its owner only (0600); the file goes when the
  view stops (``commune status`` prints it while serve runs).
- The first visit with the token trades it for a cookie: a random value made for this
  run of the view (not the token), ``HttpOnly``, ``SameSite=Strict``, ``Path=/``, with no
  expiry (it lasts as long as the browser's session); the answer is a 303 to the same
  page without the token, so the token stays in no history and no Referer. The token is
  then spent: a new one is made and the file rewritten, so the file always holds an
  address that opens (for a second browser). A visit with a token and a good cookie is
  only redirected.
- A request with neither gets the refusal page (403, in the view's languages): it says
  the page is private and where its address is, and shows nothing of the node.
- ``/healthz`` and ``/metrics`` are also for machines (a watchdog, Prometheus): they
  take the cookie, or ``Authorization: Bearer`` with the token kept in
  ``NODE_HOME/metrics-token`` (0600, made by the first serve, kept across restarts so a
  scraper's settings stay valid; delete it and restart serve to change it).
- ``/calendar.ics`` is for a calendar app, which holds no cookie and sends no header of
  its own: it takes the cookie, or its key in the address (``?feed=``), kept in
  ``NODE_HOME/calendar-token`` (0600, made by the first serve, kept across restarts so a
  subscription stays valid; delete it and restart serve to change it). The calendar
  page shows the address to its owner.
- Static files (the style sheet, the script, the icon) hold no data and stay open.

Every secret is compared in constant time. The cookie's name carries the view's port:
browsers share cookies between the ports of one host, and several nodes may run on one
machine (``commune demo``).
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import web

from node import servelock
from node.home import write_private
from node.web import i18n
from node.web.state import STATE, language

#: the query parameter of the one-time token
QUERY_KEY = "token"
#: the scrape token of /healthz and /metrics, in the node folder
SCRAPE_FILE = "metrics-token"
#: routes a watchdog or Prometheus reads: the cookie or the scrape token lets them in
MACHINE_ROUTES = frozenset({"healthz", "metrics"})
#: the calendar feed's key, in the node folder, and its query parameter
FEED_FILE = "calendar-token"
FEED_KEY = "feed"
#: routes a calendar app reads: the cookie or the feed's key lets them in
FEED_ROUTES = frozenset({"calendar_feed"})
#: routes with no data, open to anyone who passes the Host check
OPEN_ROUTES = frozenset({"static"})

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def new_secret() -> str:
    return secrets.token_urlsafe(32)


def same(given: str | None, expected: str | None) -> bool:
    """Whether two secrets are equal, in constant time (None never matches)."""
    if not given or not expected:
        return False
    return hmac.compare_digest(
        given.encode("utf-8", "surrogateescape"), expected.encode("utf-8", "surrogateescape")
    )


def metrics_token(home: Path) -> str:
    """This node's scrape token: read from ``NODE_HOME/metrics-token``, or made there."""
    return kept_secret(home / SCRAPE_FILE)


def feed_key(home: Path) -> str:
    """This node's calendar feed key: read from ``NODE_HOME/calendar-token``, or made there."""
    return kept_secret(home / FEED_FILE)


def kept_secret(path: Path) -> str:
    """A secret kept in a file of the node folder (owner only): read, or made there."""
    try:
        token = path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        token = ""
    if len(token) < 32:
        token = new_secret()
        write_private(path, (token + "\n").encode("ascii"))
    return token


@dataclass
class Access:
    """The secrets of one run of the web view."""

    #: the view's address without a token: http://127.0.0.1:8471/
    base: str
    #: the cookie's name (with the port: see the module's docstring)
    cookie: str
    #: where the current address is kept (None: nowhere, only in memory)
    address_file: Path | None = None
    #: the scrape token of /healthz and /metrics (None: only the cookie opens them)
    scrape: str | None = None
    #: the key of /calendar.ics (None: only the cookie opens it)
    feed: str | None = None
    session: str = field(default_factory=new_secret)
    token: str = field(default_factory=new_secret)

    def address(self) -> str:
        """The address that lets one browser in, once."""
        return f"{self.base}?{QUERY_KEY}={self.token}"

    def publish(self) -> None:
        """Write the current address to its file (owner only)."""
        if self.address_file is not None:
            write_private(self.address_file, (self.address() + "\n").encode())

    def withdraw(self) -> None:
        """The view stopped: its address file goes."""
        if self.address_file is not None:
            servelock.forget_web_address(self.address_file.parent)

    def spend(self, given: str) -> bool:
        """Whether ``given`` is the current token; if so it is spent, and a new one is
        made and published."""
        if not same(given, self.token):
            return False
        self.token = new_secret()
        self.publish()
        return True

    def let_in(self, request: web.Request) -> bool:
        """Whether the request carries this run's cookie."""
        return same(request.cookies.get(self.cookie), self.session)

    def scraper(self, request: web.Request) -> bool:
        """Whether the request carries the scrape token (``Authorization: Bearer``)."""
        scheme, _, value = request.headers.get("Authorization", "").partition(" ")
        return scheme.lower() == "bearer" and same(value.strip(), self.scrape)

    def subscriber(self, request: web.Request) -> bool:
        """Whether the request carries the calendar feed's key (``?feed=``)."""
        return same(request.query.get(FEED_KEY), self.feed)


ACCESS = web.AppKey("access", Access)


def _without_token(request: web.Request) -> str:
    """Where to send the browser once it holds the cookie: the same page and query,
    without the token (and never to another host: ``//name`` is cut to ``/``)."""
    path = "/" + request.path.lstrip("/")
    query = [(k, v) for k, v in request.query.items() if k != QUERY_KEY]
    return str(request.rel_url.with_path(path).with_query(query))


@web.middleware
async def private(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Let in the owner's browser (its cookie, or the token it trades for one), a
    scraper with its token and a calendar app with the feed's key; refuse the rest with
    the refusal page."""
    route = request.match_info.route.name
    if route in OPEN_ROUTES:
        return await handler(request)
    access = request.app[ACCESS]
    inside = access.let_in(request)
    given = request.query.get(QUERY_KEY)
    if given is not None:
        # HEAD spends no token: a link previewer must not use up the owner's address
        if inside or (request.method == "GET" and access.spend(given)):
            response = web.Response(status=303, headers={"Location": _without_token(request)})
            if not inside:
                response.set_cookie(
                    access.cookie, access.session, path="/", httponly=True, samesite="Strict"
                )
            return response
        return refusal(request, used=True)
    if inside or (route in MACHINE_ROUTES and access.scraper(request)):
        return await handler(request)
    if route in FEED_ROUTES and access.subscriber(request):
        return await handler(request)
    return refusal(request)


def refusal(request: web.Request, *, used: bool = False) -> web.Response:
    """The page for whoever has no cookie: private, and how its owner gets the address.
    Nothing of the node is on it (no network, no member, no data)."""
    tr = i18n.Translator(language(request))
    title = tr("This page is private")
    if request.method == "HEAD":
        return web.Response(status=403, text=title + "\n", content_type="text/plain")
    access = request.app[ACCESS]
    where = str(access.address_file) if access.address_file is not None else ""
    page = request.app[STATE].env.get_template("private.html")
    body = page.render(_=tr, lang=tr.lang, title=title, where=where, used=used)
    return web.Response(status=403, text=body, content_type="text/html")
