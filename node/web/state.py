"""What the web view's handlers share: its state, its templates, the request's language."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2
from aiohttp import web

from crypto.errors import CommuneError
from crypto.identity import NodeKeys
from node.daemon import Daemon
from node.service import Node
from node.waiting import wait_event
from node.web import i18n
from node.web.data import Reader

HERE = Path(__file__).resolve().parent
LANG_COOKIE = "lang"


class Live:
    """Tells the open streams when the log grew or a sync round ended."""

    def __init__(self) -> None:
        self.grew = 0
        self.synced = 0
        self.closing = False
        self._changed = asyncio.Event()

    def bump(self, *, grew: bool = False, synced: bool = False) -> None:
        self.grew += grew
        self.synced += synced
        self._changed.set()
        self._changed = asyncio.Event()

    async def wait(self, timeout: float) -> None:
        await wait_event(self._changed, timeout)

    def close(self) -> None:
        self.closing = True
        self.bump()


#: calendar pages kept drawn (a week and a month, in a few zones and languages)
CALENDAR_PAGES = 16


@dataclass
class WebState:
    node: Node
    keys: NodeKeys | None
    daemon: Daemon | None
    host: str
    port: int
    env: jinja2.Environment
    reader: Reader | None = None
    live: Live = field(default_factory=Live)
    #: url -> (the last good sync seen, the log's last row then): how far behind it is
    peer_marks: dict[str, tuple[float, int]] = field(default_factory=dict)
    #: private items opened in memory, by kind: (the log's mark, the rows); never on disk
    private: dict[str, tuple[tuple[int, int], list[dict[str, Any]]]] = field(default_factory=dict)
    static: dict[str, bytes] = field(default_factory=dict)
    #: the calendar feed as last written: ((the log's mark, the day, the language), the
    #: text); written again once the log grows or the day changes
    feed: tuple[tuple[Any, ...], bytes] | None = None
    #: calendar pages as last drawn, by what they depend on (node/web/calendar.py
    #: ``calendar_page``): the most recent :data:`CALENDAR_PAGES`, oldest first
    calendar: dict[tuple[Any, ...], bytes] = field(default_factory=dict)

    @property
    def data(self) -> Reader:
        if self.reader is None:
            raise CommuneError("the web view is not running")
        return self.reader


STATE = web.AppKey("state", WebState)


def environment() -> jinja2.Environment:
    """Templates with every value escaped unless marked safe (the SVG pictures)."""
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def language(request: web.Request) -> str:
    return i18n.choose(
        request.query.get("lang"),
        request.cookies.get(LANG_COOKIE),
        request.headers.get("Accept-Language"),
    )
