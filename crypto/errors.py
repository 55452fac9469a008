"""The root of every error Commune raises, and the errors of the crypto layer.

``crypto/`` is the lowest layer, so the common root lives here and the layers above
re-export it::

    CommuneError                 every refusal; has a stable ``code`` and a message
    ├── CryptoError              a key or signature is unusable
    │   ├── BadPublicKey         a public key is malformed, off-curve or of small order
    │   ├── UnknownSuite         a sealing suite this code does not know
    │   └── BoxFailed            a sealed box does not open (altered, or another key)
    ├── BadCertificate           a TLS certificate cannot be rebuilt from its signature
    └── KeyfileError             the key file cannot be read, written or decrypted
        ├── WrongPassphrase      the passphrase does not open the key file
        └── UnsafeKeyfile        the key file is readable by other users

The other branches are in ``protocol/errors.py`` and ``node/errors.py``: every error
class of a layer is defined in its ``errors.py`` (tests/test_layers.py keeps it so).
"""

from __future__ import annotations


class CommuneError(Exception):
    """Every error Commune raises on purpose. ``code`` is short and stable: logs,
    metrics and sync summaries count refusals by it."""

    code = "error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class CryptoError(CommuneError):
    code = "crypto"


class BadPublicKey(CryptoError):
    code = "bad-public-key"


class KeyfileError(CommuneError):
    code = "keyfile"


class WrongPassphrase(KeyfileError):
    code = "wrong-passphrase"


class UnsafeKeyfile(KeyfileError):
    code = "unsafe-keyfile"


class BadCertificate(CommuneError):
    code = "bad-certificate"


class UnknownSuite(CryptoError):
    code = "unknown-suite"


class BoxFailed(CryptoError):
    """The box does not open: wrong key, wrong nonce, wrong associated data, or altered."""

    code = "box-failed"
