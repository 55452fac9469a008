"""The sans-I/O core: events, their encoding and validation, membership, projections
and sync, as pure functions. Nothing here opens a file or a socket or reads a clock."""

#: The package's public names: its modules (importing one costs only that module;
#: nothing is imported here). tests/test_layers.py keeps the list complete and sorted.
__all__ = [
    "admission",
    "armor",
    "bundle",
    "calendar",
    "card",
    "chain",
    "encoding",
    "envelope",
    "errors",
    "frames",
    "frontier",
    "hlc",
    "holdings",
    "invite",
    "kinds",
    "membership",
    "placement",
    "projections",
    "sealed",
    "sealedbundle",
    "session",
    "signed",
    "states",
    "sync",
    "validate",
]
