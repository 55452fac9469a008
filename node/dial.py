"""How this node dials its peers: directly, or through a SOCKS5 proxy such as Tor's.

- No proxy: every peer is dialled directly. A ``.onion`` peer is refused before any
  DNS query (a query for it would tell the resolver which onion service this node
  calls, and could not succeed anyway).
- A proxy, ``proxy_all`` false (the default): ``.onion`` peers go through the proxy,
  which resolves their names (remote DNS); every other peer is dialled directly.
- A proxy, ``proxy_all`` true: every peer goes through the proxy, names resolved by
  it, so the network near this node sees only a connection to the proxy (Tor).

Mutual TLS is the same on every path: the TLS session runs end to end inside the
proxied connection, pinned to the members' certificates.
"""

from __future__ import annotations

import asyncio
import errno
import socket
import ssl
from typing import Any

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.client_proto import ResponseHandler
from aiohttp.resolver import ThreadedResolver
from aiohttp_socks import (
    ProxyConnectionError,
    ProxyConnector,
    ProxyError,
    ProxyTimeoutError,
)

from node.config import is_onion

NEEDS_PROXY = (
    "an onion service (.onion) is reached through Tor only: set [network] proxy in the "
    "node's settings (or --proxy) to Tor's SOCKS port, socks5://127.0.0.1:9050"
)


class _Resolver(AbstractResolver):
    """Local DNS for ordinary names; none at all for ``.onion`` ones, which the proxy
    resolves (``proxied``) or which are refused."""

    def __init__(self, proxied: bool) -> None:
        self._proxied = proxied
        self._dns: AbstractResolver | None = None

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        if is_onion(host):
            if not self._proxied:
                raise OSError(errno.EHOSTUNREACH, NEEDS_PROXY)
            return [
                ResolveResult(hostname=host, host=host, port=port, family=family, proto=0, flags=0)
            ]
        if self._dns is None:
            self._dns = ThreadedResolver()  # holds nothing to close
        return await self._dns.resolve(host, port, family)

    async def close(self) -> None:
        if self._dns is not None:
            await self._dns.close()


class ProxyFailed(aiohttp.ClientConnectionError):
    """The proxy could not reach the peer, or could not be reached (a client error like
    any other failed connection: the peer is retried later)."""


class _ProxyConnector(ProxyConnector):
    """Through the proxy for every peer, or (``onion_only``) for ``.onion`` peers only,
    the others dialled directly."""

    def __init__(self, *, onion_only: bool, **kwargs: Any) -> None:
        super().__init__(rdns=True, **kwargs)
        self._onion_only = onion_only
        self._where = f"{kwargs['host']}:{kwargs['port']}"  # never the user name or password
        if onion_only:  # aiohttp-socks resolves nothing locally; direct peers need DNS
            self._resolver = _Resolver(proxied=True)
            self._resolver_owner = True

    async def _wrap_create_connection(
        self, *args: Any, addr_infos: list[Any], **kwargs: Any
    ) -> tuple[asyncio.Transport, ResponseHandler]:
        if self._onion_only and not is_onion(str(addr_infos[0][4][0])):
            return await aiohttp.TCPConnector._wrap_create_connection(
                self, *args, addr_infos=addr_infos, **kwargs
            )
        try:
            return await super()._wrap_create_connection(*args, addr_infos=addr_infos, **kwargs)
        except (ProxyError, ProxyConnectionError, ProxyTimeoutError) as e:
            raise ProxyFailed(f"through the SOCKS5 proxy at {self._where}: {e}") from None


def connector(
    context: ssl.SSLContext,
    *,
    proxy: str | None = None,
    proxy_all: bool = False,
    limit_per_host: int = 2,
    keepalive_timeout: float = 15.0,
) -> aiohttp.TCPConnector:
    """The connector of a client session that dials peers as the module says."""
    if proxy is None:
        return aiohttp.TCPConnector(
            ssl=context,
            limit_per_host=limit_per_host,
            resolver=_Resolver(proxied=False),
            keepalive_timeout=keepalive_timeout,
        )
    return _ProxyConnector.from_url(
        proxy,
        onion_only=not proxy_all,
        ssl=context,
        limit_per_host=limit_per_host,
        keepalive_timeout=keepalive_timeout,
    )
