"""The ``ssl`` contexts of mutual TLS 1.3 between members (docs/PROTOCOL.md §10.1),
from the certificates of ``crypto/tls.py``: TLS 1.3 only, and trust in exactly the
given (pinned) certificates.

The client always shows its certificate and checks the server's. The server asks for
the client's and refuses a handshake with any certificate it has not pinned; a client
that shows none completes the handshake, and may then only introduce itself (§10.7):
the sync server reads nothing else from it and closes the connection. (Python's ``ssl``
has no per-connection verification callback, so a node not yet pinned proves its
admission at that one route, checked by the membership rules.)

The certificate is not shown to whoever connects: a client names the network in its
TLS server name (SNI, ``crypto.tls.server_name``), whatever host it dials, and the
server fails any handshake with another name, or none, with the alert
``unrecognized_name`` before it sends its certificate. So someone who finds a node's
address and does not know the network id learns no node id (docs/PROTOCOL.md §10.1).
A client of a version before this sends the host of the URL, or no name when it is an
IP address, and is refused: a newer node dials the older one instead (CHANGELOG)."""

from __future__ import annotations

import os
import secrets
import socket
import ssl
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path

from cryptography import x509

from crypto import tls
from crypto.sign import SigningKey


class _NamedContext(ssl.SSLContext):
    """A client context that sends ``server_name`` as the TLS server name of every
    connection it makes, whatever host name the caller passes (aiohttp passes the URL's
    host, the SOCKS5 connector the proxied host): one place for every way of dialling."""

    server_name: str = ""

    def wrap_bio(
        self,
        incoming: ssl.MemoryBIO,
        outgoing: ssl.MemoryBIO,
        server_side: bool = False,
        server_hostname: str | bytes | None = None,
        session: ssl.SSLSession | None = None,
    ) -> ssl.SSLObject:
        name = server_hostname if server_side else self.server_name
        return super().wrap_bio(incoming, outgoing, server_side, name, session)

    def wrap_socket(  # noqa: PLR0917 - the signature of ssl.SSLContext.wrap_socket
        self,
        sock: socket.socket,
        server_side: bool = False,
        do_handshake_on_connect: bool = True,
        suppress_ragged_eofs: bool = True,
        server_hostname: str | bytes | None = None,
        session: ssl.SSLSession | None = None,
    ) -> ssl.SSLSocket:
        name = server_hostname if server_side else self.server_name
        return super().wrap_socket(
            sock, server_side, do_handshake_on_connect, suppress_ragged_eofs, name, session
        )


class _AlertingObject(ssl.SSLObject):
    """A server's TLS connection over memory buffers (asyncio's) that sends its alert
    before it fails. asyncio closes a connection whose handshake failed without sending
    what OpenSSL wrote for the peer; so the first time a handshake refused by the
    server name fails, it reports "want read" instead, which has asyncio send the
    alert and wait, and the next time (the client closes, or sends more) the failure
    itself. The handshake deadline bounds the wait."""

    refused = False
    told = False

    def do_handshake(self) -> None:
        try:
            super().do_handshake()
        except ssl.SSLError as e:
            if isinstance(e, ssl.SSLWantReadError | ssl.SSLWantWriteError):
                raise
            if self.refused and not self.told:
                self.told = True
                raise ssl.SSLWantReadError("the alert goes out first") from None
            raise


def _context(
    server: bool, key: SigningKey | None, trusted: Iterable[x509.Certificate], server_name: str
) -> ssl.SSLContext:
    if server:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.sslobject_class = _AlertingObject
    else:
        ctx = _NamedContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.server_name = server_name
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    ctx.maximum_version = ssl.TLSVersion.TLSv1_3
    ctx.check_hostname = False  # the peer is named by its pinned key, not by a host name
    ctx.verify_mode = ssl.CERT_OPTIONAL if server else ssl.CERT_REQUIRED
    ctx.verify_flags = (ctx.verify_flags | ssl.VERIFY_X509_PARTIAL_CHAIN) & ~getattr(
        ssl, "VERIFY_X509_STRICT", 0
    )
    pems = tls.pem_bundle(trusted)
    if pems:
        ctx.load_verify_locations(cadata=pems)
    if key is not None:
        _load_own(ctx, key)
    return ctx


def _load_own(ctx: ssl.SSLContext, key: SigningKey) -> None:
    """``ssl`` loads a private key only from a file: write it encrypted under a one-time
    password to a private temporary file, load it, delete it. No plaintext key touches
    the disk."""
    password = secrets.token_bytes(32)
    data = tls.encrypted_private_pem(key, password)
    with tempfile.TemporaryDirectory(prefix="commune-tls-") as tmp:
        path = Path(tmp) / "own.pem"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        ctx.load_cert_chain(path, password=password)


def server_context(
    key: SigningKey,
    trusted: Iterable[x509.Certificate],
    server_name: str,
    on_hello: Callable[[ssl.SSLObject], None] | None = None,
) -> ssl.SSLContext:
    """The server's context: it goes on with a handshake whose TLS server name is
    ``server_name`` (after ``on_hello``, which may give the connection another
    context), and fails any other with the alert ``unrecognized_name``, before its
    certificate is sent."""
    ctx = _context(True, key, trusted, server_name)

    def hello(sslobj: ssl.SSLObject, name: str | None, _ctx: ssl.SSLContext) -> int | None:
        if name != server_name:
            if isinstance(sslobj, _AlertingObject):
                sslobj.refused = True
            return ssl.ALERT_DESCRIPTION_UNRECOGNIZED_NAME
        if on_hello is not None:
            on_hello(sslobj)
        return None

    ctx.sni_callback = hello
    return ctx


def client_context(
    key: SigningKey, trusted: Iterable[x509.Certificate], server_name: str
) -> ssl.SSLContext:
    """The client's context: it shows this node's certificate, checks the server's
    against the pinned ones, and names the network (``server_name``) in every
    handshake."""
    return _context(False, key, trusted, server_name)


def introduction_context(trusted: Iterable[x509.Certificate], server_name: str) -> ssl.SSLContext:
    """A client context that shows no certificate (this node is not pinned by the server
    yet) and checks the server's against the pinned ones, for an introduction (§10.7):
    a node sends its proof of admission only to a member it knows."""
    return _context(False, None, trusted, server_name)
