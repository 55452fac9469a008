"""Errors of the node layer; the rest of the tree is in protocol/errors.py.

::

    CommuneError
    ├── StoreError          the store cannot be read or written (sqlite3 errors, translated)
    │   └── StoreCorrupt    the store's file is damaged
    ├── ConfigError         the node folder or its settings are missing or wrong
    │   ├── NotInitialised  no node in this folder yet
    │   └── NodeLocked      the node's files were asked for before its keys were opened
    ├── FeedBehind          writing now could fork this node's own feed (§10.5)
    ├── OverBudget          a post would go over the network's daily budget
    ├── BadBackup           a backup file is damaged, altered or not a backup
    │   └── UnsignedBackup  a backup of the first version, with no signature
    ├── WeakPassphrase      a new passphrase below the minimum (node/strength.py)
    ├── MembershipError     a membership command that cannot be done (not a member, …)
    ├── NotAdmin            an admin's command from a node that is not one
    ├── CannotAddress       a private event cannot be sealed to the members named
    ├── BadPeerAddress      a peer's address is not https://HOST:PORT
    ├── BadImportFile       a --from file that cannot be read as CSV or JSON lines
    ├── ServeRunning        a second ``serve`` on a folder where one runs
    ├── PublicBind          the web view asked to listen where others reach it
    └── PeerRefused         a peer broke the protocol or refused this node (node/sync)
        └── PeerBusy        a peer asked to come back later (429)

Every error class of the node layer is defined here (tests/test_layers.py keeps it so).
"""

from __future__ import annotations

from crypto.errors import CommuneError


class StoreError(CommuneError):
    code = "store"


class StoreCorrupt(StoreError):
    code = "store-corrupt"


class ConfigError(CommuneError):
    code = "config"


class NotInitialised(ConfigError):
    code = "not-initialised"


class NodeLocked(ConfigError):
    """The node's files are encrypted under its store key, and its key file has not been
    opened in this process (node/home.py ``Home.unlock``)."""

    code = "node-locked"


class OverBudget(CommuneError):
    """Writing this would put the node over the network's daily budget (§4.6)."""

    code = "over-budget"


class FeedBehind(CommuneError):
    """Appending now would fork this node's own feed (docs/PROTOCOL.md §10.5)."""

    code = "feed-behind"


class CannotAddress(CommuneError):
    code = "cannot-address"


class BadBackup(CommuneError):
    code = "bad-backup"


class UnsignedBackup(BadBackup):
    """A backup of the first version, which carries no signature."""


class WeakPassphrase(CommuneError):
    """A new passphrase (init, passwd, restore) is too easy to guess; the message says
    why and what a good one looks like."""

    code = "weak-passphrase"


class PublicBind(CommuneError):
    """The web view was asked to listen where other machines can reach it."""

    code = "web-public-bind"


class BadPeerAddress(CommuneError):
    code = "bad-address"


class BadImportFile(CommuneError):
    code = "bad-import-file"


class NotAdmin(CommuneError):
    code = "not-admin"


class MembershipError(CommuneError):
    code = "membership"


class ServeRunning(CommuneError):
    """Another ``serve`` runs on this node folder."""

    code = "serve-running"


class PeerRefused(CommuneError):
    """The peer broke the protocol or refused us, or could not be reached; it is backed
    off. ``cause`` says why in a word of node/failures.py (``said``: the message says
    it in words already)."""

    code = "peer-refused"

    def __init__(self, message: str, cause: str = "said") -> None:
        super().__init__(message)
        self.cause = cause


class PeerBusy(PeerRefused):
    """The peer asked us to come back later (429 with Retry-After): not a failure, and
    not backed off; the next round waits that long."""

    code = "peer-busy"

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after
