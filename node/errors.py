"""Errors of the node layer; the rest of the tree is in protocol/errors.py.

::

    CommuneError
    ├── StoreError          the store cannot be read or written (sqlite3 errors, translated)
    │   └── StoreCorrupt    the store's file is damaged
    ├── ConfigError         the node folder or its settings are missing or wrong
    │   └── NotInitialised  no node in this folder yet
    ├── FeedBehind          writing now could fork this node's own feed (§10.5)
    └── OverBudget          a post would go over the network's daily budget
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


class OverBudget(CommuneError):
    """Writing this would put the node over the network's daily budget (§4.6)."""

    code = "over-budget"


class FeedBehind(CommuneError):
    """Appending now would fork this node's own feed (docs/PROTOCOL.md §10.5)."""

    code = "feed-behind"
