"""The ``ssl`` contexts of mutual TLS 1.3 between members (docs/PROTOCOL.md §10.1),
from the certificates of ``crypto/tls.py``: TLS 1.3 only, and trust in exactly the
given (pinned) certificates.

The client always shows its certificate and checks the server's. The server asks for
the client's and refuses a handshake with any certificate it has not pinned; a client
that shows none completes the handshake, and may then only introduce itself (§10.7):
the sync server reads nothing else from it and closes the connection. (Python's ``ssl``
has no per-connection verification callback, so a node not yet pinned proves its
admission at that one route, checked by the membership rules.)"""

from __future__ import annotations

import os
import secrets
import ssl
import tempfile
from collections.abc import Iterable
from pathlib import Path

from cryptography import x509

from crypto import tls
from crypto.sign import SigningKey


def _context(
    server: bool, key: SigningKey | None, trusted: Iterable[x509.Certificate]
) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER if server else ssl.PROTOCOL_TLS_CLIENT)
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


def server_context(key: SigningKey, trusted: Iterable[x509.Certificate]) -> ssl.SSLContext:
    return _context(True, key, trusted)


def client_context(key: SigningKey, trusted: Iterable[x509.Certificate]) -> ssl.SSLContext:
    return _context(False, key, trusted)


def introduction_context(trusted: Iterable[x509.Certificate]) -> ssl.SSLContext:
    """A client context that shows no certificate (this node is not pinned by the server
    yet) and checks the server's against the pinned ones, for an introduction (§10.7):
    a node sends its proof of admission only to a member it knows."""
    return _context(False, None, trusted)
