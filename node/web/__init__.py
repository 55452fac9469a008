"""The local, read-only web view (``commune serve --web``): what a member sees of the
network, its collectives, reports, plans, contacts and sync, in English or Spanish.

Public surface::

    make_app(node, keys, *, host, port, daemon=None) -> aiohttp.web.Application
    await start_web(node, keys, *, host, port, daemon=None, allow_public=False)
        -> (runner, port)                  stop with ``await runner.cleanup()``
    address(runner) -> str                 its address with the current one-time token
    check_bind(host, allow_public) -> warning or None; raises PublicBind

Routes (GET and HEAD only; anything else is 405): ``/`` overview, ``/reports``,
``/plans``, ``/contacts``, ``/events``, ``/event/{id}``, ``/activity``, ``/live``
(server-sent events), ``/static/{style.css,live.js,icon.svg}``, ``/healthz`` (JSON) and
``/metrics`` (Prometheus text format).

Only the node's owner reads it (node/web/access.py): the address that ``serve`` prints
and keeps in ``NODE_HOME/web-address`` carries a one-time token that a browser trades for
a cookie; a request without one gets a refusal page (403). Static files stay open;
``/healthz`` and ``/metrics`` also take the scrape token of ``NODE_HOME/metrics-token``.
"""

from node.errors import PublicBind
from node.web.app import DEFAULT_WEB_PORT, SECURITY_HEADERS, address, make_app, start_web
from node.web.bind import check_bind

__all__ = [
    "DEFAULT_WEB_PORT",
    "SECURITY_HEADERS",
    "PublicBind",
    "address",
    "check_bind",
    "make_app",
    "start_web",
]
