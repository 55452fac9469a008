"""Certificates for mutual TLS 1.3 between members (docs/PROTOCOL.md §10.1); the
``ssl`` contexts that use them are made in ``node/transport.py``.

Each node's certificate is self-signed by its Ed25519 node key and made
deterministically from it: every field is fixed by the node id, and Ed25519 signatures
are deterministic. So another node rebuilds the certificate from the node id and the
64-byte certificate signature (carried in the node's card), and pins exactly the
certificates of the current members: a stranger's or a revoked node's handshake fails
before any request is read.

The peer's node id is read from its verified certificate, never from anything it says.

A server shows its certificate only to a client that names the network in its TLS
server name (SNI): :func:`server_name`, derived from the network id, so that a
stranger who finds the address learns no node id (docs/PROTOCOL.md §10.1).
"""

from __future__ import annotations

import datetime
import hashlib
from collections.abc import Iterable
from typing import TYPE_CHECKING

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from crypto.errors import BadCertificate
from crypto.sign import SigningKey, check_public_key

if TYPE_CHECKING:
    from cryptography import x509

_NOT_BEFORE = datetime.datetime(2000, 1, 1, tzinfo=datetime.UTC)
_NOT_AFTER = datetime.datetime(9999, 12, 31, 23, 59, 59, tzinfo=datetime.UTC)
#: DER of AlgorithmIdentifier { id-Ed25519 } (RFC 8410 §3)
_ED25519_ALGORITHM = bytes.fromhex("300506032b6570")
#: A throwaway key: the to-be-signed part of a certificate does not depend on the
#: signing key for Ed25519 (the algorithm identifier has no parameters).
_PLACEHOLDER = Ed25519PrivateKey.from_private_bytes(bytes(32))
#: HKDF info of the TLS server name that members send (docs/PROTOCOL.md §1, §10.1).
TLS_SERVER_NAME = b"commune/v1/tls-server-name\x00"
#: The reserved top-level name (RFC 6761 §6.4) under which the server name sits: no
#: resolver answers for it, and no public certificate names it.
SERVER_NAME_SUFFIX = ".invalid"


def _builder(node_id: bytes) -> x509.CertificateBuilder:
    # cryptography's X.509 takes longer to import than a command without certificates
    # takes to run (`commune --help`): imported when a certificate is first made
    from cryptography import x509  # noqa: PLC0415
    from cryptography.x509.oid import NameOID  # noqa: PLC0415

    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, node_id.hex())])
    serial = int.from_bytes(hashlib.sha256(b"commune/v1/tls-serial\0" + node_id).digest()[:16])
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(Ed25519PublicKey.from_public_bytes(node_id))
        .serial_number(serial >> 1 or 1)
        .not_valid_before(_NOT_BEFORE)
        .not_valid_after(_NOT_AFTER)
        # Not a CA: a member's key must not be able to vouch for any other key.
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
    )


def server_name(network: bytes) -> str:
    """The TLS server name (SNI) a member sends to a member of ``network``, and the only
    one such a server answers with its certificate: 32 hex digits of HKDF-SHA256 (RFC
    5869; no salt, info ``TLS_SERVER_NAME``) over the network id, under ``.invalid``."""
    if len(network) != 32:
        raise BadCertificate("a network id has 32 bytes")
    label = HKDF(algorithm=hashes.SHA256(), length=16, salt=None, info=TLS_SERVER_NAME)
    return label.derive(network).hex() + SERVER_NAME_SUFFIX


def certificate(key: SigningKey) -> x509.Certificate:
    """This node's certificate."""
    return _builder(key.public).sign(key.private_key(), None)


def certificate_signature(key: SigningKey) -> bytes:
    """The 64 bytes another node needs, with the node id, to rebuild the certificate."""
    return certificate(key).signature


def _der_length(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    size = (n.bit_length() + 7) // 8
    return bytes([0x80 | size]) + n.to_bytes(size)


def rebuild_certificate(node_id: bytes, signature: bytes) -> x509.Certificate:
    """A member's certificate from its node id and certificate signature; checked."""
    check_public_key(node_id)
    if len(signature) != 64:
        raise BadCertificate("a certificate signature has 64 bytes")
    tbs = _builder(node_id).sign(_PLACEHOLDER, None).tbs_certificate_bytes
    bits = b"\x03" + _der_length(len(signature) + 1) + b"\x00" + signature
    body = tbs + _ED25519_ALGORITHM + bits
    from cryptography import x509  # noqa: PLC0415 - loaded by _builder just above

    cert = x509.load_der_x509_certificate(b"\x30" + _der_length(len(body)) + body)
    try:
        Ed25519PublicKey.from_public_bytes(node_id).verify(
            cert.signature, cert.tbs_certificate_bytes
        )
    except InvalidSignature:
        raise BadCertificate("the certificate signature does not verify for this node") from None
    return cert


def node_id_of(der: bytes | None) -> bytes:
    """The node id in a peer's (already verified) certificate."""
    if der is None:
        raise BadCertificate("the peer presented no certificate")
    from cryptography import x509  # noqa: PLC0415 - see _builder

    key = x509.load_der_x509_certificate(der).public_key()
    if not isinstance(key, Ed25519PublicKey):
        raise BadCertificate("the peer's certificate does not hold an Ed25519 key")
    return key.public_bytes_raw()


def encrypted_private_pem(key: SigningKey, password: bytes) -> bytes:
    """The node key as PKCS#8 PEM encrypted under ``password``, with the certificate
    before it: what ``ssl`` loads (it reads keys from files only)."""
    pem = key.private_key().private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(password),
    )
    return certificate(key).public_bytes(serialization.Encoding.PEM) + pem


def pem_bundle(certs: Iterable[x509.Certificate]) -> str:
    return "".join(c.public_bytes(serialization.Encoding.PEM).decode() for c in certs)
