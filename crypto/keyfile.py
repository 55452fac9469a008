"""Secrets at rest under a passphrase: Argon2id, then ChaCha20-Poly1305.

The file is a small JSON document, so a person can see what it is without a tool::

    {"commune_keyfile": 1, "kdf": "argon2id", "memory_kib": 65536, "iterations": 3,
     "lanes": 1, "salt": "<b64>", "aead": "chacha20-poly1305", "nonce": "<b64>",
     "ciphertext": "<b64>"}

Every field but ``ciphertext`` is authenticated as associated data, so weakening the
parameters in the file only makes it fail to open. ``kdf: "none"`` stores the secret in
the clear, for demos and tests (``init --insecure-no-passphrase``); the node warns about
it on every start. Bytes in, bytes out: reading and writing the file, and its mode, are
the node layer's business.
"""

from __future__ import annotations

import base64
import json
import os
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.argon2 import Argon2id

from crypto.errors import KeyfileError, WrongPassphrase

FORMAT = 1
# RFC 9106 §4, second recommended option (64 MiB, 3 passes), but one lane: a Raspberry
# Pi opens it in well under a second and an attacker's guess costs as much memory.
ARGON2_MEMORY_KIB = 64 * 1024
ARGON2_ITERATIONS = 3
ARGON2_LANES = 1
# Refuse parameters that would make opening a tampered file exhaust memory or time.
_MAX_MEMORY_KIB = 1024 * 1024
_MAX_ITERATIONS = 64
_MAX_LANES = 16


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: object, field: str) -> bytes:
    if not isinstance(text, str):
        raise KeyfileError(f"the key file's {field!r} field is missing or not text")
    try:
        return base64.b64decode(text, validate=True)
    except ValueError as e:
        raise KeyfileError(f"the key file's {field!r} field is not base64") from e


def _derive(passphrase: bytes, salt: bytes, memory_kib: int, iterations: int, lanes: int) -> bytes:
    kdf = Argon2id(salt=salt, length=32, iterations=iterations, lanes=lanes, memory_cost=memory_kib)
    return kdf.derive(passphrase)


def _associated_data(header: dict[str, Any]) -> bytes:
    return json.dumps(header, sort_keys=True, separators=(",", ":")).encode()


def lock(secret: bytes, passphrase: bytes | None) -> bytes:
    """The key file's bytes for ``secret``; in the clear when ``passphrase`` is None."""
    if passphrase is None:
        doc: dict[str, Any] = {"commune_keyfile": FORMAT, "kdf": "none", "secret": _b64(secret)}
        return (json.dumps(doc, indent=1, sort_keys=True) + "\n").encode()
    if not passphrase:
        raise KeyfileError("the passphrase is empty")
    salt = os.urandom(16)
    nonce = os.urandom(12)
    header: dict[str, Any] = {
        "commune_keyfile": FORMAT,
        "kdf": "argon2id",
        "memory_kib": ARGON2_MEMORY_KIB,
        "iterations": ARGON2_ITERATIONS,
        "lanes": ARGON2_LANES,
        "salt": _b64(salt),
        "aead": "chacha20-poly1305",
        "nonce": _b64(nonce),
    }
    key = _derive(passphrase, salt, ARGON2_MEMORY_KIB, ARGON2_ITERATIONS, ARGON2_LANES)
    ciphertext = ChaCha20Poly1305(key).encrypt(nonce, secret, _associated_data(header))
    doc = dict(header, ciphertext=_b64(ciphertext))
    return (json.dumps(doc, indent=1, sort_keys=True) + "\n").encode()


def is_encrypted(data: bytes) -> bool:
    """Whether the key file needs a passphrase to open."""
    return _parse(data).get("kdf") != "none"


def _parse(data: bytes) -> dict[str, Any]:
    try:
        doc = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise KeyfileError("the key file is damaged: it is not the JSON Commune writes") from e
    if not isinstance(doc, dict) or doc.get("commune_keyfile") != FORMAT:
        raise KeyfileError("this is not a Commune key file of a version this program reads")
    return doc


def _bounded_int(doc: dict[str, Any], field: str, low: int, high: int) -> int:
    value = doc.get(field)
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise KeyfileError(f"the key file's {field!r} is missing or out of range")
    return value


def unlock(data: bytes, passphrase: bytes | None) -> bytes:
    """The secret in a key file. Raises :class:`WrongPassphrase` when it does not open."""
    doc = _parse(data)
    kdf = doc.get("kdf")
    if kdf == "none":
        return _unb64(doc.get("secret"), "secret")
    if kdf != "argon2id" or doc.get("aead") != "chacha20-poly1305":
        raise KeyfileError(f"the key file uses an unknown method {kdf!r}")
    if passphrase is None:
        raise WrongPassphrase("the key file is locked and no passphrase was given")
    memory = _bounded_int(doc, "memory_kib", 8, _MAX_MEMORY_KIB)
    iterations = _bounded_int(doc, "iterations", 1, _MAX_ITERATIONS)
    lanes = _bounded_int(doc, "lanes", 1, _MAX_LANES)
    salt = _unb64(doc.get("salt"), "salt")
    nonce = _unb64(doc.get("nonce"), "nonce")
    ciphertext = _unb64(doc.get("ciphertext"), "ciphertext")
    if len(nonce) != 12 or len(salt) < 16:
        raise KeyfileError("the key file's salt or nonce has the wrong size")
    header = {k: v for k, v in doc.items() if k != "ciphertext"}
    key = _derive(passphrase, salt, memory, iterations, lanes)
    try:
        return ChaCha20Poly1305(key).decrypt(nonce, ciphertext, _associated_data(header))
    except InvalidTag as e:
        raise WrongPassphrase(
            "the passphrase does not open the key file (or the file was altered)"
        ) from e
