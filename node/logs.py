"""Structured logs for ``serve``: one line per event of interest, never content or keys.

Two formats, both one line per event:

- ``text`` (the default): **logfmt**, ``key=value`` pairs, for the people who run a node
  and read ``journalctl -u commune`` or ``docker logs``: readable as it is, and still
  parsed by log tools (Loki, Vector, ``grep event=sync.failed``);
- ``json``: one JSON object a line, for a log shipper that wants JSON.

Every line starts with ``time`` (ISO 8601 UTC, milliseconds), ``level`` and ``event``
(``sync.ok``, ``sync.failed``, ``peer.penalised``, ``web.start``, ...), then the
event's fields. Log an event with :func:`event`::

    logs.event(log, "sync.ok", peer=url, received=12, node=logs.short_id(node_id))

What keeps secrets out (:func:`safe_value`, used for every field and every argument of
a plain message): a field whose name says it is secret (passphrase, key, token, ...)
is withheld; a ``bytes`` value longer than 8 bytes is withheld (give node ids through
:func:`short_id`); every address in text (a URL, an IP address, an .onion name, a
host:port) becomes ``[address]``, since where the peers are is what a seized log must
not tell (a peer is named by its short node id instead; ``status`` maps ids to
addresses); any run of 32 or more hex digits in text (an id, a key) is cut to its
first 12 digits; text is cut at 500 characters. Event content never reaches a log
call in the first place: nothing in ``node/`` passes a payload to one.
"""

from __future__ import annotations

import datetime
import json
import logging
import re
import sys
import traceback
from collections.abc import Mapping
from typing import IO, Any

FORMATS = ("text", "json")
LEVELS = ("debug", "info", "warning", "error")
#: bytes values up to this long are logged (as hex); longer ones are withheld
MAX_BYTES = 8
MAX_TEXT = 500
#: field names that are never logged with their value
SECRET_WORDS = ("passphrase", "password", "secret", "key", "token", "seed", "signing")
WITHHELD = "[withheld]"

_EVENT = "commune_event"
_FIELDS = "commune_fields"
_HEX_RUN = re.compile(r"[0-9a-fA-F]{32,}")
#: what an address of a peer becomes in a log line
ADDRESS = "[address]"
#: a URL, an IPv4 or bracketed IPv6 address, an .onion name, or any host:port
_ADDRESS = re.compile(
    r"\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s'\"<>,;)]*[^\s'\"<>,;):.]"
    r"|\[[0-9a-fA-F:.]+\](?::\d+)?"
    r"|\b\d{1,3}(?:\.\d{1,3}){3}(?::\d+)?\b"
    r"|\b[a-z2-7]{16,56}\.onion(?::\d+)?\b"
    r"|\b[a-zA-Z0-9-]+(?:\.[a-zA-Z0-9-]+)+:\d{1,5}\b"
)
_BARE = re.compile(r"[^\s\"=\\]+\Z")
_MARK = "_commune_handler"

# A library logs to "commune.*"; until ``setup_logging`` runs (only ``serve`` calls it),
# nothing is printed, rather than Python's last-resort handler writing bare messages
# into a command's output.
logging.getLogger("commune").addHandler(logging.NullHandler())

#: messages logged as plain text elsewhere in node/, read as events with fields
KNOWN_MESSAGES: dict[str, tuple[str, tuple[str, ...]]] = {
    "sync with %s failed (%d in a row): %s": ("sync.failed", ("peer", "failures", "error")),
    "synced with %s: %s": ("sync.ok", ("peer", "summary")),
    "peer %s… broke the protocol: %s": ("peer.penalised", ("node", "error")),
    "web view: %s": ("web.error", ("error",)),
}


def short_id(node_id: bytes | None) -> str:
    """A node id (or any id) as logs show it: its first 12 hex digits."""
    return "" if node_id is None else bytes(node_id).hex()[:12]


def event(logger: logging.Logger, name: str, level: int = logging.INFO, **fields: Any) -> None:
    """Log the event ``name`` with ``fields`` (each made safe by :func:`safe_value`).
    The record's message is the same line without time and level, for a handler that
    does not use this module's formatters."""
    if logger.isEnabledFor(level):
        text = " ".join([name, *(f"{k}={_logfmt(safe_value(k, v))}" for k, v in fields.items())])
        logger.log(level, "%s", text, extra={_EVENT: name, _FIELDS: fields})


def _secret_name(name: str) -> bool:
    lowered = name.lower()
    return any(word in lowered for word in SECRET_WORDS)


def safe_value(name: str, value: object) -> str | int | float | bool | None:
    """``value`` as it may appear in a log line (see the module's docstring)."""
    if _secret_name(name):
        return WITHHELD
    if isinstance(value, bytes | bytearray | memoryview):
        raw = bytes(value)
        return raw.hex() if len(raw) <= MAX_BYTES else f"[{len(raw)} bytes withheld]"
    if value is None or isinstance(value, bool | int | float):
        return value
    return safe_text(str(value))


def safe_text(text: str) -> str:
    text = _ADDRESS.sub(ADDRESS, text)
    text = _HEX_RUN.sub(lambda m: m.group(0)[:12] + "…", text)
    return text if len(text) <= MAX_TEXT else text[: MAX_TEXT - 1] + "…"


def _safe_arg(value: object) -> object:
    if isinstance(value, bytes | bytearray | memoryview):
        return safe_value("", value)
    return value


def fields_of(record: logging.LogRecord) -> dict[str, Any]:
    """The ordered fields of one line: time, level, event, then the event's own."""
    moment = datetime.datetime.fromtimestamp(record.created, tz=datetime.UTC)
    out: dict[str, Any] = {
        "time": moment.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "level": record.levelname.lower(),
    }
    name = getattr(record, _EVENT, None)
    given: Mapping[str, Any] | None = getattr(record, _FIELDS, None)
    if name is not None and given is not None:
        out["event"] = safe_text(str(name))
        for key, value in given.items():
            if key not in out:
                out[key] = safe_value(key, value)
    else:
        out.update(_plain(record))
    if record.exc_info and record.exc_info[1] is not None:
        error = record.exc_info[1]
        out["error"] = safe_text(f"{type(error).__name__}: {error}")
        trace = "".join(traceback.format_exception(*record.exc_info))
        out["traceback"] = safe_text(trace)[-MAX_TEXT:]
    return out


def _plain(record: logging.LogRecord) -> dict[str, Any]:
    """A message logged with ``log.info("...", args)``: a known one becomes an event with
    fields; any other is ``event=<logger>`` and its text, made safe."""
    args = record.args if isinstance(record.args, tuple) else ()
    known = KNOWN_MESSAGES.get(str(record.msg))
    if known is not None and len(args) == len(known[1]):
        name, keys = known
        return {"event": name, **{k: safe_value(k, v) for k, v in zip(keys, args, strict=True)}}
    logger = record.name.removeprefix("commune.")
    try:
        text = str(record.msg) % tuple(_safe_arg(a) for a in args) if args else str(record.msg)
    except (TypeError, ValueError):
        text = str(record.msg)
    return {"event": logger, "msg": safe_text(text)}


def _logfmt(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    text = str(value)
    if text and _BARE.match(text) and text.isprintable():
        return text
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    escaped = escaped.replace("\n", "\\n").replace("\r", "\\r").replace("\t", "\\t")
    escaped = "".join(c if c.isprintable() else f"\\u{ord(c):04x}" for c in escaped)
    return f'"{escaped}"'


class LogfmtFormatter(logging.Formatter):
    """``time=… level=info event=sync.ok peer=https://… received=3``"""

    def format(self, record: logging.LogRecord) -> str:
        return " ".join(f"{key}={_logfmt(value)}" for key, value in fields_of(record).items())


class JsonFormatter(logging.Formatter):
    """``{"time": "…", "level": "info", "event": "sync.ok", …}``"""

    def format(self, record: logging.LogRecord) -> str:
        return json.dumps(fields_of(record), ensure_ascii=False, default=str)


def setup_logging(fmt: str = "text", level: str = "info", stream: IO[str] | None = None) -> None:
    """Log ``commune.*`` events from ``level`` up (other libraries from warning up) to
    ``stream`` (stderr), one line each, as logfmt (``text``) or JSON lines (``json``).
    Calling it again replaces what an earlier call set up."""
    if fmt not in FORMATS:
        raise ValueError(f"the log format is text or json, not {fmt!r}")
    if level.lower() not in LEVELS:
        raise ValueError(f"the log level is one of {', '.join(LEVELS)}, not {level!r}")
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else LogfmtFormatter())
    setattr(handler, _MARK, True)
    root = logging.getLogger()
    for old in list(root.handlers):
        # ours from an earlier call, and a plain one (``logging.basicConfig``)
        if getattr(old, _MARK, False) or type(old) is logging.StreamHandler:
            root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(logging.WARNING)
    logging.getLogger("commune").setLevel(level.upper())
