"""The web view's aiohttp application: routes, guards, headers, live updates.

Every request passes, in order: the Host check (421 for a name that is not this
view's address: DNS rebinding), the method check (anything but GET and HEAD is 405:
no route writes), the owner check (node/web/access.py: the cookie, or the one-time token
that a browser trades for it; else the refusal page, 403), the page, and the error page
for whatever went wrong. Every response, error pages, the refusal page and static files
included, carries the security headers.

``/healthz`` and ``/metrics`` (node/web/metrics.py) say how the node is doing, for a
watchdog and for Prometheus; every request is counted in the node's metrics.

Live updates: a watcher looks at the log a few times a second; ``/live`` is a
server-sent-event stream that says ``grew`` when the log grew (and ``peers`` when a
sync round with a peer ended), and ``static/live.js`` reloads the page.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

from aiohttp import web

from crypto.errors import CommuneError
from crypto.identity import NodeKeys
from node import gate, logs, servelock
from node.daemon import Daemon
from node.service import Node
from node.web import access, activity, events, i18n, pages
from node.web import calendar as web_calendar
from node.web import metrics as web_metrics
from node.web.bind import check_bind, host_allowed
from node.web.data import Reader
from node.web.i18n import N_
from node.web.state import HERE, LANG_COOKIE, STATE, WebState, environment, language
from protocol.kinds import POSTABLE

log = logging.getLogger("commune.web")

DEFAULT_WEB_PORT = 8471
WATCH_EVERY = 0.25
KEEPALIVE = 15.0
ALLOWED_METHODS = ("GET", "HEAD")

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self' data:; script-src 'self'; "
        "connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Cache-Control": "no-store",
}

STATIC_TYPES = {
    "style.css": "text/css",
    "live.js": "text/javascript",
    "icon.svg": "image/svg+xml",
}


def make_app(
    node: Node,
    keys: NodeKeys | None,
    *,
    host: str,
    port: int,
    daemon: Daemon | None = None,
    address_file: Path | None = None,
    scrape: str | None = None,
    feed: str | None = None,
) -> web.Application:
    """The read-only web view of ``node``, answering only at ``host:port``. With
    ``keys`` it shows the private items this node can open (in memory); with
    ``daemon`` it shows how syncing with each peer goes. Only its owner reads it
    (node/web/access.py): ``address_file`` is where its address with the current
    one-time token is kept, ``scrape`` the token of /healthz and /metrics, ``feed`` the
    key of /calendar.ics."""
    state = WebState(node, keys, daemon, host, port, environment())
    state.static = {name: (HERE / "static" / name).read_bytes() for name in STATIC_TYPES}
    app = web.Application(
        middlewares=[_gated, _errors, _guard, access.private], client_max_size=1024
    )
    app[STATE] = state
    shown = f"[{host}]" if ":" in host else host
    app[access.ACCESS] = access.Access(
        f"http://{shown}:{port}/", f"commune-{port}", address_file, scrape, feed
    )
    app[GATE] = gate.Gate(WEB_LIMITS)
    app.on_response_prepare.append(_headers)
    app.cleanup_ctx.append(_running)
    app.on_shutdown.append(_shutdown)
    app.router.add_get("/", pages.overview, name="overview")
    for spec in POSTABLE.values():  # /reports, /plans, /contacts: a list for each kind
        app.router.add_get("/" + spec.plural, pages.list_page(spec), name=spec.plural)
    app.router.add_get("/events", events.events, name="events")
    app.router.add_get(r"/event/{id:[0-9a-f]{64}}", events.event, name="event")
    app.router.add_get("/activity", activity.activity, name="activity")
    app.router.add_get("/calendar", web_calendar.calendar_page, name="calendar")
    app.router.add_get("/calendar.ics", web_calendar.calendar_feed, name="calendar_feed")
    app.router.add_get("/live", live_stream, name="live")
    app.router.add_get(r"/static/{name}", static_file, name="static")
    app.router.add_get("/healthz", web_metrics.healthz, name="healthz")
    app.router.add_get("/metrics", web_metrics.metrics_page, name="metrics")
    return app


async def start_web(
    node: Node,
    keys: NodeKeys | None,
    *,
    host: str = "127.0.0.1",
    port: int = DEFAULT_WEB_PORT,
    daemon: Daemon | None = None,
    allow_public: bool = False,
) -> tuple[web.AppRunner, int]:
    """Listen on host:port (0: a free port) and serve the web view; the runner (stop it
    with ``await runner.cleanup()``) and the port it listens on. Refuses an address
    other machines can reach unless ``allow_public`` (:func:`check_bind`).

    Its address with a one-time token (:func:`address`) is written to
    ``NODE_HOME/web-address`` (0600) and removed when the runner is cleaned up; the
    scrape token of /healthz and /metrics is in ``NODE_HOME/metrics-token``."""
    check_bind(host, allow_public)
    home = node.home.path
    scrape = access.metrics_token(home)
    feed = access.feed_key(home)
    sock = _listen(host, port)
    try:
        actual = int(sock.getsockname()[1])
        app = make_app(
            node,
            keys,
            host=host,
            port=actual,
            daemon=daemon,
            address_file=home / servelock.WEB_ADDRESS_FILE,
            scrape=scrape,
            feed=feed,
        )
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=5.0)
        await runner.setup()
        await _GatedSite(runner, sock, app[GATE]).start()
        app[access.ACCESS].publish()
    except BaseException:
        sock.close()
        raise
    logs.event(log, "web.start", address=app[access.ACCESS].base)
    return runner, actual


def address(runner: web.AppRunner) -> str:
    """The address, with its current one-time token, that lets a browser into the view
    that ``runner`` runs (as kept in ``NODE_HOME/web-address``)."""
    return runner.app[access.ACCESS].address()


def _listen(host: str, port: int) -> socket.socket:
    try:
        infos = socket.getaddrinfo(
            host.strip("[]"), port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )
        family, kind, proto, _, address = infos[0]
        sock = socket.socket(family, kind, proto)
    except OSError as e:
        raise CommuneError(f"the web view cannot listen on {host}:{port}: {e}") from None
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(128)
        sock.setblocking(False)
    except OSError as e:
        sock.close()
        raise CommuneError(
            f"the web view cannot listen on {host}:{port}: {e.strerror or e} (is another "
            "program using that port? choose another with --web HOST:PORT)"
        ) from None
    return sock


# --- guards and headers ---------------------------------------------------------------

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def _guard(request: web.Request, handler: Handler) -> web.StreamResponse:
    state = request.app[STATE]
    if not host_allowed(request.headers.get("Host"), state.host, state.port):
        raise web.HTTPMisdirectedRequest()
    if request.method not in ALLOWED_METHODS:
        raise web.HTTPMethodNotAllowed(request.method, ALLOWED_METHODS)
    response = await handler(request)
    chosen = request.query.get("lang")
    if chosen in i18n.LANGUAGES and not response.prepared:
        response.set_cookie(
            LANG_COOKIE, chosen, max_age=365 * 86400, path="/", httponly=True, samesite="Strict"
        )
    return response


_ERRORS = {
    404: (N_("Not found"), N_("This page does not exist.")),
    405: (N_("Only reading"), N_("This view is read-only: nothing can be sent to it.")),
    421: (N_("Wrong address"), N_("This node's page answers only at its own address.")),
}
_WRONG = N_("Something went wrong")


#: the web view's connections: read by one person's browser on this machine, so a slow or
#: idle connection is closed sooner than a member's (node/gate.py)
WEB_LIMITS = gate.Limits(max_open=256, header_timeout=10.0, idle_timeout=15.0)
GATE = web.AppKey("gate", gate.Gate)


@web.middleware
async def _gated(request: web.Request, handler: Handler) -> web.StreamResponse:
    """A request read whole: the gate's header and idle deadlines pause meanwhile."""
    door = request.app[GATE]
    door.busy(request.transport)
    try:
        return await handler(request)
    finally:
        door.done(request.transport)


class _GatedSite(web.SockSite):
    """A site whose connections pass the app's gate first (node/gate.py)."""

    def __init__(self, runner: web.AppRunner, sock: socket.socket, door: gate.Gate) -> None:
        super().__init__(runner, sock)
        self._door = door

    async def start(self) -> None:
        await web.BaseSite.start(self)
        server = self._runner.server
        assert server is not None
        self._server = await asyncio.get_running_loop().create_server(
            self._door.factory(server),
            sock=self._sock,
            backlog=self._backlog,
        )


@web.middleware
async def _errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except web.HTTPException as e:
        if e.status < 400:
            raise
        title, text = _ERRORS.get(e.status, (_WRONG, e.reason))
        response = error_page(request, e.status, title, text)
        if "Allow" in e.headers:
            response.headers["Allow"] = e.headers["Allow"]
        return response
    except CommuneError as e:
        log.warning("web view: %s", e.message)
        return error_page(request, 500, _WRONG, e.message)


def error_page(request: web.Request, status: int, title: str, text: str) -> web.Response:
    tr = i18n.Translator(language(request))
    if request.method == "HEAD" or status == 421:
        # a misdirected request gets no page: it is not for this node
        return web.Response(status=status, text=tr(title) + "\n", content_type="text/plain")
    page = request.app[STATE].env.get_template("error.html")
    body = page.render(_=tr, lang=tr.lang, title=tr(title), text=tr(text), status=status)
    return web.Response(status=status, text=body, content_type="text/html")


async def _headers(request: web.Request, response: web.StreamResponse) -> None:
    response.headers.update(SECURITY_HEADERS)
    web_metrics.count_request(request, response)


# --- static files and the live stream --------------------------------------------------


async def static_file(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    body = request.app[STATE].static.get(name)
    if body is None:
        raise web.HTTPNotFound()
    return web.Response(body=body, content_type=STATIC_TYPES[name], charset="utf-8")


async def live_stream(request: web.Request) -> web.StreamResponse:
    """Server-sent events: ``grew`` when the log grew, ``peers`` after a sync round."""
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream; charset=utf-8"})
    if request.method == "HEAD":
        return response
    live = request.app[STATE].live
    await response.prepare(request)
    grew, synced = live.grew, live.synced
    try:
        await response.write(b"retry: 3000\nevent: hello\ndata: ok\n\n")
        while not live.closing:
            await live.wait(KEEPALIVE)
            if live.closing:
                break
            if live.grew != grew:
                grew = live.grew
                await response.write(f"event: grew\ndata: {grew}\n\n".encode())
            elif live.synced != synced:
                synced = live.synced
                await response.write(f"event: peers\ndata: {synced}\n\n".encode())
            else:
                await response.write(b": still here\n\n")
    except (ConnectionError, RuntimeError):
        pass  # the browser went away
    return response


async def _watch(state: WebState) -> None:
    reader = state.data
    mark = reader.mark()
    seen_peers: tuple[Any, ...] = ()
    while True:
        await asyncio.sleep(WATCH_EVERY)
        try:
            now = reader.mark()
        except CommuneError as e:
            log.warning("web view: %s", e.message)
            continue
        if now != mark:
            mark = now
            state.live.bump(grew=True)
        peers = state.daemon.peers if state.daemon is not None else {}
        for url, peer in peers.items():
            if peer.last_ok is not None and state.peer_marks.get(url, (None,))[0] != peer.last_ok:
                state.peer_marks[url] = (peer.last_ok, mark[0])
        snapshot = tuple((u, p.last_ok, p.failures) for u, p in sorted(peers.items()))
        if snapshot != seen_peers:
            seen_peers = snapshot
            state.live.bump(synced=True)


async def _running(app: web.Application) -> AsyncIterator[None]:
    state = app[STATE]
    state.reader = Reader(state.node)
    watcher = asyncio.create_task(_watch(state), name="web-watch")
    try:
        yield
    finally:
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher
        state.private.clear()
        state.reader.close()
        state.reader = None
        app[access.ACCESS].withdraw()


async def _shutdown(app: web.Application) -> None:
    app[STATE].live.close()
    logs.event(log, "web.stop", port=app[STATE].port)
