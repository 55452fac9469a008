"""A node's settings file (TOML): where it listens, whom it calls and how, its limits.

``commune serve --config FILE`` reads ``FILE`` (or ``$COMMUNE_CONFIG``); without either,
``NODE_HOME/node.toml`` when it exists; else every setting keeps its default. Command-line
options override the file: defaults < file < options. Every setting, its default and why
it exists is in :data:`SETTINGS` (and docs/CLI.md, ``serve``)::

    [sync]
    listen = "0.0.0.0:8470"        # the sync server (mutual TLS: members only); unset:
                                   # 127.0.0.1:8470, or every interface at the port of
                                   # the first address advertised (listen_address)
    advertise = ["https://203.0.113.7:8470"]
    interval = 60                  # seconds between rounds with each peer
    parallel = 4                   # peers synced at once

    [web]
    listen = "127.0.0.1:8471"
    enabled = true
    public = false                 # true to listen where other machines reach it

    [peers]
    urls = ["https://198.51.100.4:8470", "https://abc…xyz.onion:8470"]

    [network]
    proxy = "socks5://127.0.0.1:9050"   # Tor's SOCKS port: .onion peers go through it
    proxy_all = false                   # true: every peer goes through it

    [log]
    format = "text"                # text (logfmt) or json: one line per event of interest
    level = "info"                 # debug, info, warning or error

    [limits]
    connect_timeout = 60           # default 15 s, 60 s with a proxy (Tor is slow to connect)
    read_timeout = 30              # a peer must send something this often
    request_time = 600             # no pull or push may last longer
    max_connections = 768          # open at most (and within the open-file limit)
    connections_per_address = 16   # in their handshake at once, from one address
    handshake_timeout = 10         # seconds
    header_timeout = 10            # seconds for a request's headers
    idle_timeout = 150             # seconds a member's connection may idle

Only the limits a collective may need to tune are here (slow links, Tor); the protocol's
own limits (sizes of hellos, batches and events) are fixed, the same on every node.

A wrong file is refused whole with one error naming the file, the key and what is
wrong; so is a key this module does not know (a typo would otherwise be ignored).

Why this module is long (about 520 lines): most of it is :data:`SETTINGS`, one entry per
setting with its check and its reason, which docs/CLI.md follows; splitting the table
from its checks would only scatter it.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import os
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from node.errors import BadPeerAddress, ConfigError
from node.peers import check_url

#: the file ``serve`` reads from the node folder when no ``--config`` is given
FILE_NAME = "node.toml"
SYNC_PORT = 8470
WEB_PORT = 8471
#: connecting through Tor builds a circuit first, which often takes tens of seconds
CONNECT_TIMEOUT = 15.0
CONNECT_TIMEOUT_PROXIED = 60.0


@dataclass(frozen=True, slots=True)
class Config:
    """A node's settings; the defaults are those of a node without a settings file."""

    #: the file these came from (None: defaults only)
    source: Path | None = None
    #: None: not set; :func:`listen_address` decides from ``advertise``
    listen: str | None = None
    advertise: tuple[str, ...] = ()
    interval: float = 60.0
    parallel: int = 4
    web_listen: str = f"127.0.0.1:{WEB_PORT}"
    web_enabled: bool = True
    web_public: bool = False
    peers: tuple[str, ...] = ()
    proxy: str | None = None
    proxy_all: bool = False
    #: None: CONNECT_TIMEOUT, or CONNECT_TIMEOUT_PROXIED when a proxy is set
    connect_timeout: float | None = None
    read_timeout: float = 30.0
    request_time: float = 600.0
    #: the sync server's gate (node/gate.py)
    max_connections: int = 768
    connections_per_address: int = 16
    handshake_timeout: float = 10.0
    header_timeout: float = 10.0
    idle_timeout: float = 150.0
    log_format: str = "text"
    log_level: str = "info"

    @property
    def connect_seconds(self) -> float:
        if self.connect_timeout is not None:
            return self.connect_timeout
        return CONNECT_TIMEOUT_PROXIED if self.proxy else CONNECT_TIMEOUT

    def replace(self, **changes: object) -> Config:
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]


class _Bad(ValueError):
    """What is wrong with one value (the loader adds the file and the key)."""


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


# --- the checks, one per kind of value ------------------------------------------------


def split_address(text: str, default_port: int) -> tuple[str, int]:
    """``HOST:PORT``, ``[IPv6]:PORT``, or a host alone (the default port) → (host, port);
    ValueError saying what is wrong."""
    wrong = f"wants HOST:PORT (for example 0.0.0.0:{default_port}), not {text!r}"
    port = str(default_port)
    if text.startswith("["):
        host, bracket, rest = text[1:].partition("]")
        if not bracket or (rest and not rest.startswith(":")):
            raise ValueError(wrong)
        port = rest[1:] if rest else port
    elif text.count(":") == 1:
        host, port = text.split(":")
    else:
        host = text  # a host alone, or an IPv6 address without brackets
    if not host or any(c.isspace() for c in host):
        raise ValueError(wrong)
    if not port.isdigit():
        raise ValueError(wrong)
    number = int(port)
    if not 0 <= number < 65536:
        raise ValueError(f"the port {number} is out of range (0 to 65535)")
    return host, number


def _address(default_port: int) -> Callable[[object], object]:
    def check(value: object) -> object:
        if not isinstance(value, str):
            raise _Bad(f'wants a string "HOST:PORT", not {_shown(value)}')
        try:
            split_address(value, default_port)
        except ValueError as e:
            raise _Bad(str(e)) from None
        return value

    return check


def _seconds(low: float, high: float) -> Callable[[object], object]:
    def check(value: object) -> object:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise _Bad(f"wants a number of seconds, not {_shown(value)}")
        if not math.isfinite(value) or not low <= value <= high:
            raise _Bad(f"wants between {low:g} and {high:g} seconds, not {value:g}")
        return float(value)

    return check


def _count(low: int, high: int) -> Callable[[object], object]:
    def check(value: object) -> object:
        if isinstance(value, bool) or not isinstance(value, int):
            raise _Bad(f"wants a whole number, not {_shown(value)}")
        if not low <= value <= high:
            raise _Bad(f"wants a number from {low} to {high}, not {value}")
        return value

    return check


def _flag(value: object) -> object:
    if not isinstance(value, bool):
        raise _Bad(f"wants true or false (no quotes), not {_shown(value)}")
    return value


def _urls(value: object) -> object:
    if not isinstance(value, list):
        raise _Bad(f'wants a list of addresses, ["https://HOST:PORT", ...], not {_shown(value)}')
    urls: list[str] = []
    for item in value:
        if not isinstance(item, str):
            raise _Bad(f"wants addresses as strings, not {_shown(item)}")
        try:
            url = check_url(item)
        except BadPeerAddress as e:
            raise _Bad(e.message) from None
        if url not in urls:
            urls.append(url)
    return tuple(urls)


def check_proxy(value: object) -> str:
    """A SOCKS5 proxy's address, ``socks5://[USER:PASSWORD@]HOST:PORT``; ValueError if
    wrong. (With Tor, a user name and password only keep different uses of the proxy on
    different circuits; Tor checks neither.)"""
    if not isinstance(value, str):
        raise _Bad(f'wants a string "socks5://HOST:PORT", not {_shown(value)}')
    example = "socks5://HOST:PORT (Tor's is socks5://127.0.0.1:9050)"
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError:
        raise _Bad(f"wants {example}, not {value!r}") from None
    if parts.scheme != "socks5" or not parts.hostname or port is None:
        raise _Bad(f"wants {example}, not {value!r}")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise _Bad(f"wants {example}, with nothing after the port, not {value!r}")
    return value.rstrip("/")


def _choice(*choices: str) -> Callable[[object], object]:
    def check(value: object) -> object:
        if not isinstance(value, str) or value.lower() not in choices:
            listed = ", ".join(f'"{c}"' for c in choices)
            raise _Bad(f"wants one of {listed}, not {_shown(value)}")
        return value.lower()

    return check


# --- the table -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Setting:
    section: str
    key: str
    #: the Config attribute it sets (its default is the attribute's)
    field: str
    check: Callable[[object], object]
    help: str


SETTINGS: tuple[Setting, ...] = (
    Setting(
        "sync",
        "listen",
        "listen",
        _address(SYNC_PORT),
        "HOST:PORT of the sync server; only members' certificates are accepted (--listen)",
    ),
    Setting(
        "sync",
        "advertise",
        "advertise",
        _urls,
        "addresses other members can reach this node at, published in the log (--advertise)",
    ),
    Setting(
        "sync",
        "interval",
        "interval",
        _seconds(1, 86400),
        "seconds between rounds with each peer; live updates go faster (--interval)",
    ),
    Setting(
        "sync",
        "parallel",
        "parallel",
        _count(1, 64),
        "how many peers are synced at once (--parallel)",
    ),
    Setting(
        "web",
        "listen",
        "web_listen",
        _address(WEB_PORT),
        "HOST:PORT of the read-only web view (--web)",
    ),
    Setting("web", "enabled", "web_enabled", _flag, "false: no web view (--no-web)"),
    Setting(
        "web",
        "public",
        "web_public",
        _flag,
        "true: the web view may listen where other machines reach it (--web-public)",
    ),
    Setting(
        "peers",
        "urls",
        "peers",
        _urls,
        "peers to sync with, added to the node's list at start as `peer add` does",
    ),
    Setting(
        "network",
        "proxy",
        "proxy",
        check_proxy,
        "a SOCKS5 proxy (Tor's) that .onion peers are dialled through (--proxy)",
    ),
    Setting(
        "network",
        "proxy_all",
        "proxy_all",
        _flag,
        "true: every peer is dialled through the proxy, not only .onion ones (--proxy-all)",
    ),
    Setting(
        "log",
        "format",
        "log_format",
        _choice("text", "json"),
        "text (logfmt, key=value) or json (one object a line) (--log-format)",
    ),
    Setting(
        "log",
        "level",
        "log_level",
        _choice("debug", "info", "warning", "error"),
        "the least important events logged: debug, info, warning or error (--log-level)",
    ),
    Setting(
        "limits",
        "connect_timeout",
        "connect_timeout",
        _seconds(1, 600),
        "seconds to connect to a peer, TLS included (default 15; 60 with a proxy)",
    ),
    Setting(
        "limits",
        "read_timeout",
        "read_timeout",
        _seconds(1, 3600),
        "a peer that sends nothing for this many seconds during a request is dropped",
    ),
    Setting(
        "limits",
        "request_time",
        "request_time",
        _seconds(10, 86400),
        "no pull or push may last longer than this many seconds",
    ),
    Setting(
        "limits",
        "max_connections",
        "max_connections",
        _count(16, 100_000),
        "connections the sync server keeps open at most (and never more than the process's "
        "open-file limit allows); beyond it a new one is closed at once",
    ),
    Setting(
        "limits",
        "connections_per_address",
        "connections_per_address",
        _count(1, 10_000),
        "connections from one address not yet known to be a member's (in their TLS "
        "handshake) the sync server allows at once",
    ),
    Setting(
        "limits",
        "handshake_timeout",
        "handshake_timeout",
        _seconds(1, 300),
        "seconds a TLS handshake may take before the connection is closed",
    ),
    Setting(
        "limits",
        "header_timeout",
        "header_timeout",
        _seconds(1, 300),
        "seconds a request's headers may take to arrive, from its first byte",
    ),
    Setting(
        "limits",
        "idle_timeout",
        "idle_timeout",
        _seconds(5, 3600),
        "seconds a member's connection may stay idle between requests (kept longer than "
        "the sync interval, so periodic rounds reuse it)",
    ),
)

SECTIONS: dict[str, dict[str, Setting]] = {}
for _setting in SETTINGS:
    SECTIONS.setdefault(_setting.section, {})[_setting.key] = _setting


def _hint(word: str, choices: list[str]) -> str:
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.5)
    return f" (did you mean {close[0]!r}?)" if close else ""


# --- loading ---------------------------------------------------------------------------


def default_path(home: Path) -> Path:
    return home / FILE_NAME


def load(path: Path) -> Config:
    """The settings in ``path``; ConfigError naming the file, the key and the fault."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such settings file") from None
    except OSError as e:
        raise ConfigError(f"{path}: cannot read it: {e.strerror}") from None
    try:
        document = tomllib.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not a TOML file (it is not UTF-8 text)") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: not valid TOML: {e}") from None
    values: dict[str, object] = {}
    for section, table in document.items():
        if not isinstance(table, dict):
            homes = [f"[{s}]" for s, keys in SECTIONS.items() if section in keys]
            where = " or ".join(homes) if homes else "its section"
            raise ConfigError(
                f"{path}: {section}: outside any section; put it under {where} (a line of "
                "its own above the keys of that section)"
            )
        known = SECTIONS.get(section)
        if known is None:
            raise ConfigError(
                f"{path}: unknown section [{section}]{_hint(section, list(SECTIONS))}; "
                f"the sections are {', '.join(f'[{s}]' for s in SECTIONS)}"
            )
        for key, value in table.items():
            setting = known.get(key)
            if setting is None:
                raise ConfigError(
                    f"{path}: [{section}] {key}: unknown key{_hint(key, list(known))}; "
                    f"[{section}] takes {', '.join(known)}"
                )
            try:
                values[setting.field] = setting.check(value)
            except ValueError as e:
                raise ConfigError(f"{path}: [{section}] {key}: {e}") from None
    config = Config(source=path, **values)  # type: ignore[arg-type]
    problem = check(config)
    if problem:
        raise ConfigError(f"{path}: {problem}")
    return config


def check(config: Config) -> str | None:
    """What is wrong with the settings taken together (after options override the
    file), or None."""
    if config.proxy_all and not config.proxy:
        return "[network] proxy_all: true needs [network] proxy (the SOCKS5 proxy to use)"
    if not config.proxy:
        for url in config.peers:
            if is_onion(urlsplit(url).hostname or ""):
                return (
                    f"[peers] urls: {url} is an onion service: set [network] proxy to Tor's "
                    "SOCKS port (socks5://127.0.0.1:9050) to reach it"
                )
    return None


#: where the sync server listens when nothing says: this machine only
LOOPBACK = f"127.0.0.1:{SYNC_PORT}"


def listen_address(config: Config) -> tuple[str, str]:
    """Where the sync server listens, and why when ``listen`` is not set (else ""):

    - ``listen`` set: there;
    - else an address advertised: at its port, on every interface (0.0.0.0) for an
      address other machines reach, on loopback for an onion service (Tor forwards to
      it) or a loopback address;
    - else 127.0.0.1:8470: a node that only dials out is reachable from nowhere.
    """
    if config.listen is not None:
        return config.listen, ""
    if not config.advertise:
        return LOOPBACK, "this machine only; --listen HOST:PORT or --advertise URL to be reached"
    url = config.advertise[0]
    parts = urlsplit(url)
    host = (parts.hostname or "").lower().rstrip(".")
    port = parts.port or SYNC_PORT
    if is_onion(host):
        return f"127.0.0.1:{port}", f"this machine only, where Tor forwards {url} to"
    if host in ("localhost", "::1") or host.startswith("127."):
        shown = "[::1]" if host == "::1" else "127.0.0.1" if host == "localhost" else host
        return f"{shown}:{port}", f"this machine only, as {url} is advertised"
    return (
        f"0.0.0.0:{port}",
        f"every interface, at the port of {url}; --listen HOST:PORT to choose",
    )


def find(home: Path, given: Path | None) -> Config:
    """The settings ``serve`` runs with: from ``given``, else ``NODE_HOME/node.toml``
    when it exists, else the defaults."""
    if given is not None:
        return load(given)
    path = default_path(home)
    if path.exists():
        return load(path)
    return Config()


def from_environment(home: Path) -> Config:
    """For commands without ``--config``: ``$COMMUNE_CONFIG``, else the node folder's."""
    env = os.environ.get("COMMUNE_CONFIG")
    return find(home, Path(env) if env else None)


def is_onion(host: str) -> bool:
    return host.lower().rstrip(".").endswith(".onion")
