"""Errors of the node layer; the rest of the tree is in protocol/errors.py.

::

    CommuneError
    ├── StoreError          the store cannot be read or written (sqlite3 errors, translated)
    │   └── StoreCorrupt    the store's file is damaged
    ├── ConfigError         the node folder or its settings are missing or wrong
    │   └── NotInitialised  no node in this folder yet
    └── FeedBehind          a peer holds more of this node's own feed than its store
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


class FeedBehind(CommuneError):
    """Appending now would fork this node's own feed (docs/PROTOCOL.md §10.5)."""

    code = "feed-behind"
